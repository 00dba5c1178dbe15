"""AnnotateWarpGroupRegAlloc: in a warp-specialized kernel whose producer is a warp group, move
registers from the producer (which only waits and issues TMA loads) to the consumers with
`setmaxnreg`, where that raises the consumers' count.

ptxas honours `setmaxnreg` only when the kernel's register count at entry is fixed by
`__launch_bounds__(threads, blocks per SM)`: every thread then starts with
`65536 / (blocks * threads)` registers (rounded down to 8), the block's pool. The blocks per SM
are what the kernel's shared memory allows (228 KB per SM, 1 KB reserved per block; at most
2048 threads and 32 blocks), so that the bound never lowers occupancy. The producer drops to
PRODUCER_REGISTERS (`setmaxnreg.dec`), the consumers rise to what the rest of the pool holds, at
most CONSUMER_REGISTERS (`setmaxnreg.inc`): an increase beyond the pool would wait forever, so
the compiler checks the cubin's entry count against the plan (`tlspec.register_alloc`, which
SplitHostDevice turns into the bound; see `driver`). Where the consumers would not gain (a pool of few registers per thread, as for a
small kernel with many blocks per SM, or a count already above what they would get), no
instruction and no bound is emitted.
"""
from __future__ import annotations

from tvm import tirx
from tvm.script.ir_builder import tirx as T

from ..analysis import attr
from .producer_consumer_warp_specialized import ROLE_ATTR, WARP_GROUP, WS_ATTR, is_role_split

PRODUCER_REGISTERS = 40
CONSUMER_REGISTERS = 240
SM_SHARED_BYTES = 228 * 1024
BLOCK_RESERVED_BYTES = 1024
SM_REGISTERS = 65536
SM_THREADS = 2048
SM_BLOCKS = 32
# {"threads", "producers", "blocks_per_sm", "entry", "producer", "consumer"}: the plan
PLAN_ATTR = "tlspec.register_alloc"


def plan(consumers: int, producers: int, shared_bytes: int) -> dict | None:
    """The register counts of a warp-specialized kernel, or None where none should move."""
    if producers != WARP_GROUP or consumers % WARP_GROUP:
        return None
    threads = consumers + producers
    blocks = min(SM_THREADS // threads, SM_BLOCKS,
                 SM_SHARED_BYTES // (shared_bytes + BLOCK_RESERVED_BYTES))
    entry = min(SM_REGISTERS // (blocks * threads), 255) // 8 * 8
    consumer = min(CONSUMER_REGISTERS,
                   (entry * threads - PRODUCER_REGISTERS * producers) // consumers // 8 * 8)
    if entry <= PRODUCER_REGISTERS or consumer <= entry:
        return None
    return {"threads": threads, "producers": producers, "blocks_per_sm": blocks, "entry": entry,
            "producer": PRODUCER_REGISTERS, "consumer": consumer}


def _setmaxnreg(direction: str, count: int) -> tirx.Stmt:
    return tirx.Evaluate(T.ptx[f"setmaxnreg.{direction}.sync.aligned.u32"](count))


def _annotated(stmt, registers: dict):
    """The kernel body with the role split's branches starting with their setmaxnreg."""
    if is_role_split(stmt):
        consumer, producer = stmt.then_case, stmt.else_case
        return tirx.IfThenElse(stmt.condition, tirx.AttrStmt(
            consumer.node, ROLE_ATTR, consumer.value,
            tirx.SeqStmt([_setmaxnreg("inc", registers["consumer"]), consumer.body])),
            tirx.AttrStmt(producer.node, ROLE_ATTR, producer.value,
                          tirx.SeqStmt([_setmaxnreg("dec", registers["producer"]),
                                        producer.body])))
    if isinstance(stmt, tirx.SeqStmt):
        return tirx.SeqStmt([_annotated(s, registers) for s in stmt.seq])
    if isinstance(stmt, tirx.AttrStmt):
        return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, _annotated(stmt.body, registers))
    return stmt


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.AnnotateWarpGroupRegAlloc")
class AnnotateWarpGroupRegAlloc:
    def transform_function(self, func, mod, ctx):
        roles = attr(func, WS_ATTR, None)
        if roles is None:
            return func
        registers = plan(int(roles["consumers"]), int(roles["producers"]),
                         int(attr(func, "tlspec.shared_bytes", 0)))
        if registers is None:
            return func
        return func.with_body(_annotated(func.body, registers)).with_attr(PLAN_ATTR, registers)
