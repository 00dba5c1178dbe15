"""dst[..., j, i] = src[..., i, j] between shared tiles.

Each thread gathers `vector` consecutive elements of a src column into registers (scalar loads)
and writes them as one vector store into a dst row. Consecutive threads take consecutive dst rows, i.e. consecutive src columns,
so a warp's loads of one src row are contiguous (no bank conflicts in any layout) and its vector
stores land in different banks when dst is padded or swizzled (LayoutInference sees to that).
"""
from __future__ import annotations

from tvm import tirx

from .common import Operand, Stmt, ceildiv, const, guard, loop, seq, simplify


def lower_transpose(dst: Operand, src: Operand, vector: int, tid: tirx.Var, nthreads: int
                    ) -> Stmt:
    *batch, cols, rows = [simplify(e) for e in dst.extents]   # dst is (..., C, R)
    nd = len(dst.extents)
    groups = simplify(tirx.floordiv(rows, vector))
    total = simplify(cols * groups)
    for extent in batch:
        total = simplify(total * extent)

    def step(it):
        g = it * nthreads + tid
        c = tirx.floormod(g, cols)
        r0 = tirx.floormod(tirx.floordiv(g, cols), groups) * vector
        rest = tirx.floordiv(g, cols * groups)
        outer = {}
        for d in reversed(range(nd - 2)):
            outer[d] = tirx.floormod(rest, batch[d])
            rest = tirx.floordiv(rest, batch[d])

        def gather(v):
            return tirx.BufferStore(column, src.load({**outer, nd - 2: r0 + v, nd - 1: c}), [v])

        def scatter(v):
            return dst.store(tirx.BufferLoad(column, [v]), {**outer, nd - 2: c, nd - 1: r0}, v)

        tail = g < total if const(total) is None or const(total) % nthreads else None
        return guard(tail, seq([loop("v", vector, gather, kind="unroll"),
                                loop("v", vector, scatter, kind="vector")]))

    column = tirx.decl_buffer((vector,), src.dtype, name="column", scope="local")
    return seq([tirx.AllocBuffer(column), loop("it", ceildiv(total, nthreads), step)])
