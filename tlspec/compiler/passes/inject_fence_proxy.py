"""InjectFenceProxy: a TMA store reads shared memory through the async proxy; what the threads
wrote there with ordinary stores or cp.async copies (the generic proxy: only the bulk copies
write through the async proxy) is visible to it only after `fence.proxy.async.shared::cta`,
executed by the writing threads before the block barrier that precedes the store. So is a
global tensor the threads wrote and a TMA load then reads (an `inout` argument), after
`fence.proxy.async` (every state space), and a global tensor they wrote and a TMA store then
writes again (the two writes of an element land in program order only after it). Insert that
fence before every TMA copy that reads, or stores to a tensor, what such writes wrote since the
last fence: ahead
of the spec's own `sync_threads` when one directly precedes the store, else right before it
(ThreadSync then puts the block barrier between the fence and the store). Loops count their
own later writes as earlier ones (the next iteration). In a warp-specialized kernel the
consumers' branch is visited like the rest; the producer's TMA loads read only tensors no stage
writes (ProducerConsumerWarpSpecialized's rule), so it needs no fence."""
from __future__ import annotations

from tvm import tirx
from tvm.script.ir_builder import tirx as T

from ..analysis import global_names, is_block_sync, is_tma, memory_accesses, stage_kind
from ..lower.common import rebuilt, seq
from .producer_consumer_warp_specialized import is_role_split


def fence(space: str = ".shared::cta") -> tirx.Stmt:
    return tirx.Evaluate(T.ptx["fence.proxy.async" + space]())


class _Fencer:
    def __init__(self, tensors: set[str]):
        self.tensors = tensors             # the global tensors
        self.dirty: set[str] = set()       # tiles and tensors written by generic stores since the last fence

    def visit_list(self, stmts) -> list:
        out = []
        for stmt in stmts:
            if isinstance(stmt, tirx.For) and stage_kind(stmt) is None:
                self.dirty |= memory_accesses(stmt)[1]          # loop-carried writes
                stmt = rebuilt(stmt, self.visit(stmt.body))
            elif isinstance(stmt, (tirx.SeqStmt, tirx.AttrStmt)) and stage_kind(stmt) is None:
                stmt = self.visit(stmt)
            elif is_role_split(stmt):          # the producer only loads what no thread writes
                stmt = tirx.IfThenElse(stmt.condition, self.visit(stmt.then_case),
                                       stmt.else_case)
            else:
                _, writes, async_reads, async_writes = memory_accesses(stmt)
                touched = async_reads | (async_writes & self.tensors)
                if is_tma(stmt) and touched & self.dirty:
                    at = len(out)
                    while at and is_block_sync(out[at - 1]):
                        at -= 1
                    out.insert(at, fence("" if touched & self.dirty & self.tensors
                                         else ".shared::cta"))
                    self.dirty.clear()
                self.dirty |= writes
            out.append(stmt)
        return out

    def visit(self, stmt):
        if isinstance(stmt, tirx.SeqStmt):
            return tirx.SeqStmt(self.visit_list(stmt.seq))
        if isinstance(stmt, tirx.AttrStmt) and stage_kind(stmt) is None:
            return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, self.visit(stmt.body))
        return seq(self.visit_list([stmt]))      # a stage, or a loop nested right in a loop


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.InjectFenceProxy")
class InjectFenceProxy:
    def transform_function(self, func, mod, ctx):
        return func.with_body(_Fencer(global_names(func)).visit(func.body))
