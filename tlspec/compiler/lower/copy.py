"""A SIMT copy: every thread moves `vector` contiguous elements per access (see VectorLoop).
Fragments (register tiles) are addressed by the thread's element number, so two copies with the
same loop fill and drain a fragment consistently (InstructionAnnotation checks they agree)."""
from __future__ import annotations

from tvm import tirx

from .common import Operand, Stmt, VectorLoop


def copy_shape(dst: Operand, src: Operand) -> tuple[list, list[int], list[int]]:
    """The iteration shape (dst's extents other than 1) and each side's iterated dimensions."""
    ddims, sdims = dst.moved_dims(), src.moved_dims()
    if not ddims:                      # a single element
        ddims, sdims = [len(dst.extents) - 1], [len(src.extents) - 1]
    return [dst.extents[d] for d in ddims], ddims, sdims


def lower_copy(dst: Operand, src: Operand, vector: int, threads: list[int] | None,
               tid: tirx.Var, nthreads: int) -> Stmt:
    shape, ddims, sdims = copy_shape(dst, src)

    def body(point, lane, slot) -> Stmt:
        if src.kind == "fragment":
            value = tirx.BufferLoad(src.access, [slot])
        else:
            value = src.load(dict(zip(sdims, point)), lane)
        if dst.kind == "fragment":
            return tirx.BufferStore(dst.access, value, [slot])
        return dst.store(value, dict(zip(ddims, point)), lane)

    return VectorLoop(shape, vector, threads).emit(tid, nthreads, body)
