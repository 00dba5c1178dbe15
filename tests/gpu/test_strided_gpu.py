"""Strided regions on the GPU (tests/gpu/strided/strided.tlspec.yaml, compiled into
build/tlspec_strided): every output compared bit-exactly with torch's own strided slicing
(`a[:, ::2]`, `a[::2, ::2]`), random non-zero inputs, outputs poisoned and guarded, ragged shapes:

- de-interleave: the even and odd columns of a matrix (loads with a step on the contiguous axis,
  one element per access) in float16, bfloat16, float32 and int8;
- interleave: the same, back (strided stores; nothing past the end is written);
- every other row (a step on the outer axis, the rows moved whole);
- a 2 x 2 downsample through a register tile (steps on both axes);
- a strided halo: every other element of a window with one more each side, -99 outside (int8);
- global views with declared strides (tests/gpu/strided/pitched.tlspec.yaml): column slices of
  wider tensors (`big[:, :n]`) and `torch.as_strided` views passed without a copy, in and out
  (the padding between rows must stay as it was), by SIMT loops and by TMA (pitches multiples
  of 16 bytes), a batch of pitched matrices, a strided region of a pitched view, a view through
  __cuda_array_interface__, and the ValueError for strides other than the declared ones;
- im2col of NCHW images (tests/gpu/strided/unfold.tlspec.yaml, `layout: nchw`) against
  torch's F.unfold (transposed to one row per output pixel), rectangular kernel, stride,
  dilation and pad per axis.

Imports only the compiled package, torch and pytest (TLSPEC_STRIDED: the package directory).
"""
import pytest
from gpu_support import POISON, F, assert_guards, assert_same, bits, cases, compiled_package, \
    guarded, random, torch

kernels = compiled_package("TLSPEC_STRIDED", "tlspec_strided", "tests/gpu/strided")
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "i8": torch.int8}
SHAPES = cases((1, 2), (3, 129), (16, 128), (17, 255), (40, 1000), (65, 4097))


def ceildiv(a, b):
    return -(-a // b)


def check(out, want, what):
    assert_same(out, want, what)
    assert_guards(out, what)


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("m, n", SHAPES)
def test_deinterleave_reads_even_and_odd_columns(tag, m, n):
    dtype = DTYPES[tag]
    a = random((m, n), dtype)
    e, o = guarded((m, ceildiv(n, 2)), dtype), guarded((m, n // 2), dtype)
    getattr(kernels, f"deinterleave_{tag}")(a, e, o)
    torch.cuda.synchronize()
    check(e, a[:, ::2].contiguous(), "E")
    check(o, a[:, 1::2].contiguous(), "O")


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("m, n", SHAPES)
def test_interleave_writes_every_other_column(tag, m, n):
    dtype = DTYPES[tag]
    e, o = random((m, ceildiv(n, 2)), dtype), random((m, n // 2), dtype)
    a = guarded((m, n), dtype)
    getattr(kernels, f"interleave_{tag}")(e, o, a)
    torch.cuda.synchronize()
    want = torch.empty((m, n), dtype=dtype, device=a.device)
    want[:, ::2], want[:, 1::2] = e, o
    check(a, want, "A")


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("m, n", SHAPES)
def test_every_other_row(tag, m, n):
    dtype = DTYPES[tag]
    a, b = random((m, n), dtype), guarded((ceildiv(m, 2), n), dtype)
    getattr(kernels, f"every_other_row_{tag}")(a, b)
    torch.cuda.synchronize()
    check(b, a[::2].contiguous(), "B")


def test_downsample_2x2_through_registers():
    a, b = random((1000, 999)), guarded((500, 500))
    kernels.downsample_2x2_f16(a, b)
    torch.cuda.synchronize()
    check(b, a[::2, ::2].contiguous(), "B")


@pytest.mark.parametrize("m, n", cases((1, 1), (2, 100), (3, 128), (5, 1001), (7, 4097)))
def test_a_strided_halo_reads_the_fill_outside(m, n):
    t = ceildiv(n, 128)
    a, b = random((m, n), torch.int8), guarded((m, t, 66), torch.int8)
    kernels.strided_halo_i8(a, b)
    torch.cuda.synchronize()
    ref = F.pad(a.int(), (2, t * 128 + 2 - n), value=-99).to(torch.int8)   # element k at k + 2
    want = torch.stack([ref[:, j * 128: j * 128 + 132: 2] for j in range(t)], dim=1)
    check(b, want.contiguous(), "B")


def wide(m, n, pad, dtype):
    """A random (m, n + pad) tensor and its first n columns: a view with rows n + pad apart."""
    big = random((m, n + pad), dtype)
    return big, big[:, :n]


def poisoned_wide(m, n, pad, dtype):
    """A poisoned (m, n + pad) tensor inside guards, and its first n columns."""
    big = guarded((m, n + pad), dtype)
    return big, big[:, :n]


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("m, n, pad", [(1, 1, 15), (3, 64, 8), (33, 100, 28), (100, 1000, 24)])
def test_pitched_views_in_and_out_without_a_copy(tag, m, n, pad):
    dtype = DTYPES[tag]
    _, a = wide(m, n, pad, dtype)
    big_b, b = poisoned_wide(m, n, pad + 16, dtype)
    getattr(kernels, f"pitched_copy_{tag}")(a, b)
    torch.cuda.synchronize()
    assert_same(b, a, "B")
    padding = bits(big_b[:, n:])
    assert bool((padding == POISON[dtype]).all()), "B: the padding between rows was written"
    assert_guards(big_b, "B")


@pytest.mark.parametrize("m, n, ld, ldb", [(64, 64, 64, 128), (100, 200, 256, 208),
                                           (1000, 8, 16, 64)])
def test_pitched_views_by_tma(m, n, ld, ldb):
    a = torch.as_strided(random((m * ld,)), (m, n), (ld, 1))
    base = guarded((m * ldb,))
    b = torch.as_strided(base, (m, n), (ldb, 1))
    kernels.pitched_tma_f16(a, b)
    torch.cuda.synchronize()
    assert_same(b, a, "B")
    assert bool((bits(base.view(m, ldb)[:, n:]) == POISON[torch.float16]).all()), \
        "B: the padding between rows was written"
    assert_guards(base, "B")


@pytest.mark.parametrize("m, n, ld", [(7, 19, 20), (33, 7, 8), (5, 1, 4), (40, 32, 36),
                                      (17, 100, 104)])
def test_pitched_rows_of_any_width_leave_the_gaps_alone(m, n, ld):
    """Rows of n float32 ld apart: the gaps after each row (and the guards) stay poisoned,
    whether a row spans whole 16-byte units (TMA, the aligned variant) or not (SIMT)."""
    a = torch.as_strided(random((m * ld,), torch.float32), (m, n), (ld, 1))
    base = guarded((m * ld,), torch.float32)
    b = torch.as_strided(base, (m, n), (ld, 1))
    kernels.pitched_ragged_f32(a, b)
    torch.cuda.synchronize()
    assert_same(b, a, "B")
    assert bool((bits(base.view(m, ld)[:, n:]) == POISON[torch.float32]).all()), \
        "B: the gap after a row was written"
    assert_guards(base, "B")


@pytest.mark.parametrize("nb, r, c, h, ld", [(1, 1, 1, 1, 1), (3, 17, 70, 20, 80),
                                             (2, 64, 64, 64, 64)])
def test_a_batch_of_pitched_matrices(nb, r, c, h, ld):
    big = random((nb, h, ld), torch.float32)
    a, b = big[:, :r, :c], guarded((nb, r, c), torch.float32)
    kernels.pitched_3d_f32(a, b)
    torch.cuda.synchronize()
    check(b, a.contiguous(), "B")


@pytest.mark.parametrize("m, n, pad", [(1, 2, 6), (17, 255, 1), (40, 1000, 24)])
def test_a_strided_region_of_a_pitched_view(m, n, pad):
    _, a = wide(m, n, pad, torch.float16)
    b = guarded((m, ceildiv(n, 2)))
    kernels.strided_view_rows_f16(a, b)
    torch.cuda.synchronize()
    check(b, a[:, ::2].contiguous(), "B")


class ArrayInterface:
    """A tensor seen only through __cuda_array_interface__ (strides in bytes)."""

    def __init__(self, tensor):
        self.__cuda_array_interface__ = tensor.__cuda_array_interface__


def test_a_pitched_view_through_the_cuda_array_interface():
    _, a = wide(50, 100, 12, torch.float32)
    big_b, b = poisoned_wide(50, 100, 4, torch.float32)
    kernels.pitched_copy_f32(ArrayInterface(a), ArrayInterface(b))
    torch.cuda.synchronize()
    assert_same(b, a, "B")
    assert_guards(big_b, "B")


def test_strides_other_than_the_declared_are_refused():
    a = random((64, 128))[:, ::2]                          # the last stride is 2, not 1
    with pytest.raises(ValueError, match=r"argument 'A' has strides \(128, 2\)"):
        kernels.pitched_copy_f16(a, guarded((64, 64)))
    with pytest.raises(ValueError, match=r"argument 'B' is not C-contiguous"):
        kernels.pitched_3d_f32(random((1, 4, 4), torch.float32),
                               random((1, 4, 8), torch.float32)[:, :, :4])


UNFOLD = {"kernel_size": (3, 2), "stride": (2, 1), "dilation": (1, 2), "padding": (1, 0)}


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("n, c, h, w", [(1, 1, 3, 3), (2, 5, 9, 7), (3, 16, 20, 33)])
def test_nchw_im2col_is_f_unfold(tag, n, c, h, w):
    dtype = DTYPES[tag]
    img = random((n, c, h, w), dtype)
    exact = img.float() if tag == "i8" else img          # F.unfold of int8: through float32
    want = F.unfold(exact, **UNFOLD).transpose(1, 2).reshape(-1, c * 6).to(dtype).contiguous()
    col = guarded(tuple(want.shape), dtype)
    getattr(kernels, f"unfold_{tag}")(img, col)
    torch.cuda.synchronize()
    check(col, want, "col")
