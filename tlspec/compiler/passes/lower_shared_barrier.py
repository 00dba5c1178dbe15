"""LowerSharedBarrier: initialise the kernel's mbarriers (`_tlspec_mbar`, placed by
MergeSharedMemoryAllocations) where the pool is declared, before any stage uses them: thread 0
initialises every slot with its arrival count (the spec's barrier arrays and the pipelines' with
their `arrive_count`, the compiler's own with one), then `fence.proxy.async.shared::cta` makes the
initialisation visible to the async proxy (the TMA unit completes transactions on these
barriers) and a block barrier makes it visible to every thread before any arrives or waits."""
from __future__ import annotations

import tvm_ffi
from tvm import tirx
from tvm.script.ir_builder import tirx as T

from ..analysis import attr, thread_info
from ..lower.common import seq
from .merge_shared_memory_allocations import MBARRIERS


def arrival_counts(func, slots: int) -> list[int]:
    """The arrivals that complete a phase of each mbarrier slot."""
    counts = [1] * slots
    for first, count, arrive_count in attr(func, "tlspec.barriers", {}).values():
        counts[int(first):int(first) + int(count)] = [int(arrive_count)] * int(count)
    return counts


def initialisation(func, mbar: tirx.Buffer) -> tirx.Stmt:
    tid, _ = thread_info(func)
    inits = [tirx.Evaluate(T.ptx.mbarrier.init.shared.b64(mbar.ptr_to([k]), T.uint32(n)))
             for k, n in enumerate(arrival_counts(func, int(mbar.shape[0])))]
    return seq([tirx.IfThenElse(tid == 0, seq(inits), None),
                tirx.Evaluate(T.ptx["fence.proxy.async.shared::cta"]()),
                tirx.Evaluate(T.cuda.cta_sync())])


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.LowerSharedBarrier")
class LowerSharedBarrier:
    def transform_function(self, func, mod, ctx):
        def after_declaration(block):
            out = []
            for stmt in block.seq:
                out.append(stmt)
                if isinstance(stmt, tirx.DeclBuffer) and stmt.buffer.name == MBARRIERS:
                    out.append(initialisation(func, stmt.buffer))
            return tirx.SeqStmt(out)

        return func.with_body(tvm_ffi.structural_map(func.body, (tirx.SeqStmt, after_declaration),
                                                     order="post"))
