"""Strided regions in the interpreter: the GPU suite's kernels (tests/gpu/strided/) run on the CPU
against numpy's strided slicing (`a[:, ::2]`), which is what docs/spec.md ("Strided regions")
says a step selects; the rules of a region's edge (fill outside, stores skipped) as for dense
regions."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT
from interpret_support import assert_same, kernel, poisoned, random, spec
from test_fill_interpreted import ceildiv, filled
from tlspec.interpret import load

kernels = load(ROOT / "tests" / "gpu" / "strided" / "strided.tlspec.yaml")
DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "i8": "int8"}
SHAPES = [(1, 2), (3, 129), (16, 128), (17, 255), (40, 1000)]


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("m, n", SHAPES)
def test_deinterleave_reads_even_and_odd_columns(tag, m, n):
    dtype = DTYPES[tag]
    a = random((m, n), dtype)
    e, o = poisoned((m, ceildiv(n, 2)), dtype), poisoned((m, n // 2), dtype)
    getattr(kernels, f"deinterleave_{tag}")(a, e, o)
    assert_same(e, a[:, ::2])
    assert_same(o, a[:, 1::2])


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("m, n", SHAPES)
def test_interleave_writes_every_other_column(tag, m, n):
    dtype = DTYPES[tag]
    e, o = random((m, ceildiv(n, 2)), dtype, seed=1), random((m, n // 2), dtype, seed=2)
    a = poisoned((m, n), dtype)
    getattr(kernels, f"interleave_{tag}")(e, o, a)
    want = np.empty_like(a)
    want[:, ::2], want[:, 1::2] = e, o
    assert_same(a, want)


@pytest.mark.parametrize("m, n", SHAPES)
def test_every_other_row(m, n):
    a, b = random((m, n), "float32"), poisoned((ceildiv(m, 2), n), "float32")
    kernels.every_other_row_f32(a, b)
    assert_same(b, a[::2])


def test_downsample_2x2_through_registers():
    a, b = random((1000, 999)), poisoned((500, 500))
    kernels.downsample_2x2_f16(a, b)
    assert_same(b, a[::2, ::2])


@pytest.mark.parametrize("m, n", [(1, 1), (2, 100), (3, 128), (5, 1001)])
def test_a_strided_halo_reads_the_fill_outside(m, n):
    t = ceildiv(n, 128)
    a, b = random((m, n), "int8"), poisoned((m, t, 66), "int8")
    kernels.strided_halo_i8(a, b)
    ref = filled((m, t * 128 + 4), -99, "int8")          # element k of a row at k + 2
    ref[:, 2:2 + n] = a
    assert_same(b, np.stack([ref[:, j * 128: j * 128 + 132: 2] for j in range(t)], axis=1))


def test_a_step_of_three_with_a_partial_last_tile():
    """`start : stop : step` counts ceildiv(stop - start, step) elements; stores past the end
    of a strided destination are skipped."""
    copy = kernel(spec("thirds", """
        A: {scope: global, shape: [10], dtype: int32, io: in}
        B: {scope: global, shape: [6], dtype: int32, io: out}
        T: {scope: shared, shape: [4], dtype: int32}""", """
        - copy: {src: "A[1 : 10 : 3]", dst: "T[0 : 3]"}
        - copy: {src: "A[2 : +1]", dst: "T[3 : 4]"}
        - copy: {src: T, dst: "B[0 : +4 : 2]"}"""))
    a, b = np.arange(1, 11, dtype=np.int32), np.full(6, -1, np.int32)
    copy(a, b)
    assert b.tolist() == [2, -1, 5, -1, 8, -1]      # the 3 for B[6] is not stored


pitched = load(ROOT / "tests" / "gpu" / "strided" / "pitched.tlspec.yaml")


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("m, n, pad", [(1, 1, 15), (3, 64, 8), (33, 100, 28)])
def test_pitched_views_in_and_out_without_a_copy(tag, m, n, pad):
    dtype = DTYPES[tag]
    a = random((m, n + pad), dtype)[:, :n]
    big_b = poisoned((m, n + pad + 16), dtype)
    pitched_copy = getattr(pitched, f"pitched_copy_{tag}")
    pitched_copy(a, big_b[:, :n])
    assert_same(big_b[:, :n], a)
    assert_same(big_b[:, n:], poisoned((m, pad + 16), dtype))     # the padding is untouched


def test_a_batch_of_pitched_matrices():
    big = random((3, 20, 80), "float32")
    b = poisoned((3, 17, 70), "float32")
    pitched.pitched_3d_f32(big[:, :17, :70], b)
    assert_same(b, big[:, :17, :70])


def test_a_strided_region_of_a_pitched_view():
    a = random((17, 256), "float16")[:, :255]
    b = poisoned((17, 128))
    pitched.strided_view_rows_f16(a, b)
    assert_same(b, a[:, ::2])


@pytest.mark.parametrize("a, message", [
    (random((8, 16))[:, ::2], r"argument 'A' has strides \(16, 2\) \(in elements\); expected "
                              r"\(16, 1\)"),
    (random((8, 16))[::-1, :8], r"has strides \(-16, 1\): stride 0 must be a multiple of "
                                r"stride 1 and at least 8"),
    (random((8, 8)).T, r"argument 'A' has strides \(1, 8\) \(in elements\); expected \(1, 1\)"),
])
def test_strides_other_than_the_declared_are_refused(a, message):
    with pytest.raises(ValueError, match=message):
        pitched.pitched_copy_f16(a, poisoned(a.shape))


def test_an_omitted_output_is_allocated_with_its_declared_strides():
    copy = kernel(spec("same_pitch", """
        A: {scope: global, shape: [M, N], strides: [LD, 1], dtype: float32, io: in}
        B: {scope: global, shape: [M, N], strides: [LD, 1], dtype: float32, io: out}
        T: {scope: shared, shape: [4, 8], dtype: float32}""", """
        - copy: {src: "A[by*4 : +4, bx*8 : +8]", dst: T}
        - copy: {src: T, dst: "B[by*4 : +4, bx*8 : +8]"}""",
        dims="{M: symbolic, N: symbolic, LD: symbolic}",
        grid='{bx: "ceildiv(N, 8)", by: "ceildiv(M, 4)"}'))
    a = random((10, 24), "float32")[:, :20]
    b = copy(a)
    assert b.strides == a.strides
    assert_same(b, a)


def test_a_constant_dim_in_declared_strides():
    """Strides name constant dims (found by the differential generator: the interpreter looked
    them up among the symbolic dims)."""
    copy = kernel(spec("constant_pitch", """
        A: {scope: global, shape: [M, N], strides: [N * 2, 1], dtype: float32, io: in}
        B: {scope: global, shape: [M, N], dtype: float32, io: out}
        T: {scope: shared, shape: [4, 8], dtype: float32}""", """
        - copy: {src: "A[by*4 : +4, bx*8 : +8]", dst: T}
        - copy: {src: T, dst: "B[by*4 : +4, bx*8 : +8]"}""",
        dims="{M: symbolic, N: 8}", grid='{bx: "ceildiv(N, 8)", by: "ceildiv(M, 4)"}'))
    a = random((6, 16), "float32")[:, :8]
    assert_same(copy(a), a)


unfolds = load(ROOT / "tests" / "gpu" / "strided" / "unfold.tlspec.yaml")


def f_unfold(img, k=(3, 2), s=(2, 1), d=(1, 2), p=(1, 0)):
    """torch's F.unfold(img).transpose(1, 2) flattened to (N*OH*OW, C*KH*KW), written out: row
    n*OH*OW + oh*OW + ow, column (c*KH + kh)*KW + kw holds the padded image at
    (oh*s_h + kh*d_h, ow*s_w + kw*d_w)."""
    n, c, h, w = img.shape
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    padded = np.zeros((n, c, h + 2 * p[0], w + 2 * p[1]), img.dtype)
    padded[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = img
    out = np.zeros((n, oh * ow, c * k[0] * k[1]), img.dtype)
    for ci in range(c):
        for kh in range(k[0]):
            for kw in range(k[1]):
                window = padded[:, ci, kh * d[0]::s[0], kw * d[1]::s[1]][:, :oh, :ow]
                out[:, :, (ci * k[0] + kh) * k[1] + kw] = window.reshape(n, -1)
    return out.reshape(n * oh * ow, c * k[0] * k[1])


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("n, c, h, w", [(1, 1, 3, 3), (2, 5, 9, 7), (1, 16, 20, 33)])
def test_nchw_im2col_is_f_unfold(tag, n, c, h, w):
    img = random((n, c, h, w), DTYPES[tag])
    want = f_unfold(img.view(np.dtype(f"u{img.itemsize}"))).view(img.dtype)     # bits: no NaN
    col = poisoned(want.shape, DTYPES[tag])
    getattr(unfolds, f"unfold_{tag}")(img, col)
    assert_same(col, want)
