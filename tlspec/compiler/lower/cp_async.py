"""A cp.async copy (global -> shared): the SIMT copy's loop (the same threads on the same
vectors, see VectorLoop), each vector one `cp.async` of 4, 8 or 16 bytes in place of a vector
load and store, then `commit_group` and `wait_group 0`: the stage ends with this thread's copies
in shared memory (the block barrier before other threads read the tile is ThreadSync's). No L2
cache hint: CUDA 13's ptxas can drop a hinted cp.async's cache policy and the copy then traps as
an illegal instruction (validation warns about an `eviction_policy` here).

Later passes read these calls with `..analysis.cp_async_parts` (a cp.async writes its tile
through the generic proxy, like a store: ThreadSync and InjectFenceProxy treat it as one), and
the guard passes zero-fill the copies whose source lies outside the tensor (`zero_fill_unless`).
"""
from __future__ import annotations

import tvm
from tvm import tirx
from tvm.ir.expr import Call
from tvm.script.ir_builder import tirx as T

from ..analysis import dtype_bytes
from .common import Operand, Stmt, VectorLoop, seq
from .copy import copy_shape

ACCESS_BYTES = (4, 8, 16)          # what one cp.async copies
_SRC_SIZE = 3                      # operand index of the source size (after dst, src, cp-size)


def ptx_name(nbytes: int) -> str:
    # .cg (cached in L2 only: a tile is read once) exists for 16 bytes only
    return f"cp.async.{'cg' if nbytes == 16 else 'ca'}.shared.global"


def lower_cp_async(dst: Operand, src: Operand, vector: int, threads: list[int] | None,
                   tid: tirx.Var, nthreads: int, wait: bool = True, commit: bool = True) -> Stmt:
    """The copy's cp.async loop, its commit (unless the group is committed elsewhere: a
    pipeline's loads), then (`wait`) the wait for this thread's copies; without it the group
    stays in flight (an `async_copy`)."""
    shape, ddims, sdims = copy_shape(dst, src)
    nbytes = vector * dtype_bytes(dst.dtype)
    name = ptx_name(nbytes)

    def body(point) -> Stmt:
        return tirx.Evaluate(T.ptx[name](
            dst.access.ptr_to(dst.indices(dict(zip(ddims, point)))),
            src.access.ptr_to(src.indices(dict(zip(sdims, point)))), nbytes))

    return seq([VectorLoop(shape, vector, threads).emit_whole(tid, nthreads, body),
                tirx.Evaluate(T.ptx["cp.async.commit_group"]()) if commit else None,
                tirx.Evaluate(T.ptx["cp.async.wait_group"](0)) if wait else None])


def zero_fill_unless(call: Call, cond: tirx.PrimExpr) -> Call:
    """The cp.async `call` reading its source only where `cond` holds: elsewhere its source size
    is 0 and it writes zeros, what a guarded load gives (a size set by an earlier guard stays)."""
    args = list(call.args)
    zero = tirx.IntImm("uint32", 0)
    if call.op.name.endswith("_src_size"):
        args[_SRC_SIZE] = tirx.if_then_else(cond, args[_SRC_SIZE], zero)
        return Call(call.op, args)
    full = tirx.IntImm("uint32", int(args[2]))
    args.insert(_SRC_SIZE, tirx.if_then_else(cond, full, zero))
    return Call(tvm.ir.Op.get(call.op.name + "_src_size"), args)
