"""The TMA gather4 / scatter4 forms of gather and scatter (sm_100a): the regions and row
coordinates of each instruction.

One instruction moves 4 rows: a box of one table row (`table[0 : 1, col : +K]`, the table
region's columns) at 4 row coordinates, the values of 4 consecutive indices, into (gather4) or
out of (scatter4) 4 dense rows of the shared tile. Group g of the index region is the tile's
rows 4g to 4g + 3. A coordinate outside the table is TMA's to handle: a gather4 reads zeros for
that row, a scatter4 does not write it. So an index value outside `[0, V)` gathers zeros (as the
SIMT gather does) and scatters nothing, and a position past the end of a global index tensor
(the partial tile of the last block) gets the coordinate -1: its tile row is zeros after a
gather4 (the SIMT gather leaves it as it was) and nothing is scattered from it.
"""
from __future__ import annotations

import tvm
from tvm import tirx

from ..analysis import analyzer_for, region_parts
from .common import Operand, const, simplify
from .gather import row_index

ROWS = 4                        # rows one instruction moves
OUTSIDE = -1                    # a row coordinate outside every table


def groups(index: Operand) -> int:
    """The instructions of the stage: one per 4 indices (a constant count: validation and
    InstructionAnnotation checked it)."""
    return const(index.extents[index_dim(index)]) // ROWS


def index_dim(index: Operand) -> int:
    return (index.moved_dims() or [len(index.extents) - 1])[0]


def row_coordinates(index: Operand, table_rows: tirx.PrimExpr, group: tirx.Var,
                    ranges: dict) -> list:
    """The 4 row coordinates of instruction `group`: the index values, int32; -1 for a position
    not proven inside a global index tensor (`ranges`: of the block indices and symbolic dims)
    that lies past its end."""
    idim = index_dim(index)
    analyzer = analyzer_for({**ranges, group: tvm.ir.Range.from_min_extent(0, groups(index))})
    found = []
    for j in range(ROWS):
        position = group * ROWS + j
        row = tirx.Cast("int32", row_index(index, idim, position, table_rows))
        inside = index.starts[idim] + position < index.shape[idim]
        if index.kind == "global" and not analyzer.can_prove(inside):
            row = tirx.if_then_else(inside, row, tirx.IntImm("int32", OUTSIDE))
        found.append(row)
    return found


def table_box(table) -> tirx.BufferRegion:
    """The box of the tensor map: one row of the table region's columns, at row 0 (the
    instruction's row coordinates replace the row)."""
    buffer, starts, extents = region_parts(table)
    return buffer[0:1, starts[1]:starts[1] + extents[1]]


def tile_rows(tile, group: tirx.PrimExpr, count: int) -> tirx.BufferRegion:
    """`count` rows of the tile region from the first row of instruction `group`: its 4 rows
    (a gather4 writes them), or the first of them (the one-row store a scatter4 is planned as,
    see `scatter4`)."""
    buffer, starts, extents = region_parts(tile)
    first = simplify(starts[0] + group * ROWS)
    return buffer[first:first + count, starts[1]:starts[1] + extents[1]]
