"""dst[..., j, i] = src[..., i, j] between shared tiles, in one of two forms.

Columns (`lower_transpose`): each thread gathers `vector` consecutive elements of a src column into
registers (scalar loads) and writes them as one vector store into a dst row. Consecutive threads
take consecutive dst rows, i.e. consecutive src columns, so a warp's loads of one src row are
contiguous (no bank conflicts in any layout) and its vector stores land in different banks when dst
is padded or swizzled (LayoutInference sees to that).

Blocks (`lower_transpose_blocks`, the spec's `form: blocks`): each thread moves a block of H src
rows x V src columns: H vector loads of V elements (16 bytes) into registers, then V stores of
H-element vectors into dst rows, gathered from the registers' columns. Shared memory is read in
vectors too, where the column form reads a column's elements one at a time (a warp's access of
2-byte elements reads 64 bytes). Consecutive threads take consecutive block rows bi, which are
consecutive vectors of one dst row (a warp's stores fill distinct banks), then the next block
column bj = g // RB. (Block columns dealt along a diagonal, (g // RB + bi) % CB, to spread the
loads over the banks of a padded src tile, were miscompiled: tvm's FlattenBuffer rewrote the
loads' `tid % 2 * 128 + (tid + 1) % 32 // 2 * 4` into `(tid + 1) % 2 * 128 + ...`, rows other
than the stores', a wrong transpose on the H200 (differential seed 34: k34_326, k34_1429); the
two forms measured the same with it.)
"""
from __future__ import annotations

from tvm import tirx

from .common import Operand, Stmt, ceildiv, const, guard, loop, seq, simplify


def lower_transpose(dst: Operand, src: Operand, vector: int, tid: tirx.Var, nthreads: int
                    ) -> Stmt:
    *batch, cols, rows = [simplify(e) for e in dst.extents]   # dst is (..., C, R)
    nd = len(dst.extents)
    groups = simplify(tirx.floordiv(rows, vector))
    total = _with_batch(cols * groups, batch)

    def step(it):
        g = it * nthreads + tid
        c = tirx.floormod(g, cols)
        r0 = tirx.floormod(tirx.floordiv(g, cols), groups) * vector
        outer = _batch_point(tirx.floordiv(g, cols * groups), batch)

        def gather(v):
            return tirx.BufferStore(column, src.load({**outer, nd - 2: r0 + v, nd - 1: c}), [v])

        def scatter(v):
            return dst.store(tirx.BufferLoad(column, [v]), {**outer, nd - 2: c, nd - 1: r0}, v)

        tail = g < total if const(total) is None or const(total) % nthreads else None
        return guard(tail, seq([loop("v", vector, gather, kind="unroll"),
                                loop("v", vector, scatter, kind="vector")]))

    column = tirx.decl_buffer((vector,), src.dtype, name="column", scope="local")
    return seq([tirx.AllocBuffer(column), loop("it", ceildiv(total, nthreads), step)])


def lower_transpose_blocks(dst: Operand, src: Operand, vector: int, height: int,
                           tid: tirx.Var, nthreads: int) -> Stmt:
    """The blocks form, blocks of `height` src rows x `vector` src columns: `vector` divides
    src's rows and `height` dst's, and both tiles' rows hold such vectors at their multiples
    (InstructionAnnotation has checked)."""
    *batch, cols, rows = [simplify(e) for e in dst.extents]   # dst is (..., C, R)
    nd = len(dst.extents)
    row_blocks = simplify(tirx.floordiv(rows, height))        # along src rows (dst columns)
    col_blocks = simplify(tirx.floordiv(cols, vector))        # along src columns (dst rows)
    total = _with_batch(row_blocks * col_blocks, batch)

    def step(it):
        g = it * nthreads + tid
        bi = tirx.floormod(g, row_blocks)
        bj = tirx.floormod(tirx.floordiv(g, row_blocks), col_blocks)
        outer = _batch_point(tirx.floordiv(g, row_blocks * col_blocks), batch)

        def load(k):           # src row bi*H + k, columns bj*V .. + V -> block[k*V .. + V]
            return loop("v", vector, lambda v: tirx.BufferStore(
                block, src.load({**outer, nd - 2: bi * height + k, nd - 1: bj * vector}, v),
                [k * vector + v]), kind="vector")

        def store(k):          # dst row bj*V + k (src column bj*V + k) from block[v*V + k]
            return seq([loop("v", height, lambda v: tirx.BufferStore(
                            column, tirx.BufferLoad(block, [v * vector + k]), [v]), kind="unroll"),
                        loop("v", height, lambda v: dst.store(
                            tirx.BufferLoad(column, [v]),
                            {**outer, nd - 2: bj * vector + k, nd - 1: bi * height}, v),
                            kind="vector")])

        tail = g < total if const(total) is None or const(total) % nthreads else None
        return guard(tail, seq([loop("k", height, load, kind="unroll"),
                                loop("k", vector, store, kind="unroll")]))

    block = tirx.decl_buffer((height * vector,), src.dtype, name="block", scope="local")
    column = tirx.decl_buffer((height,), src.dtype, name="column", scope="local")
    return seq([tirx.AllocBuffer(block), tirx.AllocBuffer(column),
                loop("it", ceildiv(total, nthreads), step)])


def _with_batch(per_matrix: tirx.PrimExpr, batch: list[tirx.PrimExpr]) -> tirx.PrimExpr:
    """The work items of all the batch's matrices."""
    total = simplify(per_matrix)
    for extent in batch:
        total = simplify(total * extent)
    return total


def _batch_point(rest: tirx.PrimExpr, batch: list[tirx.PrimExpr]) -> dict[int, tirx.PrimExpr]:
    """The batch dims' offsets of matrix number `rest` (the last batch dim fastest)."""
    outer = {}
    for d in reversed(range(len(batch))):
        outer[d] = tirx.floormod(rest, batch[d])
        rest = tirx.floordiv(rest, batch[d])
    return outer
