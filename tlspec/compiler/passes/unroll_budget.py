"""UnrollBudget: a code-size budget for unrolling, as LLVM's unroll thresholds are.

The lowering marks each loop of at most UNROLL_LIMIT trips for unrolling (ForKind.UNROLLED),
which is right for a kernel of a few stages. NVRTC's time and memory grow faster than the code
it compiles, so a kernel of hundreds of guarded stages, unrolled, takes minutes and gigabytes
(bench/RESULTS.md). This pass estimates the size of the function once tvm's UnrollLoop has
copied every marked body (`unrolled_size`: IR nodes, each loop body counted once per trip);
past BUDGET it keeps the marked loops as loops and annotates them `disable_unroll`, which tvm's
CUDA code generation prints as `#pragma unroll 1` (without it NVRTC unrolls small constant
loops on its own, and takes as long). Under the budget the function is returned untouched.

Loops that index a register array (a fragment, eviction staging, a transpose's column) stay
unrolled: indexed by a loop counter, the array would move to local memory.
"""
from __future__ import annotations

import tvm
import tvm_ffi
from tvm import tirx
from tvm.ir.expr import TensorLoad

from ..analysis import uses
from ..lower.common import const, rebuilt

# Estimated IR nodes after unrolling. The largest kernel of specs/ and tests/gpu/matrix has
# ~6,500 (copy_evict_chunked_f32), the budget leaves them three times that; one guarded gather
# of bench/bench_compile_scale.py is ~870, so a kernel of more than ~23 of them is rolled
# (unrolled, 50 take NVRTC 1.9 s, 200 take 21 s; rolled 0.4 s and 1.8 s).
BUDGET = 20_000
NO_UNROLL = "disable_unroll"


def unrolled_size(stmt) -> int:
    """IR nodes (statements and expressions) of `stmt` once its marked loops are unrolled."""
    total = 0

    def visit(node):
        nonlocal total
        if isinstance(node, tirx.For):
            trips = const(node.extent) if node.kind == tirx.ForKind.UNROLLED else None
            total += 1 + (trips or 1) * unrolled_size(node.body)
            return tvm_ffi.WalkResult.SKIP
        if isinstance(node, tirx.Buffer):
            return tvm_ffi.WalkResult.SKIP    # its declaration, not code
        total += 1
        return None

    tvm_ffi.structural_walk(stmt, ((tirx.For, tirx.Buffer, tirx.Stmt, tvm.ir.expr.Expr), visit),
                            order="pre")
    return total


def _indexes_registers(loop: tirx.For) -> bool:
    found = []

    def on_access(buffer, indices):
        if buffer.scope().startswith("local") and any(uses(i, loop.loop_var) for i in indices):
            found.append(buffer)

    tvm_ffi.structural_walk(loop.body, [
        (TensorLoad, lambda load: on_access(load.source, load.indices)),
        (tirx.BufferStore, lambda store: on_access(store.buffer, store.indices))], order="pre")
    return bool(found)


def _rolled(stmt):
    def roll(loop):
        if loop.kind != tirx.ForKind.UNROLLED or _indexes_registers(loop):
            return loop
        return rebuilt(loop, kind=tirx.ForKind.SERIAL,
                       annotations={**loop.annotations, NO_UNROLL: True})

    return tvm_ffi.structural_map(stmt, (tirx.For, roll), order="post")


@tvm.transform.module_pass(opt_level=0, name="tlspec.UnrollBudget")
def UnrollBudget(mod, ctx):  # noqa: N802 (named like a pass)
    for gv, func in mod.functions.items():
        if isinstance(func, tirx.PrimFunc) and unrolled_size(func.body) > BUDGET:
            mod[gv] = func.with_body(_rolled(func.body))
    return mod
