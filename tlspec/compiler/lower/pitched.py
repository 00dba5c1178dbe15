"""Global tensors with declared strides (`strides: [LD, 1]`): how their elements are addressed.

tirx addresses a global buffer by its shape (row-major), whatever strides it was declared with,
and a layout with other strides costs a division per access (see ..tileir). So the loops that
move a strided tensor's elements address a *pitched view* instead: the same memory as a
row-major buffer whose rows are the strides' (shape [M, LD] for shape [M, N] with strides
[LD, 1]); its indices are the logical ones, so a region of the tensor is the same region of
the view. The view's extents past the logical ones (columns N..LD-1: the padding) are never
touched: the guards (..guards) bound every index by the tensor's own shape, which LowerTileOp
records in the function attribute `tlspec.pitched` (tensor name -> shape).
A TMA copy describes the tensor by its shape and a layout of its strides (`tma_view`), which
tirx's dispatch turns into the tensor map's global strides.
"""
from __future__ import annotations

import tvm
from tvm import tirx
from tvm.tirx.layout import S
from tvm.tirx.layout import TileLayout as TirxLayout

from .common import simplify

PITCHED = "tlspec.pitched"      # function attribute: strided tensor -> its shape


def declared(buffer) -> bool:
    """Whether the buffer has declared strides."""
    return len(buffer.strides) > 0


def element_strides(buffer) -> list[tirx.PrimExpr]:
    """The buffer's strides in elements: declared, or those of row-major order."""
    if declared(buffer):
        return list(buffer.strides)
    strides, stride = [], tirx.IntImm("int32", 1)
    for extent in reversed(buffer.shape):
        strides.insert(0, stride)
        stride = simplify(stride * extent)
    return strides


def pitched_view(buffer, analyzer: tvm.sym.Analyzer) -> tirx.Buffer:
    """The row-major view of a strided tensor's memory that its logical indices address (each
    declared stride is a multiple of the next: validation and the wrapper check it). Its
    extents are quotients of strides, simplified by `analyzer` (the dims' ranges): `(M * 7 - 6)
    * LD // LD` must become `M * 7 - 6`, since a symbolic division left in a buffer's shape
    becomes a Let (LowerSymbolicDivision) that UnrollLoop cannot copy (tvm then fails to
    compile the kernel)."""
    strides = list(buffer.strides)
    shape = [buffer.shape[0]] + [analyzer.simplify(tirx.floordiv(strides[d - 1], strides[d]))
                                 for d in range(1, len(strides))]
    return tirx.decl_buffer(shape, buffer.dtype, name=buffer.name, data=buffer.data)


def tma_view(buffer) -> tirx.Buffer:
    """The tensor as tirx's TMA dispatch reads it: its shape, over a layout of its strides."""
    layout = TirxLayout(S[tuple(buffer.shape) : tuple(buffer.strides)])
    return tirx.decl_buffer(buffer.shape, buffer.dtype, name=buffer.name, data=buffer.data,
                            layout=layout)
