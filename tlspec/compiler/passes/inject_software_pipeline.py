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
from tvm.script.ir_builder import tirx as T

from .. import ops
from ..analysis import attr, dtype_bytes, region_parts
from ..lower.cluster import cluster_rank
from ..lower.common import const, rebuilt, seq, substitute
from ..tileir import PIPELINE_ATTR
from .lower_tile_op import COMMIT, REMOTE_RANK
from .pipeline_planning import (PLAN_ATTR, body_stmts, is_multicast, map_pipeline_loops,
                                phase_count)
from .producer_consumer_warp_specialized import CHOICE_ATTR


class _Injector:
    def __init__(self, func):
        self.func = func
        self.barriers = {str(k): [int(x) for x in v]
                         for k, v in attr(func, "tlspec.barriers", {}).items()}

    def rewrite(self, loop: tirx.For, outer: list[tirx.For]) -> tirx.Stmt:
        loads = [int(i) for i in loop.annotations[PLAN_ATTR]["loads"]]
        if not loads or loop.annotations.get(CHOICE_ATTR, {}).get("chosen", False):
            return loop             # runs as written, or ProducerConsumerWarpSpecialized's
        return self._pipeline(loop, loads, outer)

    def _ring(self, count: int, arrivals: int) -> int:
        """The first slot of a new array of `count` mbarriers."""
        first = sum(n for _, n, _ in self.barriers.values())
        self.barriers[f"_pipeline{len(self.barriers)}"] = [first, count, arrivals]
        return first

    def _pipeline(self, loop: tirx.For, loads: list[int], outer: list[tirx.For]):
        stages = int(loop.annotations[PIPELINE_ATTR]["num_stages"])
        ahead, extent, k = stages - 1, loop.extent, loop.loop_var
        pointer = str(loop.annotations[PIPELINE_ATTR]["stage"])
        stmts = body_stmts(loop)
        by_tma = [i for i in loads if ops.config_of(stmts[i])["tlspec.instruction"] == "tma"]
        tma = [stmts[i] for i in by_tma if not is_multicast(stmts[i])]
        multicast = [stmts[i] for i in by_tma if is_multicast(stmts[i])]
        cp_async = [stmts[i] for i in loads if i not in by_tma]
        consumers = [s for i, s in enumerate(stmts) if i not in loads]
        sync = {ops.STAGE: pointer}
        first = self._ring(stages, 1) if by_tma else None
        ring = _MulticastRing(self, multicast, stages, sync) if multicast else None
        nbytes = _box_bytes(tma)

        def issue(j: tirx.PrimExpr):
            moves = []
            if by_tma:
                slot = tirx.floormod(j, stages) + first
                if ring:
                    moves.append(ring.wait_released(j, extent, outer))
                    moves.append(ring.arm(slot, nbytes))
                else:
                    moves.append(_arrive(slot, nbytes, sync))
                moves += [ops.tile_call("tma_copy", [*substitute(c, k, j).args[:2], slot],
                                        ops.config_of(c)) for c in tma + multicast]
            moves += [ops.tile_call("async_copy", list(substitute(c, k, j).args[:2]),
                                    {**ops.config_of(c), COMMIT: False,
                                     "tlspec.instruction": "cp_async"}) for c in cp_async]
            issued = tirx.IfThenElse(j < extent, seq(moves), None)
            return seq([issued, ops.tile_call("async_commit", [], sync)]) if cp_async else issued

        waits = []
        if by_tma:
            parity = tirx.floormod(phase_count(k, extent, stages, outer), 2)
            wait = ops.tile_call("barrier_wait", [tirx.floormod(k, stages) + first, parity], sync)
            waits.append(ring.receiving(wait, nbytes) if ring else wait)
        if cp_async:
            waits.append(ops.tile_call("async_wait", [tirx.IntImm("int32", ahead)], sync))
        j = tirx.Var(f"{k.name}_ahead", "int32")
        prologue = tirx.For(j, tirx.IntImm("int32", 0), tirx.IntImm("int32", ahead),
                            tirx.ForKind.SERIAL, issue(j))
        release = [ring.release(k)] if ring else []
        steady = rebuilt(loop, seq([issue(k + ahead), *waits, *consumers, *release]))
        if not ring:
            return seq([prologue, steady])
        # the issuer stays until every block released the loop's last slots: their releases
        # are arrivals on its mbarriers (and the next entry of the loop refills them)
        last = tirx.Var(f"{k.name}_last", "int32")
        tail = tirx.For(last, extent, tirx.IntImm("int32", stages), tirx.ForKind.SERIAL,
                        ring.wait_released(last, extent, outer))
        return seq([prologue, steady, tail])


class _MulticastRing:
    """The cluster side of a pipeline loop whose loads include TMA multicasts (one
    `cluster_mask`, issued by the mask's lowest rank into the same slot of every block of the
    mask). A slot is refilled in every block at once, so the issuer may refill it only when every
    block of the mask is done with it: each such block releases the slot after its consumers (a
    block barrier, then thread 0's arrival on the issuer's `empty` mbarrier of the slot, through
    distributed shared memory), and the issuer waits on `empty` before arming and issuing, with
    the parity of the slot's previous use (a fresh barrier passes parity 1 at once). Each block
    arms its own `full` slot with the bytes it receives. After the loop the issuer waits for the
    last releases, so that no block arrives on the mbarriers of a block that has exited."""

    def __init__(self, injector: _Injector, multicast: list, stages: int, sync: dict):
        mask = int(ops.config_of(multicast[0])["cluster_mask"])
        self.rank = cluster_rank(injector.func)
        self.issuer = (mask & -mask).bit_length() - 1
        self.in_mask = tirx.floormod(tirx.shift_right(tirx.IntImm("int32", mask), self.rank),
                                     2) == 1
        self.stages, self.sync = stages, sync
        self.everyone = mask == (1 << prod(int(n) for n in attr(injector.func,
                                                                "tlspec.cluster"))) - 1
        self.nbytes = _box_bytes(multicast)
        self.empty = injector._ring(stages, bin(mask).count("1"))

    def _masked(self, stmt: tirx.Stmt, outside: tirx.Stmt | None = None) -> tirx.Stmt:
        return stmt if self.everyone else tirx.IfThenElse(self.in_mask, stmt, outside)

    def wait_released(self, j, extent, outer) -> tirx.Stmt:
        """The issuer's wait until every block of the mask released slot `j % stages` from its
        previous use."""
        parity = tirx.floormod(phase_count(j, extent, self.stages, outer) + 1, 2)
        wait = ops.tile_call("barrier_wait", [tirx.floormod(j, self.stages) + self.empty, parity],
                             self.sync)
        return tirx.IfThenElse(self.rank == self.issuer, wait, None)

    def arm(self, slot, plain: int) -> tirx.Stmt:
        """This block's arrival on its `full` slot with the bytes it will receive: the
        multicasts' where it is in the mask, and its own TMA loads'."""
        return self._masked(_arrive(slot, plain + self.nbytes, self.sync),
                            _arrive(slot, plain, self.sync) if plain else None)

    def receiving(self, wait: tirx.Stmt, plain: int) -> tirx.Stmt:
        """The wait for iteration k's loads, in the blocks that receive any."""
        return wait if plain else self._masked(wait)

    def release(self, k) -> tirx.Stmt:
        """After the consumers: the block is done with slot `k % stages`; tell the issuer."""
        arrive = ops.tile_call("barrier_arrive", [tirx.floormod(k, self.stages) + self.empty,
                                                  tirx.IntImm("int32", 0)],
                               {**self.sync, REMOTE_RANK: self.issuer})
        return seq([tirx.Evaluate(T.cuda.cta_sync()), self._masked(arrive)])


def _arrive(slot, nbytes: int, sync: dict) -> tirx.Stmt:
    return ops.tile_call("barrier_arrive", [slot, tirx.IntImm("int32", nbytes)], sync)


def _box_bytes(copies: list) -> int:
    return sum(prod(const(e) for e in region_parts(c.args[1])[2])
               * dtype_bytes(c.args[1].source.dtype) for c in copies)


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.InjectSoftwarePipeline")
class InjectSoftwarePipeline:
    def transform_function(self, func, mod, ctx):
        injector = _Injector(func)
        body = map_pipeline_loops(func.body, injector.rewrite)
        return func.with_body(body).with_attr("tlspec.barriers", injector.barriers)
