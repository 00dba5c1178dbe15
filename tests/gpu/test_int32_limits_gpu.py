"""Symbolic shapes at the edge of 32-bit indexing, run (issue 10: reasoned safe, never run).
The kernels of tests/gpu/edges/int32_limits.tlspec.yaml index global memory with int32; the
wrapper refuses a tensor of 2**31 elements or more (tests/compiler/test_gpu_edges_compile.py),
so these are the largest calls, each with a partial last tile whose guarded-out elements lie at
or past offset 2**31 - 1:

- a 1-D int8 copy of 2**31 - 1 elements (tiles of 4096);
- a 46341 x 46339 int8 copy (2**31 - 88049 elements) through 64 x 64 shared tiles, partial in
  both dimensions;
- a gather of 1001 rows from an int8 table of 2147483 x 1000 elements, rows near its end
  included, and int64 indices whose row offsets are past 2**31 (rows of zeros).

Each output is poisoned; the last 4 MiB and a million random elements are compared first (a
readable failure), then the whole tensor with torch.equal on the GPU. Not part of
tests/gpu/sanitize.sh: instrumented, 2**31 accesses take minutes.
"""
import pytest
from gpu_support import (DEVICE, assert_guards, assert_same, bits, compiled_package, guarded,
                         random_bits, torch)

kernels = compiled_package("TLSPEC_EDGES", "tlspec_edges", "tests/gpu/edges")
TAIL = 4 << 20
SAMPLES = 1 << 20


def assert_same_huge(actual, expected):
    a, e = bits(actual).flatten(), bits(expected).flatten()
    assert_same(a[-TAIL:], e[-TAIL:], "the last 4 MiB")
    sample = torch.randint(0, a.numel(), (SAMPLES,), device=DEVICE)
    assert_same(a[sample], e[sample], "a million random elements")
    assert_same(actual, expected)


def run(name, *arrays):
    getattr(kernels, name)(*arrays)
    torch.cuda.synchronize()


def test_a_1d_copy_of_2_to_the_31_minus_1_elements():
    a = random_bits((2**31 - 1,), torch.int8)
    b = guarded(a.shape, torch.int8)
    run("huge_copy_1d_i8", a, b)
    assert_same_huge(b, a)
    assert_guards(b)


def test_a_2d_copy_just_under_2_to_the_31_elements_with_partial_tiles_in_both_dims():
    m, n = 46341, 46339                  # 5 rows and 3 columns in the last tiles of 64
    assert m * n < 2**31 and m % 64 and n % 64
    a = random_bits((m, n), torch.int8)
    b = guarded(a.shape, torch.int8)
    run("huge_copy_2d_i8", a, b)
    assert_same_huge(b, a)
    assert_guards(b)


def test_a_gather_from_a_table_just_under_2_to_the_31_elements():
    v, n = (2**31 - 1) // 1000, 1000     # 1000 columns: a partial last tile of 256
    table = random_bits((v, n), torch.int8)
    idx = torch.randint(0, v, (1001,), device=DEVICE)
    idx[:8] = torch.tensor([v - 1, v - 2, 0, -1, v, 2**31 - 1, 2**40, -2**40], device=DEVICE)
    out = guarded((len(idx), n), torch.int8)
    run("huge_gather_i8", table, idx, out)
    inside = (idx >= 0) & (idx < v)
    expected = bits(table)[idx.clamp(0, v - 1)]
    expected[~inside] = 0
    assert_same(bits(out), expected)
    assert_guards(out)
