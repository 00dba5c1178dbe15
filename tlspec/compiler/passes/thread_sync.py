"""ThreadSync: insert `__syncthreads()` wherever threads could otherwise see a shared tile in
the wrong state: before a stage that reads a tile written since the last barrier (read after
write), or writes a tile read or written since then (write after read / write). Stages are the
unit: the threads of one stage may touch elements other threads of the previous stage wrote.
A TMA load ends with every thread waiting on its mbarrier, so its data needs no barrier after
it; a cp.async copy ends with each thread waiting for its own copies only (`wait_group 0`), so
its tile counts as written and the barrier comes after that wait; a spec's own `sync_threads`
counts as a barrier. In a loop, the end of the body is checked against its beginning (the next
iteration) and a barrier closes the body when they conflict."""
from __future__ import annotations

from tvm import tirx
from tvm.script.ir_builder import tirx as T

from ..analysis import is_block_sync, shared_accesses, stage_kind
from ..lower.common import rebuilt, seq


def barrier() -> tirx.Stmt:
    return tirx.Evaluate(T.cuda.cta_sync())


class _State:
    def __init__(self):
        self.read: set[str] = set()
        self.written: set[str] = set()

    def conflicts(self, reads: set[str], writes: set[str]) -> bool:
        return bool(reads & self.written or writes & (self.read | self.written))

    def reset(self):
        self.read, self.written = set(), set()


def _accesses(stmt) -> tuple[set[str], set[str], set[str]]:
    """(reads, writes, writes complete for all threads afterwards)."""
    reads, writes, async_reads, async_writes = shared_accesses(stmt)
    settled = async_writes if stage_kind(stmt) == "copy:tma" else set()
    return reads | async_reads, writes | async_writes, settled


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
                out.append(self._loop(stmt))
                continue
            if isinstance(stmt, (tirx.SeqStmt, tirx.AttrStmt)) and stage_kind(stmt) is None:
                out.append(self.visit(stmt))
                continue
            reads, writes, settled = _accesses(stmt)
            if self.state.conflicts(reads, writes):
                out.append(barrier())
                self.state.reset()
            self.state.read |= reads
            self.state.written |= writes - settled
            self.state.written -= settled
            out.append(stmt)
        return out

    def _loop(self, loop):
        body = self.visit(loop.body)
        stmts = list(body.seq) if isinstance(body, tirx.SeqStmt) else [body]
        head_reads, head_writes = set(), set()
        for stmt in stmts:
            if is_block_sync(stmt):
                break
            reads, writes, _ = _accesses(stmt)
            head_reads |= reads
            head_writes |= writes
        if self.state.conflicts(head_reads, head_writes):
            stmts.append(barrier())
            self.state.reset()
        return rebuilt(loop, seq(stmts))

    def visit(self, stmt):
        if isinstance(stmt, tirx.SeqStmt):
            return tirx.SeqStmt(self.visit_list(stmt.seq))
        if isinstance(stmt, tirx.AttrStmt) and stage_kind(stmt) is None:
            return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, self.visit(stmt.body))
        return seq(self.visit_list([stmt]))


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.ThreadSync")
class ThreadSync:
    def transform_function(self, func, mod, ctx):
        return func.with_body(_Syncer().visit(func.body))
