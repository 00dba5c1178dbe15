"""ProducerConsumerWarpSpecialized: run the TMA loads of pipeline loops in a producer warp of
their own, so that the launch's threads (the consumers) never stop to issue them.

A loop is specialized when its spec asks for it (`warp_specialize: true`; a located compile
error says why when it cannot be); `auto` (the default) does not specialize, because a producer
warp measured level with the every-thread pipeline on every data-movement loop tried on the H200
(bench/RESULTS.md), and --dump-ir says so on the loop (`tlspec.warp_specialize`). A loop can be
specialized when PipelinePlanning pipelined it with TMA loads only, the target has TMA, the
block has room for one more warp, no stage outside the loop touches a tile its loads write (the
producer runs ahead of everything the consumers do, so two loops cannot share a ring's tile),
and no stage of the kernel writes a global tensor its loads read.

The kernel then launches P more threads (one warp group, P = 128, where the consumers are whole
warp groups, so that AnnotateWarpGroupRegAlloc can move registers between them; else one warp)
and splits after the allocations:

    if tid < n:                                 consumers: the whole kernel as written, each
        ... for k in [0, E):                    specialized loop's loads replaced by
                wait full[k % S]                a wait for the slot, and a release of it
                the consumers of iteration k
                arrive empty[k % S]             (every consumer thread: arrive count n)
    else:                                       producer: the loops around the specialized loops,
        if tid == n:                            and in each of those, one thread that
            for k in [0, E):
                wait empty[k % S]               waits until the consumers released the slot,
                arrive full[k % S], expect_tx   announces the bytes, and issues the loads
                the TMA loads of iteration k    (FuseMBarrierArriveExpectTx's fused form)

`full` and `empty` are rings of S = num_stages mbarriers (`_ws<i>_full`, `_ws<i>_empty` in
`tlspec.barriers`). Use u of slot s (counted across the loop's entries, as InjectSoftwarePipeline
counts them) waits for parity u % 2 of `full` in the consumers and (u + 1) % 2 of `empty` in the
producer: a fresh mbarrier reports its previous phase (parity 1) complete, so the first S
iterations do not wait. Every iteration, the first, the last and a loop of 0 or 1 iterations
included, is the same code. Each ring stage carries `tlspec.ring`: the protocol orders it, so
ThreadSync adds no block barrier for it; in the consumers ThreadSync's barriers are named
barriers of the n consumer threads (`bar.sync 1, n`), never `__syncthreads()` (the producer
does not take part). The branches are `AttrStmt`s `tlspec.warp_role` ("consumer", "producer");
the function attribute `tlspec.warp_specialized` holds {"consumers": n, "producers": P}.
"""
from __future__ import annotations

from math import prod

import tvm
import tvm_ffi
from tvm import tirx
from tvm.tirx.exec_scope import _SCOPE_BINDING_TO_PARENT_CUR, ScopeIdDef
from tvm.tirx.tile_primitive import TilePrimitiveCall

from .. import ops
from ..analysis import attr, dtype_bytes, region_parts, scope_kind, target_of, thread_info
from ..errors import StageError
from ..lower.common import const, rebuilt, seq, substitute
from ..tileir import PIPELINE_ATTR
from .pipeline_planning import PLAN_ATTR, SERIAL, body_stmts, phase_count

ROLE_ATTR = "tlspec.warp_role"              # AttrStmt around each branch: consumer / producer
WS_ATTR = "tlspec.warp_specialized"         # function: {"consumers": n, "producers": P}
CHOICE_ATTR = "tlspec.warp_specialize"      # loop: {"chosen": bool, "why": text}
RING = "tlspec.ring"                        # config of a ring's wait or arrival
LEADER = "tlspec.leader"                    # config: the thread that issues (default 0)
EVERY_THREAD = "tlspec.every_thread"        # config of an arrival: every thread arrives
MAX_THREADS = 1024
WARP_GROUP = 128


def producer_threads(consumers: int) -> int:
    """A warp group where the consumers are whole warp groups and it fits, else one warp."""
    return WARP_GROUP if consumers % WARP_GROUP == 0 and consumers + WARP_GROUP <= MAX_THREADS \
        else 32


def _calls(stmt) -> list[TilePrimitiveCall]:
    found = []
    tvm_ffi.structural_walk(stmt, (TilePrimitiveCall, found.append), order="pre")
    return found


def _names(call, scope: str | None = None) -> set[str]:
    return {r.source.name for r in call.args
            if hasattr(r, "source") and (scope is None or scope_kind(r.source) == scope)}


class _Chooser:
    """Which pipeline loops are specialized, and why (or why not)."""

    def __init__(self, func):
        self.func = func
        self.calls = _calls(func.body)
        self.threads = thread_info(func)[1]
        self.target = target_of(func)

    def choose(self, loop: tirx.For) -> tuple[bool, str]:
        asked = str(loop.annotations[PIPELINE_ATTR].get("warp_specialize", "auto"))
        if asked == "false":
            return False, "warp_specialize: false"
        why = self._obstacle(loop)
        if asked == "true":
            if why is not None:
                pipelined = bool(loop.annotations[PLAN_ATTR]["loads"])
                raise StageError(str(loop.annotations[PIPELINE_ATTR]["stage"]) + "/warp_specialize",
                                 f"this pipeline loop cannot be warp-specialized: {why}",
                                 "remove 'warp_specialize: true' (every thread then runs the "
                                 "pipelined loop)" if pipelined else
                                 "give its loads slots first: load into 'tile[k % s, ...]' "
                                 "(s >= num_stages) by TMA (docs/spec.md#pipeline)")
            return True, "warp_specialize: true"
        return _auto(why)

    def _obstacle(self, loop: tirx.For) -> str | None:
        """Why the loop cannot be specialized, or None."""
        plan = loop.annotations[PLAN_ATTR]
        loads = [int(i) for i in plan["loads"]]
        if not loads:
            return "it is not pipelined: " + str(plan["why"])[len(SERIAL):]
        if not self.target.has_tma:
            return f"the target is {self.target.name}; the producer warp issues TMA loads " \
                   "(sm_90a, sm_100a)"
        if attr(self.func, "tlspec.cluster", None) is not None:
            return ("the kernel is launched in clusters (their barriers take every thread; "
                    "the producer warp leaves early)")
        stmts = body_stmts(loop)
        simt = [ops.config_of(stmts[i]) for i in loads
                if ops.config_of(stmts[i]).get("tlspec.instruction") != "tma"]
        if simt:
            why = str(simt[0].get("tlspec.why", ""))
            return (f"its load {simt[0][ops.STAGE]} is not a TMA copy"
                    + (f": {why}" if why else "") + "; the producer warp issues TMA loads only")
        if self.threads + 32 > MAX_THREADS:
            return f"launch.threads ({self.threads}) leaves no room for a producer warp " \
                   f"({MAX_THREADS} threads at most)"
        tiles = {stmts[i].args[0].source.name for i in loads}
        read = {stmts[i].args[1].source.name for i in loads}
        own = _calls(loop)
        for call in self.calls:
            outside = not any(c.same_as(call) for c in own)
            if outside and _names(call) & tiles:
                return (f"a stage outside the loop touches '{sorted(_names(call) & tiles)[0]}', "
                        "which its loads write (the producer runs ahead of it)")
            dst = call.args[0] if call.args else None
            if hasattr(dst, "source") and dst.source.name in read:
                return (f"a stage writes '{dst.source.name}', which its loads read (the producer "
                        "would read it before it is written)")
        return None


def _auto(obstacle: str | None) -> tuple[bool, str]:
    """warp_specialize: auto (see the module's docstring and docs/spec.md#warp-specialization)."""
    if obstacle is not None:
        return False, f"auto: not specialized ({obstacle})"
    return False, ("auto: not specialized (a pipeline of data stages gains nothing measurable "
                   "from a producer warp on the H200: bench/RESULTS.md)")


class _Specializer:
    def __init__(self, func):
        self.chooser = _Chooser(func)
        self.consumers = self.chooser.threads
        self.tid = thread_info(func)[0]
        self.barriers = {str(k): [int(x) for x in v]
                         for k, v in attr(func, "tlspec.barriers", {}).items()}
        self.rings = 0

    # -- the split -------------------------------------------------------------------------
    def split(self, stmt, outer: list[tirx.For]):
        """(the consumers' statement, the producer's or None)."""
        if isinstance(stmt, tirx.SeqStmt):
            parts = [self.split(s, outer) for s in stmt.seq]
            producer = [p for _, p in parts if p is not None]
            return tirx.SeqStmt([c for c, _ in parts]), seq(producer) if producer else None
        if not isinstance(stmt, tirx.For):
            return stmt, None
        if PIPELINE_ATTR in stmt.annotations:
            chosen, why = self.chooser.choose(stmt)
            annotations = {**stmt.annotations, CHOICE_ATTR: {"chosen": chosen, "why": why}}
            loop = rebuilt(stmt, annotations=annotations)
            if chosen:
                return self._specialize(loop, outer)
            if not any(PIPELINE_ATTR in inner.annotations for inner in _loops(stmt.body)):
                return loop, None
            stmt = loop
        body, producer = self.split(stmt.body, [*outer, stmt])
        consumer = rebuilt(stmt, body)
        if producer is None:
            return consumer, None
        fresh = tirx.Var(f"{stmt.loop_var.name}_p", "int32")
        return consumer, tirx.For(fresh, stmt.min, stmt.extent, tirx.ForKind.SERIAL,
                                  substitute(producer, stmt.loop_var, fresh))

    def _specialize(self, loop: tirx.For, outer: list[tirx.For]):
        stages = int(loop.annotations[PIPELINE_ATTR]["num_stages"])
        pointer = str(loop.annotations[PIPELINE_ATTR]["stage"])
        loads = [int(i) for i in loop.annotations[PLAN_ATTR]["loads"]]
        stmts = body_stmts(loop)
        k, extent = loop.loop_var, loop.extent
        first = sum(count for _, count, _ in self.barriers.values())
        name = f"_ws{self.rings}"
        self.rings += 1
        self.barriers[f"{name}_full"] = [first, stages, 1]
        self.barriers[f"{name}_empty"] = [first + stages, stages, self.consumers]
        full, empty = first + tirx.floormod(k, stages), first + stages + tirx.floormod(k, stages)
        uses = phase_count(k, extent, stages, outer)
        ring = {ops.STAGE: pointer, RING: True}
        nbytes = sum(prod(const(e) for e in region_parts(stmts[i].args[1])[2])
                     * dtype_bytes(stmts[i].args[1].source.dtype) for i in loads)
        leader = {LEADER: self.consumers}
        producer = rebuilt(loop, seq([
            ops.tile_call("barrier_wait", [empty, tirx.floormod(uses + 1, 2)], ring),
            ops.tile_call("barrier_arrive", [full, tirx.IntImm("int32", nbytes)],
                          {**ring, **leader}),
            *[ops.tile_call("tma_copy", [*stmts[i].args[:2], full],
                            {**ops.config_of(stmts[i]), **leader}) for i in loads]]),
            annotations={})
        consumer = rebuilt(loop, seq([
            ops.tile_call("barrier_wait", [full, tirx.floormod(uses, 2)], ring),
            *[s for i, s in enumerate(stmts) if i not in loads],
            ops.tile_call("barrier_arrive", [empty, tirx.IntImm("int32", 0)],
                          {**ring, EVERY_THREAD: True})]))
        fresh = tirx.Var(f"{k.name}_p", "int32")
        return consumer, rebuilt(producer, substitute(producer.body, k, fresh), var=fresh)

    # -- the function ----------------------------------------------------------------------
    def run(self, func):
        entry = func.body                                   # tirx.device_entry
        head, stages = declarations(entry.body)
        consumer, producer = self.split(seq(stages), [])
        if producer is None:
            return func.with_body(rebuilt_attr(entry, seq([*head, consumer])))
        n = self.consumers
        extra = producer_threads(n)
        split = tirx.IfThenElse(
            self.tid < n,
            tirx.AttrStmt(tvm.ir.StringImm("consumer"), ROLE_ATTR, tvm.ir.StringImm("consumer"),
                          consumer),
            tirx.AttrStmt(tvm.ir.StringImm("producer"), ROLE_ATTR, tvm.ir.StringImm("producer"),
                          tirx.IfThenElse(self.tid == n, producer, None)))
        head = [_with_threads(s, n + extra) for s in head]
        func = func.with_body(rebuilt_attr(entry, seq([*head, split])))
        return (func.with_attr("tlspec.barriers", self.barriers)
                .with_attr(WS_ATTR, {"consumers": n, "producers": extra}))


def is_role_split(stmt) -> bool:
    """Whether `stmt` is the consumer / producer split of a warp-specialized kernel."""
    return (isinstance(stmt, tirx.IfThenElse) and isinstance(stmt.then_case, tirx.AttrStmt)
            and stmt.then_case.attr_key == ROLE_ATTR)


def _loops(stmt) -> list[tirx.For]:
    found = []
    tvm_ffi.structural_walk(stmt, (tirx.For, found.append), order="pre")
    return found


def declarations(body) -> tuple[list, list]:
    """(the launch's scope definitions and the allocations, the stages) of the kernel body."""
    stmts = list(body.seq) if isinstance(body, tirx.SeqStmt) else [body]
    at = 0
    while at < len(stmts) and isinstance(stmts[at], (tirx.ScopeIdDefStmt, tirx.AllocBuffer,
                                                     tirx.DeclBuffer)):
        at += 1
    return stmts[:at], stmts[at:]


def _with_threads(stmt, threads: int):
    """A scope definition of the block's threads or warps, for `threads` threads."""
    if not isinstance(stmt, tirx.ScopeIdDefStmt):
        return stmt
    old = getattr(stmt, "def")
    parent, cur = _SCOPE_BINDING_TO_PARENT_CUR[int(old.scope)]
    if parent != "cta" or cur not in ("thread", "warp"):
        return stmt
    extent = threads if cur == "thread" else threads // 32
    return tirx.ScopeIdDefStmt(ScopeIdDef(list(old.def_ids), [tirx.IntImm("int32", extent)],
                                          parent, cur))


def rebuilt_attr(stmt: tirx.AttrStmt, body) -> tirx.AttrStmt:
    return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, body)


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.ProducerConsumerWarpSpecialized")
class ProducerConsumerWarpSpecialized:
    def transform_function(self, func, mod, ctx):
        return _Specializer(func).run(func)
