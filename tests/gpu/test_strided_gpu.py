"""Strided regions on the GPU (tests/gpu/strided/strided.tlspec.yaml, compiled into
build/tlspec_strided): every output compared bit-exactly with torch's own strided slicing
(`a[:, ::2]`, `a[::2, ::2]`), random non-zero inputs, outputs poisoned and guarded, ragged shapes:

- de-interleave: the even and odd columns of a matrix (loads with a step on the contiguous axis,
  one element per access) in float16, bfloat16, float32 and int8;
- interleave: the same, back (strided stores; nothing past the end is written);
- every other row (a step on the outer axis, the rows moved whole);
- a 2 x 2 downsample through a register tile (steps on both axes);
- a strided halo: every other element of a window with one more each side, -99 outside (int8).

Imports only the compiled package, torch and pytest (TLSPEC_STRIDED: the package directory).
"""
import pytest
from gpu_support import F, assert_guards, assert_same, cases, compiled_package, guarded, random, \
    torch

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
