"""ThreadSync: insert `__syncthreads()` wherever threads could otherwise see a shared tile in
the wrong state: before a stage that reads a tile written since the last barrier (read after
write), or writes a tile read or written since then (write after read / write). Stages are the
unit: the threads of one stage may touch elements other threads of the previous stage wrote.
A TMA load's data needs no block barrier after it: a `copy` ends with every thread waiting on
its mbarrier, and an explicit `tma_copy` is waited for by the spec's `barrier_wait` in every
thread; a cp.async copy ends with each thread waiting for its own copies only (`wait_group 0`), so
its tile counts as written and the barrier comes after that wait; a spec's own `sync_threads`
counts as a barrier. A TMA copy's accesses are made by the one thread that issues it: two
accesses that thread 0 alone makes need no barrier between them. In a loop, the beginning of
the body is checked against what precedes the loop (a barrier before the loop) and against the
body's end (the next iteration: a barrier closes the body)."""
from __future__ import annotations

from tvm import tirx
from tvm.script.ir_builder import tirx as T

from ..analysis import is_block_sync, is_tma, shared_accesses, stage_kind, stages_in
from ..lower.common import rebuilt, seq
from .merge_shared_memory_allocations import MBARRIERS


def barrier() -> tirx.Stmt:
    return tirx.Evaluate(T.cuda.cta_sync())


LEADER, ALL = "leader", "all"     # who makes an access: thread 0 alone (a TMA copy), or every thread


class _State:
    """The tiles read and written since the last barrier, each with who made the access."""

    def __init__(self):
        self.read: set[tuple[str, str]] = set()
        self.written: set[tuple[str, str]] = set()

    def conflicts(self, reads: set[str], writes: set[str], actor: str) -> bool:
        """Whether an access by `actor` must wait for a barrier: it reads a tile written since
        the last one, or writes a tile read or written since then, unless both accesses were
        made by thread 0 (a TMA copy's issuing thread is ordered with itself; its asynchronous
        completion is the spec's mbarriers' and store waits' to order)."""
        def clash(names, earlier):
            return any(name in names and not (actor == who == LEADER) for name, who in earlier)

        return clash(reads, self.written) or clash(writes, self.read | self.written)

    def reset(self):
        self.read, self.written = set(), set()


def _accesses(stmt) -> tuple[set[str], set[str], set[str], str]:
    """(reads, writes, writes complete for all threads afterwards, who makes them) of the tiles
    (the mbarriers are not tiles). A statement that is not one stage (a pipeline's guarded
    loads) makes the accesses of its stages, by thread 0 when every stage that touches a tile
    is a TMA copy."""
    if stage_kind(stmt) is None and not isinstance(stmt, (tirx.For, tirx.SeqStmt)):
        parts = [_accesses(s) for s in stages_in(stmt)]
        if parts:
            touching = [p for p in parts if p[0] | p[1]]
            return (set().union(*(p[0] for p in parts)), set().union(*(p[1] for p in parts)),
                    set().union(*(p[2] for p in parts)),
                    LEADER if all(p[3] == LEADER for p in touching) else ALL)
    reads, writes, async_reads, async_writes = shared_accesses(stmt)
    reads.discard(MBARRIERS)
    if is_tma(stmt):
        return async_reads, async_writes, async_writes, LEADER
    return reads | async_reads, writes | async_writes, set(), ALL


class _Syncer:
    def __init__(self):
        self.state = _State()

    def visit_list(self, stmts) -> list:
        out = []
        for stmt in stmts:
            if is_block_sync(stmt):
                self.state.reset()
                out.append(stmt)
                continue
            if isinstance(stmt, tirx.For) and stage_kind(stmt) is None:
                out += self._loop(stmt)
                continue
            if isinstance(stmt, (tirx.SeqStmt, tirx.AttrStmt)) and stage_kind(stmt) is None:
                out.append(self.visit(stmt))
                continue
            reads, writes, settled, actor = _accesses(stmt)
            if self.state.conflicts(reads, writes, actor):
                out.append(barrier())
                self.state.reset()
            self.state.read |= {(name, actor) for name in reads}
            self.state.written = {(name, who) for name, who in self.state.written
                                  if name not in settled}
            self.state.written |= {(name, actor) for name in writes - settled}
            out.append(stmt)
        return out

    def _loop(self, loop) -> list:
        """The loop, and the barrier before it when its first iteration conflicts with what
        came before (so that the body does not pay for it in every iteration); a barrier
        closes the body when the next iteration conflicts with its end."""
        before = []
        if self._head_conflicts(_stmts(loop.body)):
            before.append(barrier())
            self.state.reset()
        stmts = _stmts(self.visit(loop.body))
        if self._head_conflicts(stmts):
            stmts.append(barrier())
            self.state.reset()
        return [*before, rebuilt(loop, seq(stmts))]

    def _head_conflicts(self, stmts) -> bool:
        """Whether the statements up to the first barrier conflict with the current state."""
        for stmt in stmts:
            if is_block_sync(stmt):
                return False
            reads, writes, _, actor = _accesses(stmt)
            if self.state.conflicts(reads, writes, actor):
                return True
        return False

    def visit(self, stmt):
        if isinstance(stmt, tirx.SeqStmt):
            return tirx.SeqStmt(self.visit_list(stmt.seq))
        if isinstance(stmt, tirx.AttrStmt) and stage_kind(stmt) is None:
            return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, self.visit(stmt.body))
        return seq(self.visit_list([stmt]))


def _stmts(body) -> list:
    return list(body.seq) if isinstance(body, tirx.SeqStmt) else [body]


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.ThreadSync")
class ThreadSync:
    def transform_function(self, func, mod, ctx):
        return func.with_body(_Syncer().visit(func.body))
