"""im2col of an NHWC (or NCHW) image into one tile of the (N*OH*OW) x (KH*KW*C) column matrix.

The tile's element (r, k) is row R = nhw_step*rows + r (output pixel n, oh, ow) and column
Q = c_step*cols + k (tap kh, kw and channel c); it reads img[n, oh*stride_h - pad_h + kh*dilation_h,
ow*stride_w - pad_w + kw*dilation_w, c]. Threads move `vector` channels per access (vector divides
C, so a vector never crosses a tap). Columns past the last tap (Q >= KH*KW*C, in the partial
column tile) are the fill (zero by default). An NCHW image (`nchw`) has column
Q = (c*KH + kh)*KW + kw (torch's F.unfold) and is read one element per access (a window's
channels are not adjacent). The loads are written unguarded:
LegalizeNegativeIndex and LegalizeSafeMemoryAccess turn the padding (and rows past the last
pixel) into the fill.
"""
from __future__ import annotations

from tvm import tirx

from ...expr import Var
from ...im2col import AxisWindow, output_extent
from ..prims import to_prim
from .common import Operand, Stmt, VectorLoop, bits_as, simplify


def lower_im2col(col: Operand, img: Operand, nhw_step, c_step,
                 window: tuple[AxisWindow, AxisWindow], vector: int, tid: tirx.Var,
                 nthreads: int, fill: int = 0, nchw: bool = False) -> Stmt:
    n_, h, w, c = (img.shape[0], *img.shape[2:], img.shape[1]) if nchw else img.shape
    height, width = window
    oh_count, ow_count = (simplify(to_prim(output_extent(Var("size"), axis), {"size": size}))
                          for size, axis in ((h, height), (w, width)))
    rows, cols = col.extents[-2], col.extents[-1]
    nd = len(col.extents)

    def body(point, lane, slot) -> Stmt:
        r, k = point
        pixel = nhw_step * rows + r
        q = c_step * cols + k
        n = tirx.floordiv(pixel, oh_count * ow_count)
        oh = tirx.floormod(tirx.floordiv(pixel, ow_count), oh_count)
        ow = tirx.floormod(pixel, ow_count)
        if nchw:                       # one element per access (vector 1)
            taps = height.kernel * width.kernel
            ch, kh, kw = (tirx.floordiv(q, taps),
                          tirx.floormod(tirx.floordiv(q, width.kernel), height.kernel),
                          tirx.floormod(q, width.kernel))
        else:
            # vector divides q and C: the channel in whole vectors, so that tvm sees the load's
            # start is a multiple of the vector also when C is symbolic
            ch = tirx.floormod(tirx.floordiv(q, vector), tirx.floordiv(c, vector)) * vector
            kw = tirx.floormod(tirx.floordiv(q, c), width.kernel)
            kh = tirx.floordiv(q, c * width.kernel)
        ih = oh * height.stride - height.pad + kh * height.dilation
        iw = ow * width.stride - width.pad + kw * width.dilation
        at = {nd - 2: r, nd - 1: k}
        value = img.load({0: n, 1: ch, 2: ih, 3: iw} if nchw else {0: n, 1: ih, 2: iw, 3: ch},
                         lane)
        # a column past the last tap (in the partial column tile) is the fill (the bits of the
        # stage's `fill`, zero by default), whatever pixel kh >= KH would land on
        return tirx.IfThenElse(q < height.kernel * width.kernel * c, col.store(value, at, lane),
                               col.store(bits_as(fill, col.dtype), at, lane))

    return VectorLoop([rows, cols], vector).emit(tid, nthreads, body)
