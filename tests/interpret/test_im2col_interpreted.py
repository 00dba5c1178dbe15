"""im2col in the interpreter against explicit loops written from docs/spec.md's formula: kernel
sizes, strides, dilations and pads, tiles that span several taps or lie within one, a tile built
in shared memory or written straight to global memory, partial tiles, NHWC images of any dtype."""
from __future__ import annotations

import numpy as np
import pytest

import references
from conftest import ROOT
from interpret_support import assert_same, kernel, poisoned, random
from tlspec.interpret import InterpretError, load

THROUGH_SHARED = """
    name: im2col_tiles
    dims: {{N: symbolic, H: symbolic, W: symbolic, C: {c}}}
    buffers:
      img:   {{scope: global, shape: [N, H, W, C], dtype: {dtype}, io: in}}
      col:   {{scope: global, shape: ["N * {oh} * {ow}", "{k} * {k} * C"], dtype: {dtype}, io: out}}
      col_s: {{scope: shared, shape: [{rows}, {cols}], dtype: {dtype}}}
    launch:
      grid: {{bx: "ceildiv(N * {oh} * {ow}, {rows})", by: "ceildiv({k} * {k} * C, {cols})"}}
      threads: 128
    stages:
      - im2col: {{img: img, col: col_s, nhw_step: bx, c_step: by, kernel: {k}, stride: {s}, dilation: {d}, pad: {p}}}
      - copy: {{src: col_s, dst: "col[bx*{rows} : +{rows}, by*{cols} : +{cols}]"}}
"""


def extent(size: str, k: int, s: int, d: int, p: int) -> str:
    return f"(({size} + {2 * p - d * (k - 1) - 1}) // {s} + 1)"


@pytest.mark.parametrize("k, s, d, p, c, rows, cols", [
    (3, 1, 1, 1, 4, 16, 8),       # a tile spans several taps
    (3, 2, 2, 2, 8, 8, 8),        # a tile lies within one tap
    (2, 1, 2, 2, 3, 16, 16),
    (5, 1, 1, 2, 2, 32, 16),
    (1, 2, 1, 0, 6, 8, 4),
    (3, 3, 1, 0, 5, 4, 32),       # tiles wider than K*K*C: past the matrix's columns
])
@pytest.mark.parametrize("n, h, w", [(1, 7, 9), (2, 5, 5), (3, 11, 6)])
def test_im2col_through_shared_memory(k, s, d, p, c, rows, cols, n, h, w):
    oh, ow = references.out_size(h, k, s, d, p), references.out_size(w, k, s, d, p)
    if oh < 1 or ow < 1:
        pytest.skip("the kernel does not fit the image")
    spec = THROUGH_SHARED.format(c=c, dtype="float16", k=k, s=s, d=d, p=p, rows=rows, cols=cols,
                                 oh=extent("H", k, s, d, p), ow=extent("W", k, s, d, p))
    img = random((n, h, w, c), "float16")
    assert_same(kernel(spec)(img), references.im2col(img, k, s, d, p))


@pytest.mark.parametrize("dtype", ["int8", "bfloat16", "float32", "float64"])
def test_im2col_straight_to_global(dtype):
    """col tiles written into the global column matrix, the last ones past its end."""
    im2col = kernel(f"""
        name: im2col_global
        dims: {{N: symbolic, H: symbolic, W: symbolic, C: 5}}
        buffers:
          img: {{scope: global, shape: [N, H, W, C], dtype: {dtype}, io: in}}
          col: {{scope: global, shape: ["N * ((H - 3) // 2 + 1) * ((W - 3) // 2 + 1)", "9 * C"], dtype: {dtype}, io: out}}
        launch:
          grid: {{bx: "ceildiv(N * ((H - 3) // 2 + 1) * ((W - 3) // 2 + 1), 16)", by: "ceildiv(9 * C, 16)"}}
          threads: 128
        stages:
          - im2col: {{img: img, col: "col[bx*16 : +16, by*16 : +16]", nhw_step: bx, c_step: by, kernel: 3, stride: 2}}
    """)
    img = random((2, 9, 8, 5), dtype)
    assert_same(im2col(img), references.im2col(img, 3, 2))


def test_a_kernel_that_does_not_fit_the_image_is_an_error():
    im2col = kernel("""
        name: im2col_too_small
        dims: {H: symbolic}
        buffers:
          img: {scope: global, shape: [1, H, 9, 2], dtype: int8, io: in}
          col: {scope: global, shape: [8, 50], dtype: int8, io: out}
        launch:
          grid: {bx: 1}
          threads: 32
        stages:
          - im2col: {img: img, col: col, nhw_step: 0, c_step: 0, kernel: 5}
    """)
    assert_same(im2col(random((1, 5, 9, 2), "int8"))[:5], references.im2col(
        random((1, 5, 9, 2), "int8"), 5)[:, :50])
    with pytest.raises(InterpretError, match=r"^<string>:11:\d+: error: im2col in block \(bx=0\): "
                                             r"a 5x5 kernel with dilation 1 and pad 0 does not fit "
                                             r"in the image \(4 x 9\)"):
        im2col(random((1, 4, 9, 2), "int8"))


# the GPU edge kernels whose divisors are symbolic (tests/gpu/test_edges_gpu.py runs them
# compiled): the interpreter, the oracle, agrees with the references that test compares against
SYMBOLIC_EDGES = {  # kernel -> (C, dtype, kernel, stride, dilation, pad, W, fixed N or None)
    "im2col_symbolic_h_f16": (3, "float16", 2, 2, 1, 2, 6, None),
    "im2col_symbolic_h_dilated_f32": (9, "float32", 2, 1, 2, 2, 1, None),
    "im2col_symbolic_h_fixed_n_f16": (3, "float16", 1, 1, 1, 1, 8, 3),
    "im2col_symbolic_nh_vector_f16": (8, "float16", 1, 1, 2, 1, 3, None),
}


@pytest.mark.parametrize("n, h", [(1, 1), (2, 5)])
@pytest.mark.parametrize("name", SYMBOLIC_EDGES)
def test_the_symbolic_division_edge_kernels(name, n, h):
    c, dtype, k, s, d, p, w, fixed_n = SYMBOLIC_EDGES[name]
    kernels = load(ROOT / "tests" / "gpu" / "edges" / "symbolic_division.tlspec.yaml")
    img = random((fixed_n or n, h, w, c), dtype)
    assert_same(getattr(kernels, name)(img), references.im2col(img, k, s, d, p))


RECTANGULAR = """
    name: im2col_rect
    dims: {{N: symbolic, H: symbolic, W: symbolic, C: {c}}}
    buffers:
      img:   {{scope: global, shape: [N, H, W, C], dtype: int8, io: in}}
      col:   {{scope: global, shape: ["N * {oh} * {ow}", "{kh} * {kw} * C"], dtype: int8, io: out}}
      col_s: {{scope: shared, shape: [16, 16], dtype: int8}}
    launch:
      grid: {{bx: "ceildiv(N * {oh} * {ow}, 16)", by: "ceildiv({kh} * {kw} * C, 16)"}}
      threads: 128
    stages:
      - im2col: {{img: img, col: col_s, nhw_step: bx, c_step: by, {window}}}
      - copy: {{src: col_s, dst: "col[bx*16 : +16, by*16 : +16]"}}
"""


@pytest.mark.parametrize("window", [
    {"kernel": [3, 5], "stride": [2, 1], "dilation": [1, 2], "pad": [1, 2]},
    {"kernel": [1, 3], "pad": [0, 1]},
    {"kernel": [4, 2], "stride": [1, 3], "dilation": 2, "pad": 3},
    {"kernel": 3, "stride": [3, 1], "dilation": [2, 1], "pad": [2, 0]},
])
@pytest.mark.parametrize("n, h, w, c", [(1, 7, 9, 4), (2, 5, 11, 3)])
def test_rectangular_windows(window, n, h, w, c):
    """kernel, stride, dilation and pad per axis ([h, w]); an integer is both axes'."""
    kh, kw = references.per_axis(window["kernel"])
    (sh, sw), (dh, dw), (ph, pw) = (references.per_axis(window.get(name, default)) for name, default
                                    in (("stride", 1), ("dilation", 1), ("pad", 0)))
    spec = RECTANGULAR.format(c=c, kh=kh, kw=kw, oh=extent("H", kh, sh, dh, ph),
                              ow=extent("W", kw, sw, dw, pw),
                              window=", ".join(f"{k}: {v}" for k, v in window.items()))
    img = random((n, h, w, c), "int8")
    assert_same(kernel(spec)(img), references.im2col(img, window["kernel"],
                                                     *(window.get(name, default) for name, default
                                                       in (("stride", 1), ("dilation", 1),
                                                           ("pad", 0)))))


def test_a_rectangular_kernel_too_wide_for_the_image_is_an_error():
    im2col = kernel("""
        name: im2col_too_narrow
        dims: {W: symbolic}
        buffers:
          img: {scope: global, shape: [1, 9, W, 2], dtype: int8, io: in}
          col: {scope: global, shape: [8, 6], dtype: int8, io: out}
        launch:
          grid: {bx: 1}
          threads: 32
        stages:
          - im2col: {img: img, col: col, nhw_step: 0, c_step: 0, kernel: [1, 3], dilation: [1, 3]}
    """)
    with pytest.raises(InterpretError, match=r"a 1x3 kernel with dilation 3 and pad 0 does not fit "
                                             r"in the image \(9 x 6\)"):
        im2col(random((1, 9, 6, 2), "int8"))


def padded(cols: np.ndarray, shape: tuple[int, int], fill) -> np.ndarray:
    out = np.full(shape, fill, cols.dtype)
    out[:cols.shape[0], :cols.shape[1]] = cols
    return out


@pytest.mark.parametrize("n, h, w", [(1, 5, 5), (3, 11, 6)])
def test_the_rectangular_gpu_kernels(n, h, w):
    """tests/gpu/test_im2col_rect_gpu.py's kernels: the interpreter, the oracle, agrees with the
    explicit loops there too."""
    kernels = load(ROOT / "tests" / "gpu" / "im2col_rect" / "im2col_rect.tlspec.yaml")
    img = random((n, h, w, 8), "float16")
    assert_same(kernels.im2col_rect_f16(img),
                references.im2col(img, [3, 5], [2, 1], [1, 2], [1, 2]))
    img = random((n, h, w, 3), "int8")
    assert_same(kernels.im2col_rect_odd_i8(img),
                references.im2col(img, [2, 4], [3, 2], [2, 1], [0, 1]))
    img = random((n, h, w, 16), "int8")
    rows = n * (h - 2) * ((w - 3) // 2 + 1)
    out = poisoned((-(-rows // 64) * 64, 256), "int8")
    kernels.im2col_rect_i8(img, out)
    assert_same(out, padded(references.im2col(img, [5, 3], [1, 2], [2, 1], [3, 0]), out.shape, 0))
    img = random((n, h, w, 4), "float16")
    out = poisoned((-(-n * h * w // 32) * 32, 32), "float16")
    kernels.im2col_rect_fill_f16(img, out)
    wide = np.pad(img, ((0, 0), (0, 0), (1, 1), (0, 0)), constant_values=-np.inf)
    assert_same(out, padded(references.im2col(wide, [1, 3]), out.shape, -np.inf))
