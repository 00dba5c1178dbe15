"""Fill values and halos on the GPU (tests/gpu/fill/fill.tlspec.yaml, compiled into
build/tlspec_fill): every output compared bit-exactly with an independent torch reference (the
input padded by torch.nn.functional.pad with the fill value, then sliced), random non-zero inputs,
outputs poisoned and guarded:

- a -inf halo of one element before and after each 64-element window of a row (what a max-pool
  reads) in float16, bfloat16 and float32, rows of ragged length;
- a 2-D halo (one row, eight columns each side) with zero outside (one TMA load whose box starts
  at negative coordinates) and with -inf outside (16-byte SIMT vectors), and one whose columns
  start 2 elements before the window (not TMA: a coordinate off 16 bytes faults);
- stores into a region that starts before the tensor (skipped there, -99 read past A's end);
- -99 sentinels in the partial last tiles of int8 and int32 tensors;
- gathers whose indices lie outside the table (negative and past its end): -99 (int8), -inf
  (float16);
- im2col with its padding, rows past the last pixel and columns past the last tap filled with
  -inf (float16) and -99 (int8).
- a converting copy (float16 -> float32) of a halo: -inf read as float16, then converted.

Imports only the compiled package, torch and pytest (TLSPEC_FILL: the package directory).
"""
import pytest
from gpu_support import DEVICE, F, assert_guards, assert_same, compiled_package, guarded, \
    im2col_reference, random, torch

kernels = compiled_package("TLSPEC_FILL", "tlspec_fill", "tests/gpu/fill")
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "i8": torch.int8,
          "i32": torch.int32}
INF = float("-inf")


def ceildiv(a, b):
    return -(-a // b)


def run(name, inputs, outputs):
    getattr(kernels, name)(*inputs, *outputs)
    torch.cuda.synchronize()


def check(out, want, what):
    assert_same(out, want, what)
    assert_guards(out, what)


@pytest.mark.parametrize("tag", ["f16", "bf16", "f32"])
@pytest.mark.parametrize("m, n", [(1, 1), (3, 64), (2, 100), (5, 191), (7, 4097)])
def test_a_row_halo_reads_minus_infinity_outside(tag, m, n):
    dtype, t = DTYPES[tag], ceildiv(n, 64)
    a, b = random((m, n), dtype), guarded((m, t, 66), dtype)
    run(f"halo_row_{tag}", [a], [b])
    ref = F.pad(a, (1, t * 64 + 1 - n), value=INF)
    check(b, ref.unfold(1, 66, 64).contiguous(), "B")


@pytest.mark.parametrize("kind, fill", [("zero", 0.0), ("fill", INF)])
@pytest.mark.parametrize("m, n", [(16, 64), (20, 72), (33, 200), (100, 1000)])
def test_a_2d_halo(kind, fill, m, n):
    tm, tn = ceildiv(m, 16), ceildiv(n, 64)
    a, b = random((m, n)), guarded((tm, tn, 18, 80))
    run(f"halo_2d_{kind}_f16", [a], [b])
    ref = F.pad(a, (8, tn * 64 + 8 - n, 1, tm * 16 + 1 - m), value=fill)
    check(b, ref.unfold(0, 18, 16).unfold(1, 80, 64).contiguous(), "B")


@pytest.mark.parametrize("m, n", [(16, 64), (20, 72), (100, 1000)])
def test_a_halo_whose_innermost_start_is_off_16_bytes(m, n):
    """Not a TMA load (it faulted as one): a SIMT loop, zeros outside."""
    tm, tn = ceildiv(m, 16), ceildiv(n, 64)
    a, b = random((m, n)), guarded((tm, tn, 18, 72))
    run("halo_2d_narrow_f16", [a], [b])
    ref = F.pad(a, (2, tn * 64 + 6 - n, 1, tm * 16 + 1 - m))
    check(b, ref.unfold(0, 18, 16).unfold(1, 72, 64).contiguous(), "B")


@pytest.mark.parametrize("m, n", [(16, 64), (17, 70), (40, 130), (65, 1000)])
def test_stores_before_the_start_are_skipped(m, n):
    a, b = random((m, n), torch.float32), guarded((m, n), torch.float32)
    run("halo_store_f32", [a], [b])
    want = guarded((m, n), torch.float32)
    rows, cols = min(m, ceildiv(m, 16) * 16 - 1), min(n, ceildiv(n, 64) * 64 - 4)  # covered
    want[:rows, :cols] = F.pad(a, (0, 4, 0, 1), value=-99)[1:, 4:][:rows, :cols]
    check(b, want, "B")


@pytest.mark.parametrize("tag", ["i8", "i32"])
@pytest.mark.parametrize("m, n", [(16, 64), (1, 1), (17, 65), (40, 200), (100, 1001)])
def test_partial_tiles_hold_the_sentinel(tag, m, n):
    dtype, tm, tn = DTYPES[tag], ceildiv(m, 16), ceildiv(n, 64)
    a, b = random((m, n), dtype), guarded((tm, tn, 16, 64), dtype)
    run(f"sentinel_{tag}", [a], [b])
    ref = F.pad(a, (0, tn * 64 - n, 0, tm * 16 - m), value=-99)
    check(b, ref.view(tm, 16, tn, 64).permute(0, 2, 1, 3).contiguous(), "B")


@pytest.mark.parametrize("tag, fill", [("i8", -99), ("f16", INF)])
@pytest.mark.parametrize("v, t", [(10, 32), (100, 45), (3, 1), (1000, 1000)])
def test_a_gather_fills_indices_outside_the_table(tag, fill, v, t):
    dtype = DTYPES[tag]
    table, out = random((v, 64), dtype), guarded((t, 64), dtype)
    index = torch.randint(-5, v + 5, (t,), dtype=torch.int32, device=DEVICE)
    run(f"gather_fill_{tag}", [table, index], [out])
    want = F.pad(table, (0, 0, 0, 1), value=fill)[torch.where((index >= 0) & (index < v),
                                                              index, v).long()]
    check(out, want, "out")


@pytest.mark.parametrize("tag, fill", [("f16", INF), ("i8", -99)])
@pytest.mark.parametrize("n, h, w", [(1, 4, 4), (2, 5, 3), (1, 9, 7), (3, 16, 20)])
def test_im2col_pads_with_the_fill(tag, fill, n, h, w):
    dtype = DTYPES[tag]
    img = random((n, h, w, 4), dtype)
    r = ceildiv(n * h * w, 32) * 32
    out = guarded((r, 64), dtype)
    run(f"im2col_fill_{tag}", [img], [out])
    cols = im2col_reference(F.pad(img, (0, 0, 1, 1, 1, 1), value=fill), 3, 1, 1, 0)
    want = F.pad(cols, (0, 64 - 36, 0, r - n * h * w), value=fill)
    check(out, want, "out")


@pytest.mark.parametrize("m, n", [(1, 1), (3, 64), (2, 100), (5, 1001)])
def test_a_converting_copy_converts_the_fill(m, n):
    t = ceildiv(n, 64)
    a, b = random((m, n)), guarded((m, t, 80), torch.float32)
    run("convert_halo_f16_f32", [a], [b])
    ref = F.pad(a, (8, t * 64 + 8 - n), value=INF).float()
    check(b, ref.unfold(1, 80, 64).contiguous(), "B")
