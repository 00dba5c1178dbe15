"""Fill values and halos in the interpreter: the GPU suite's kernels (tests/gpu/fill/) run on
the CPU against numpy references written from docs/spec.md ("Fill values", "Halos"): the tensor
padded with the fill (np.full, then the tensor copied in), then sliced."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT
from interpret_support import assert_same, poisoned, random
from tlspec.fill import fill_bits
from tlspec.interpret import load
from tlspec.interpret.bits import numpy_dtype

kernels = load(ROOT / "tests" / "gpu" / "fill" / "fill.tlspec.yaml")
DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "i8": "int8", "i32": "int32"}


def ceildiv(a: int, b: int) -> int:
    return -(-a // b)


def filled(shape, fill, dtype: str) -> np.ndarray:
    return np.full(shape, fill_bits(fill, dtype), np.dtype(f"u{np.dtype(numpy_dtype(dtype)).itemsize}")
                   ).view(numpy_dtype(dtype))


def padded(a: np.ndarray, widths, fill, dtype: str) -> np.ndarray:
    """`a` inside a tensor of `fill`, `widths` ((before, after) per dimension) around it."""
    out = filled([n + lo + hi for n, (lo, hi) in zip(a.shape, widths)], fill, dtype)
    out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, widths))] = a
    return out


@pytest.mark.parametrize("tag", ["f16", "bf16", "f32"])
@pytest.mark.parametrize("m, n", [(1, 1), (3, 64), (2, 100), (5, 191)])
def test_a_row_halo_reads_minus_infinity_outside(tag, m, n):
    dtype, t = DTYPES[tag], ceildiv(n, 64)
    a, b = random((m, n), dtype), poisoned((m, t, 66), dtype)
    getattr(kernels, f"halo_row_{tag}")(a, b)
    ref = padded(a, [(0, 0), (1, t * 64 + 1 - n)], "-inf", dtype)
    assert_same(b, np.stack([ref[:, j * 64: j * 64 + 66] for j in range(t)], axis=1))


@pytest.mark.parametrize("kind, fill", [("zero", 0), ("fill", "-inf")])
@pytest.mark.parametrize("m, n", [(16, 64), (20, 72), (33, 200)])
def test_a_2d_halo(kind, fill, m, n):
    tm, tn = ceildiv(m, 16), ceildiv(n, 64)
    a, b = random((m, n)), poisoned((tm, tn, 18, 80))
    getattr(kernels, f"halo_2d_{kind}_f16")(a, b)
    ref = padded(a, [(1, tm * 16 + 1 - m), (8, tn * 64 + 8 - n)], fill, "float16")
    want = np.stack([np.stack([ref[i * 16: i * 16 + 18, j * 64: j * 64 + 80] for j in range(tn)])
                     for i in range(tm)])
    assert_same(b, want)


@pytest.mark.parametrize("m, n", [(16, 64), (17, 70), (40, 130)])
def test_stores_before_the_start_are_skipped(m, n):
    a, b = random((m, n), "float32"), poisoned((m, n), "float32")
    kernels.halo_store_f32(a, b)
    tm, tn = ceildiv(m, 16), ceildiv(n, 64)
    shifted = padded(a, [(0, 1), (0, 4)], -99, "float32")[1:, 4:]
    want = poisoned((m, n), "float32")
    rows, cols = min(m, tm * 16 - 1), min(n, tn * 64 - 4)     # what the grid's tiles cover
    want[:rows, :cols] = shifted[:rows, :cols]
    assert_same(b, want)


@pytest.mark.parametrize("tag", ["i8", "i32"])
@pytest.mark.parametrize("m, n", [(16, 64), (1, 1), (17, 65), (40, 200)])
def test_partial_tiles_hold_the_sentinel(tag, m, n):
    dtype, tm, tn = DTYPES[tag], ceildiv(m, 16), ceildiv(n, 64)
    a, b = random((m, n), dtype), poisoned((tm, tn, 16, 64), dtype)
    getattr(kernels, f"sentinel_{tag}")(a, b)
    ref = padded(a, [(0, tm * 16 - m), (0, tn * 64 - n)], -99, dtype)
    assert_same(b, ref.reshape(tm, 16, tn, 64).transpose(0, 2, 1, 3))


@pytest.mark.parametrize("tag, fill", [("i8", -99), ("f16", "-inf")])
@pytest.mark.parametrize("v, t", [(10, 32), (100, 45), (3, 1)])
def test_a_gather_fills_indices_outside_the_table(tag, fill, v, t):
    dtype = DTYPES[tag]
    table, out = random((v, 64), dtype), poisoned((t, 64), dtype)
    index = np.random.default_rng(1).integers(-5, v + 5, t).astype(np.int32)
    getattr(kernels, f"gather_fill_{tag}")(table, index, out)
    inside = (index >= 0) & (index < v)
    want = filled((t, 64), fill, dtype)
    want[inside] = table[index[inside]]
    assert_same(out, want)


def im2col_padded(img: np.ndarray, fill, dtype: str) -> np.ndarray:
    """The column matrix of a 3x3, pad 1 im2col: the image padded with the fill, then windows."""
    n, h, w, c = img.shape
    p = padded(img, [(0, 0), (1, 1), (1, 1), (0, 0)], fill, dtype)
    return np.stack([p[:, kh: kh + h, kw: kw + w, :] for kh in range(3) for kw in range(3)],
                    axis=3).reshape(n * h * w, 9 * c)


@pytest.mark.parametrize("tag, fill", [("f16", "-inf"), ("i8", -99)])
@pytest.mark.parametrize("n, h, w", [(1, 4, 4), (2, 5, 3), (1, 9, 7)])
def test_im2col_pads_with_the_fill(tag, fill, n, h, w):
    dtype = DTYPES[tag]
    img = random((n, h, w, 4), dtype)
    r = ceildiv(n * h * w, 32) * 32
    out = poisoned((r, 64), dtype)
    getattr(kernels, f"im2col_fill_{tag}")(img, out)
    want = filled((r, 64), fill, dtype)
    want[:n * h * w, :36] = im2col_padded(img, fill, dtype)
    assert_same(out, want)


@pytest.mark.parametrize("m, n", [(1, 1), (3, 64), (2, 100)])
def test_a_converting_copy_converts_the_fill(m, n):
    t = ceildiv(n, 64)
    a, b = random((m, n), "float16"), poisoned((m, t, 80), "float32")
    kernels.convert_halo_f16_f32(a, b)
    ref = padded(a, [(0, 0), (8, t * 64 + 8 - n)], "-inf", "float16").astype(np.float32)
    ref[np.isnan(ref)] = np.uint32(0x7FFFFFFF).view(np.float32)    # a GPU's widened NaN
    assert_same(b, np.stack([ref[:, j * 64: j * 64 + 80] for j in range(t)], axis=1))
