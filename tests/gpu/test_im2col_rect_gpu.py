"""im2col with a rectangular window on the GPU (tests/gpu/im2col_rect/im2col_rect.tlspec.yaml,
compiled into build/tlspec_im2col_rect): kernel, stride, dilation and pad per axis ([h, w]),
every output compared bit-exactly with torch's F.unfold (kernel_size, stride, dilation and
padding as (h, w) tuples) on the NCHW-permuted image, reordered to tlspec's (kh, kw, c) columns;
random non-zero inputs (int8: random bits), outputs poisoned and guarded, image sizes whose
N*OH*OW is not a multiple of the tile (ragged last rows):

- 3x5, stride [2, 1], dilation [1, 2], pad [1, 2], float16, tiles written straight to the global
  column matrix (its partial last row and column tiles cut at its edges);
- 5x3, stride [1, 2], dilation [2, 1], pad [3, 0], int8, through shared memory into a wider
  output (zeros past the last pixel and the last tap);
- 2x4, stride [3, 2], dilation [2, 1], pad [0, 1], int8 of 3 channels (one per access);
- 1x3, pad [0, 1] with a -inf fill, float16 (F.pad with -inf along W only, then F.unfold).

Imports only the compiled package, torch and pytest (TLSPEC_IM2COL_RECT: the package directory).
"""
import pytest
from gpu_support import F, assert_guards, assert_same, compiled_package, guarded, \
    im2col_reference, random, torch

kernels = compiled_package("TLSPEC_IM2COL_RECT", "tlspec_im2col_rect", "tests/gpu/im2col_rect")
SIZES = [(1, 5, 5), (2, 7, 9), (1, 9, 12), (3, 11, 6), (2, 16, 20), (1, 33, 17)]


def ceildiv(a, b):
    return -(-a // b)


def run(name, img, out, want):
    getattr(kernels, name)(img, out)
    torch.cuda.synchronize()
    assert_same(out, want, "col")
    assert_guards(out, "col")


@pytest.mark.parametrize("n, h, w", SIZES)
def test_a_3x5_window_straight_to_global(n, h, w):
    img = random((n, h, w, 8), torch.float16)
    col = guarded((n * ((h - 1) // 2 + 1) * (w - 4), 120), torch.float16)
    run("im2col_rect_f16", img, col, im2col_reference(img, (3, 5), (2, 1), (1, 2), (1, 2)))


@pytest.mark.parametrize("n, h, w", SIZES)
def test_a_5x3_window_through_shared_memory(n, h, w):
    img = random((n, h, w, 16), torch.int8)
    rows = n * (h - 2) * ((w - 3) // 2 + 1)
    out = guarded((ceildiv(rows, 64) * 64, 256), torch.int8)
    cols = im2col_reference(img, (5, 3), (1, 2), (2, 1), (3, 0))
    run("im2col_rect_i8", img, out, F.pad(cols, (0, 256 - 240, 0, out.shape[0] - rows)))


@pytest.mark.parametrize("n, h, w", SIZES)
def test_a_2x4_window_over_three_channels(n, h, w):
    img = random((n, h, w, 3), torch.int8)
    col = guarded((n * ((h - 3) // 3 + 1) * ((w - 2) // 2 + 1), 24), torch.int8)
    run("im2col_rect_odd_i8", img, col, im2col_reference(img, (2, 4), (3, 2), (2, 1), (0, 1)))


@pytest.mark.parametrize("n, h, w", SIZES)
def test_a_row_window_pads_with_the_fill(n, h, w):
    img = random((n, h, w, 4), torch.float16)
    rows = n * h * w
    out = guarded((ceildiv(rows, 32) * 32, 32), torch.float16)
    cols = im2col_reference(F.pad(img, (0, 0, 1, 1), value=float("-inf")), (1, 3), 1, 1, 0)
    run("im2col_rect_fill_f16", img, out,
        F.pad(cols, (0, 32 - 12, 0, out.shape[0] - rows), value=float("-inf")))
