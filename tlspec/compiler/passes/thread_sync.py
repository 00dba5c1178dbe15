"""ThreadSync: insert `__syncthreads()` wherever threads could otherwise see a shared tile or a
global tensor in the wrong state: before a stage that reads a tile or tensor written since the
last barrier (read after write), or writes one read or written since then (write after read /
write). A global tensor a stage writes and a later stage reads (an `inout` argument), or reads
and a later stage writes, needs the barrier as much as a tile does: the stages' threads need not
touch the same elements. Two writes of a global tensor need it where their regions may overlap
(`global_writes`: the later stage's value is the result): not between a concatenation's halves,
nor between a loop's iterations writing successive tiles, nor between one stage's writes of
the same region (the same threads write the same elements). Stages are the
unit: the threads of one stage may touch elements other threads of the previous stage wrote.
A TMA load's tile needs no block barrier after it: a `copy` ends with every thread waiting on
its mbarrier, and an explicit `tma_copy` is waited for by the spec's `barrier_wait` in every
thread; a cp.async copy ends with each thread waiting for its own copies only (`wait_group 0`), so
its tile counts as written and the barrier comes after that wait; a spec's own `sync_threads`
counts as a barrier. A TMA copy's accesses are made by the one thread that issues it (a
gather4's or scatter4's reads of its indices too): two accesses that thread 0 alone makes need
no barrier between them. An mbarrier that every thread
waits on is armed again (by thread 0) only after a barrier: with the barrier between them, no
thread can still be waiting for one phase when the next has completed too (a parity wait
cannot tell them apart). In a loop, the beginning of
the body is checked against what precedes the loop (a barrier before the loop) and against the
body's end (the next iteration, or any later one for the regions of global writes: a barrier
closes the body); after a loop that may run zero times, what preceded it is still unordered.

In a warp-specialized kernel the consumers' branch gets the same analysis with named barriers of
its n threads (`bar.sync 1, n`) in place of `__syncthreads()`, which the producer warp never
reaches (a spec's `sync_threads` there becomes one too); the producer's branch (one thread) gets
none; the rings' waits and arrivals (stages
`<kind>:ring`) are left out: their full / empty protocol orders the slots' reuse."""
from __future__ import annotations

from collections.abc import Callable

import tvm
import tvm_ffi
from tvm import tirx
from tvm.script.ir_builder import tirx as T
from tvm.ir.expr import TensorLoad as LoadNode
from tvm.tirx.tile_primitive import TilePrimitiveCall

from ..analysis import (attr, body_stmts, global_names, is_block_sync, is_tma, memory_accesses,
                        stage_kind, stages_in)
from ..lower.common import rebuilt, seq
from .global_writes import (Write, Writes, iterations_ahead, may_clash, other_iterations,
                            regions_analyzer, stage_attrs)
from .merge_shared_memory_allocations import MBARRIERS
from .producer_consumer_warp_specialized import WS_ATTR, is_role_split


def barrier() -> tirx.Stmt:
    return tirx.Evaluate(T.cuda.cta_sync())


CONSUMER_BARRIER = 1        # named barrier 0 is __syncthreads()'s


def consumer_barrier(consumers: int) -> Callable[[], tirx.Stmt]:
    """The block barrier of a warp-specialized kernel's consumers: the producer warp never
    joins a barrier, so `__syncthreads()` would hang; `bar.sync 1, n` waits for the n
    consumer threads only."""
    return lambda: tirx.Evaluate(T.ptx["bar.sync"](CONSUMER_BARRIER, consumers))


LEADER, ALL = "leader", "all"     # who makes an access: thread 0 alone (a TMA copy), or every thread
Access = tuple[str, str]          # (tile, tensor or MBARRIERS; who)


class _State:
    """What was read and written since the last barrier, each access with who made it, and the
    regions of the global tensors written (`global_writes`)."""

    def __init__(self, tensors: set[str], analyzer: tvm.sym.Analyzer):
        self.tensors = tensors
        self.analyzer = analyzer
        self.read: set[Access] = set()
        self.written: set[Access] = set()
        self.tensor_writes: list[Write] = []

    def conflicts(self, reads: set[Access], writes: set[Access],
                  tensor_writes: list[Write] = ()) -> bool:
        """Whether these accesses must wait for a barrier: a read of what was written since the
        last one, or a write of what was read (or, for a tile, written) since then, unless both
        accesses are thread 0's (a TMA copy's issuing thread is ordered with itself; its
        asynchronous completion is the spec's mbarriers' and store waits' to order). The
        mbarriers conflict only when one is armed again after threads waited on it: a thread
        still waiting for a phase must not see the barrier complete the next one as well."""
        def clash(accesses, earlier, tensors_too=True):
            return any(_same(name, other) and not (who == by == LEADER)
                       and (tensors_too or name not in self.tensors)
                       for name, who in accesses for other, by in earlier
                       if not (name.startswith(MBARRIERS) and earlier is not self.read))

        stores = {(n, who) for n, who in writes if n != PROXY_FENCE}    # a fence: only RAW
        return (clash(reads, self.written) or clash(stores, self.read)
                or clash(stores, self.written, tensors_too=False)
                or any(not (new.leader and old.leader) and may_clash(new, old, self.analyzer)
                       for new in tensor_writes for old in self.tensor_writes))

    def reset(self):
        self.read, self.written, self.tensor_writes = set(), set(), []

    def add_tensor_writes(self, writes: list[Write]) -> None:
        """Remember these writes' regions; past TRACKED_WRITES since the last barrier, each
        tensor's are forgotten as one write of anywhere in it (the next write of it then gets a
        barrier): comparing every pair would make the pass quadratic in the stages."""
        self.tensor_writes += writes
        if len(self.tensor_writes) > TRACKED_WRITES:
            self.tensor_writes = [Writes.unknown(t, "", False) for t in
                                  dict.fromkeys(w.tensor for w in self.tensor_writes)]

    def copy(self) -> _State:
        state = _State(self.tensors, self.analyzer)
        state.merge(self)
        return state

    def merge(self, other: _State) -> None:
        """Add what `other` holds (the state along another path: a loop run zero times)."""
        self.read |= other.read
        self.written |= other.written
        self.tensor_writes += [w for w in other.tensor_writes if w not in self.tensor_writes]


def _same(name: str, other: str) -> bool:
    """Whether two accessed names may be the same memory: the same tile or tensor, or mbarrier
    slots that are equal or not known (`_tlspec_mbar[*]`: a slot that depends on a loop)."""
    if name.startswith(MBARRIERS) and other.startswith(MBARRIERS):
        return name == other or ANY_SLOT in (name, other)
    return name == other


ANY_SLOT = f"{MBARRIERS}[*]"


def _slot(address) -> str:
    """The mbarrier slot an address points at, as an accessed name."""
    found = []
    tvm_ffi.structural_walk(address, (LoadNode, lambda load: found.append(load)
                                      if load.source.name == MBARRIERS else None), order="pre")
    index = found[0].indices[0] if found else None
    return f"{MBARRIERS}[{index.value}]" if isinstance(index, tirx.IntImm) else ANY_SLOT


def _mbarrier_accesses(stmt) -> tuple[set[Access], set[Access]]:
    """Waits on mbarrier slots (by every thread) as reads, arming them (thread 0's arrivals and
    the TMA loads that complete on them) as writes."""
    found = set()

    def on_call(call):
        name = call.op.name if isinstance(call.op, tvm.ir.Op) else ""
        if name == "tirx.cuda.mbarrier_wait":
            found.add((_slot(call.args[0]), ALL))
        elif name == "tirx.ptx.mbarrier" and any(getattr(a, "value", None) == "arrive"
                                                  for a in call.args):
            found.add((_slot(call), LEADER))

    def on_tile_call(call):
        if "mbar" in call.config:
            found.add((_slot(call.config["mbar"]), LEADER))

    tvm_ffi.structural_walk(stmt, (tvm.ir.expr.Call, on_call), order="pre")
    tvm_ffi.structural_walk(stmt, (TilePrimitiveCall, on_tile_call), order="pre")
    return {a for a in found if a[1] == ALL}, {a for a in found if a[1] == LEADER}


TRACKED_WRITES = 32      # written regions compared one by one since the last barrier
PROXY_FENCE = "<fence.proxy.async>"     # made by every thread; a TMA copy must come after all


def _is_proxy_fence(stmt) -> bool:
    call = stmt.value if isinstance(stmt, tirx.Evaluate) else None
    return isinstance(call, tvm.ir.expr.Call) and isinstance(call.op, tvm.ir.Op) and \
        call.op.name.startswith("tirx.ptx.fence") and \
        any(getattr(a, "value", None) == "proxy" for a in call.args)


def _accesses(stmt, tensors: set[str], stores: tuple[set[str], set[str]] = (set(), set())
              ) -> tuple[set[Access], set[Access], set[str]]:
    """(reads, writes, names written that are complete for every thread afterwards) of the
    tiles, global `tensors` and mbarriers. A statement that is not one stage (a pipeline's
    guarded loads) makes the accesses of its stages. InjectFenceProxy's fence is a write of
    PROXY_FENCE by every thread, which a TMA copy reads: the fence of every writing thread
    comes before the barrier that precedes the copy. A `tma_store_wait` is thread 0's access of
    what the explicit TMA stores read and write (`stores`: their tiles and tensors): a thread
    that then rewrites one must wait for a barrier after it, not only the thread that waited."""
    if _is_proxy_fence(stmt):
        return set(), {(PROXY_FENCE, ALL)}, set()
    if (stage_kind(stmt) or "").startswith("tma_store_wait:"):
        return {(n, LEADER) for n in stores[0]}, {(n, LEADER) for n in stores[1]}, set()
    if stage_kind(stmt) is None and not isinstance(stmt, (tirx.For, tirx.SeqStmt)):
        parts = [_accesses(s, tensors, stores) for s in stages_in(stmt)]
        if parts:
            return tuple(set().union(*(p[i] for p in parts)) for i in range(3))
    reads, writes, async_reads, async_writes = memory_accesses(stmt)
    reads.discard(MBARRIERS)            # their address, taken by the calls read below
    waits, arms = _mbarrier_accesses(stmt)
    if is_tma(stmt):        # a tile loaded is waited for by every thread; a tensor stored is not
        # the issuing thread reads what the copy reads, and a gather4's indices
        return ({(n, LEADER) for n in async_reads | reads | {PROXY_FENCE}} | waits,
                {(n, LEADER) for n in async_writes} | arms, async_writes - tensors)
    return ({(n, ALL) for n in reads | async_reads} | waits,
            {(n, ALL) for n in writes | async_writes} | arms, set())


def _explicit_stores(body, tensors: set[str]) -> tuple[set[str], set[str]]:
    """(tiles read, tensors written) by the explicit TMA stores (`tma_copy` to global memory,
    scatter4) of the function: what a `tma_store_wait` completes."""
    tiles, stored = set(), set()

    def visit(stmt):
        if stage_kind(stmt) and is_tma(stmt) and not stage_kind(stmt).startswith("copy:"):
            _, _, async_reads, async_writes = memory_accesses(stmt)
            if async_writes & tensors:
                tiles.update(async_reads - tensors)
                stored.update(async_writes & tensors)

    tvm_ffi.structural_walk(body, (tirx.AttrStmt, visit), order="pre")
    return tiles, stored


class _Syncer:
    def __init__(self, tensors: set[str], writes: Writes, analyzer: tvm.sym.Analyzer,
                 stores: tuple[set[str], set[str]], consumers: int = 0,
                 barrier: Callable[[], tirx.Stmt] = barrier):
        self.state = _State(tensors, analyzer)
        self.writes = writes
        self.stores = stores
        self.tensors = tensors
        self.consumers = consumers          # a warp-specialized kernel's consumer threads
        self.barrier = barrier

    def visit_list(self, stmts) -> list:
        out = []
        for stmt in stmts:
            if is_block_sync(stmt):
                self.state.reset()
                # a spec's sync_threads among warp-specialized consumers: their own barrier
                out.append(self.barrier() if _is_syncthreads(stmt) else stmt)
                continue
            if (stage_kind(stmt) or "").endswith(":ring"):     # ordered by its ring's protocol
                out.append(stmt)
                continue
            if is_role_split(stmt):
                out.append(self._roles(stmt))
                continue
            if isinstance(stmt, tirx.For) and stage_kind(stmt) is None:
                out += self._loop(stmt)
                continue
            if isinstance(stmt, (tirx.SeqStmt, tirx.AttrStmt)) and stage_kind(stmt) is None:
                out.append(self.visit(stmt))
                continue
            reads, writes, settled = _accesses(stmt, self.tensors, self.stores)
            tensor_writes = self._tensor_writes(stmt, writes)
            if self.state.conflicts(reads, writes, tensor_writes):
                out.append(self.barrier())
                self.state.reset()
            self.state.read |= reads
            self.state.written = {(name, who) for name, who in self.state.written | writes
                                  if name not in settled}
            self.state.add_tensor_writes(tensor_writes)
            out.append(stmt)
        return out

    def _tensor_writes(self, stmt, writes: set[Access], shift=None) -> list[Write]:
        """The regions of the global tensors `stmt` writes (`writes`: its accesses; a tensor
        without a recorded region may be written anywhere); `shift`: (loop variable, 1) for
        the next iteration's."""
        found = [w for stage in stage_attrs(stmt) for w in self.writes.of(stage, is_tma(stage))]
        recorded = {w.tensor for w in found}
        found += [Writes.unknown(name, "", who == LEADER) for name, who in writes
                  if name in self.tensors and name not in recorded]
        if not shift:
            return found
        inner = []                          # the loops inside run any iteration then
        tvm_ffi.structural_walk(stmt, (tirx.For, inner.append), order="pre")
        values = {**other_iterations(inner, self.state.analyzer), shift[0]: shift[0] + shift[1]}
        return [w.substituted(values) for w in found]

    def _loop(self, loop) -> list:
        """The loop, and the barrier before it when its first iteration conflicts with what
        came before (so that the body does not pay for it in every iteration); a barrier
        closes the body when a later iteration (any number ahead: the regions of global
        writes shift by d >= 1 iterations) conflicts with its end. A loop that may run zero
        times leaves what came before it unordered too."""
        before = []
        if self._head_conflicts(body_stmts(loop.body)):
            before.append(self.barrier())
            self.state.reset()
        entry = self.state.copy()
        stmts = body_stmts(self.visit(loop.body))
        ahead = iterations_ahead(loop, self.state.analyzer)
        if self._head_conflicts(stmts, shift=(loop.loop_var, ahead)):
            stmts.append(self.barrier())
            self.state.reset()
        if not self.state.analyzer.can_prove(loop.extent >= 1):
            self.state.merge(entry)
        return [*before, rebuilt(loop, seq(stmts))]

    def _roles(self, split: tirx.IfThenElse) -> tirx.IfThenElse:
        """A warp-specialized kernel's branches: the consumers synchronise among themselves
        from the state before the split; the producer is one thread (program order)."""
        consumer = split.then_case
        syncer = _Syncer(self.tensors, self.writes, self.state.analyzer, self.stores,
                         barrier=consumer_barrier(self.consumers))
        syncer.state.read, syncer.state.written = set(self.state.read), set(self.state.written)
        syncer.state.tensor_writes = list(self.state.tensor_writes)
        return tirx.IfThenElse(split.condition, tirx.AttrStmt(
            consumer.node, consumer.attr_key, consumer.value, syncer.visit(consumer.body)),
            split.else_case)

    def _head_conflicts(self, stmts, shift=None) -> bool:
        """Whether the statements up to the first barrier conflict with the current state
        (`shift`: the statements run in the next iteration of a loop, see _tensor_writes)."""
        for stmt in stmts:
            if is_block_sync(stmt):
                return False
            if (stage_kind(stmt) or "").endswith(":ring"):
                continue
            reads, writes, _ = _accesses(stmt, self.tensors, self.stores)
            if self.state.conflicts(reads, writes, self._tensor_writes(stmt, writes, shift)):
                return True
        return False

    def visit(self, stmt):
        if isinstance(stmt, tirx.SeqStmt):
            return tirx.SeqStmt(self.visit_list(stmt.seq))
        if isinstance(stmt, tirx.AttrStmt) and stage_kind(stmt) is None:
            return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, self.visit(stmt.body))
        return seq(self.visit_list([stmt]))


def _is_syncthreads(stmt) -> bool:
    return isinstance(stmt, tirx.Evaluate) and isinstance(stmt.value, tvm.ir.expr.Call) \
        and stmt.value.op.same_as(tvm.ir.Op.get("tirx.cuda.cta_sync"))


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.ThreadSync")
class ThreadSync:
    def transform_function(self, func, mod, ctx):
        consumers = int(attr(func, WS_ATTR, {}).get("consumers", 0))
        tensors = global_names(func)
        syncer = _Syncer(tensors, Writes(func), regions_analyzer(func),
                         _explicit_stores(func.body, tensors), consumers)
        return func.with_body(syncer.visit(func.body))
