"""InjectSoftwarePipeline: rewrite every `pipeline` loop that PipelinePlanning pipelined into a
prologue and a steady loop built from the explicit asynchronous stages, so that the loads of
`num_stages - 1` later iterations are in flight while an iteration's consumers run:

    for j in [0, P):                      P = num_stages - 1, E = the trip count
        issue(j)
    for k in [0, E):
        issue(k + P)
        wait for iteration k's loads
        the consumers of iteration k

`issue(j)` (nothing when j >= E) arms barrier `j % num_stages` of the loop's own barrier array
(`_pipeline<n>`, one per slot) with the bytes of the iteration's TMA loads and issues them on it
(`tma_copy`), and issues its cp.async loads (`async_copy`, not committing on their own); one
cp.async group is committed per iteration, an empty one past the end, so that `async_wait` with `pending: P` always
leaves exactly the later iterations' groups in flight. The wait for iteration k is
`barrier_wait` on barrier `k % num_stages` and/or `async_wait`. ThreadSync then adds the block
barriers: after a cp.async wait (other threads' copies), and at the end of the body when the
next iteration's loads overwrite the slot this iteration's consumers read.

The parity of a wait comes from the barrier's own history, not from the loop index alone: a
pipeline loop inside other loops is entered again, and each entry continues its barriers' phases.
Barrier `s` completes `uses(s) = ceil(max(E - s, 0) / num_stages)` phases per entry, so iteration
k of the entry numbered `e` (the enclosing loops' iterations before it) waits for parity
`(e * uses(k % num_stages) + k // num_stages) % 2` (PipelinePlanning runs such loops serially
when E or an enclosing trip count varies between entries).
"""
from __future__ import annotations

from math import prod

from tvm import tirx

from .. import ops
from ..analysis import attr, dtype_bytes, region_parts
from ..lower.common import const, rebuilt, seq, substitute
from ..tileir import PIPELINE_ATTR
from .lower_tile_op import COMMIT
from .pipeline_planning import PLAN_ATTR, body_stmts, map_pipeline_loops, phase_count
from .producer_consumer_warp_specialized import CHOICE_ATTR


class _Injector:
    def __init__(self, func):
        self.barriers = {str(k): [int(x) for x in v]
                         for k, v in attr(func, "tlspec.barriers", {}).items()}

    def rewrite(self, loop: tirx.For, outer: list[tirx.For]) -> tirx.Stmt:
        loads = [int(i) for i in loop.annotations[PLAN_ATTR]["loads"]]
        if not loads or loop.annotations.get(CHOICE_ATTR, {}).get("chosen", False):
            return loop             # runs as written, or ProducerConsumerWarpSpecialized's
        return self._pipeline(loop, loads, outer)

    def _pipeline(self, loop: tirx.For, loads: list[int], outer: list[tirx.For]):
        stages = int(loop.annotations[PIPELINE_ATTR]["num_stages"])
        ahead, extent, k = stages - 1, loop.extent, loop.loop_var
        pointer = str(loop.annotations[PIPELINE_ATTR]["stage"])
        stmts = body_stmts(loop)
        by_tma = [i for i in loads if ops.config_of(stmts[i])["tlspec.instruction"] == "tma"]
        tma = [stmts[i] for i in by_tma]
        cp_async = [stmts[i] for i in loads if i not in by_tma]
        consumers = [s for i, s in enumerate(stmts) if i not in loads]
        sync = {ops.STAGE: pointer}
        first = sum(count for _, count, _ in self.barriers.values())
        if tma:
            self.barriers[f"_pipeline{len(self.barriers)}"] = [first, stages, 1]
        nbytes = sum(prod(const(e) for e in region_parts(c.args[1])[2])
                     * dtype_bytes(c.args[1].source.dtype) for c in tma)

        def issue(j: tirx.PrimExpr):
            moves = []
            if tma:
                slot = tirx.floormod(j, stages) + first
                moves.append(ops.tile_call("barrier_arrive", [slot, tirx.IntImm("int32", nbytes)], sync))
                moves += [ops.tile_call("tma_copy", [*substitute(c, k, j).args[:2], slot],
                                ops.config_of(c)) for c in tma]
            moves += [ops.tile_call("async_copy", list(substitute(c, k, j).args[:2]),
                                    {**ops.config_of(c), COMMIT: False,
                                     "tlspec.instruction": "cp_async"}) for c in cp_async]
            issued = tirx.IfThenElse(j < extent, seq(moves), None)
            return seq([issued, ops.tile_call("async_commit", [], sync)]) if cp_async else issued

        waits = []
        if tma:
            parity = tirx.floormod(phase_count(k, extent, stages, outer), 2)
            waits.append(ops.tile_call("barrier_wait", [tirx.floormod(k, stages) + first, parity],
                                       sync))
        if cp_async:
            waits.append(ops.tile_call("async_wait", [tirx.IntImm("int32", ahead)], sync))
        j = tirx.Var(f"{k.name}_ahead", "int32")
        prologue = tirx.For(j, tirx.IntImm("int32", 0), tirx.IntImm("int32", ahead),
                            tirx.ForKind.SERIAL, issue(j))
        steady = rebuilt(loop, seq([issue(k + ahead), *waits, *consumers]))
        return seq([prologue, steady])


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.InjectSoftwarePipeline")
class InjectSoftwarePipeline:
    def transform_function(self, func, mod, ctx):
        injector = _Injector(func)
        body = map_pipeline_loops(func.body, injector.rewrite)
        return func.with_body(body).with_attr("tlspec.barriers", injector.barriers)
