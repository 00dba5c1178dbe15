"""ApplyEvictionHints: give the global accesses of a SIMT stage its `eviction_policy`.

LowerTileOp marks every vectorized loop of a SIMT stage (copy, gather, scatter, im2col) whose
eviction_policy is not evict_normal with the loop annotation `tlspec.eviction_policy` (`mark`).
After the bounds guards are in, this pass

1. stages the thread's accesses through registers: a loop nest that runs at most STAGE_VECTORS
   marked loops per thread becomes two unrolled copies of itself, the first loading every
   vector into a register array, the second storing them (longer loops run in chunks of that
   many). The hinted accesses are `asm volatile` and keep their program order, so unstaged each
   thread would wait for one load before it issues the next; staged, a thread has all its loads
   in flight at once, as the compiler arranges for plain loads;
2. rewrites each marked loop whose one side is global into a hinted ptx ld / st
   (`..lower.hinted_access`), lane-invariant guards hoisted out of the vector loop first.

A marked global access that has no hinted form is an error at the stage's eviction_policy, never a
silently unhinted access. Runs before VectorizeLoop, which would turn the loops into plain vector
accesses, and after the guard passes, which do not look inside the ptx calls.
"""
from __future__ import annotations

import tvm
import tvm_ffi
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from ..analysis import STAGE_ATTR, scope_kind, uses
from ..errors import StageError
from ..lower.common import ceildiv, const, rebuilt, substitute
from ..lower.hinted_access import HINTS, NotHintable, hint_vector_copy

ANNOTATION = "tlspec.eviction_policy"
STAGE_VECTORS = 16          # vectors a thread keeps in registers at once: 64 registers at 16 B


def mark(stmt: tirx.Stmt, eviction: str) -> tirx.Stmt:
    """Annotate every vectorized loop of a lowered SIMT stage with its eviction policy."""
    if eviction not in HINTS:
        return stmt

    def on_for(loop):
        if loop.kind != tirx.ForKind.VECTORIZED:
            return loop
        return rebuilt(loop, annotations={**dict(loop.annotations), ANNOTATION: eviction})

    return tvm_ffi.structural_map(stmt, (tirx.For, on_for), order="post")


def _marked(stmt) -> bool:
    return isinstance(stmt, tirx.For) and ANNOTATION in (stmt.annotations or {})


def _policy(loop) -> str:
    return str(loop.annotations[ANNOTATION])


# -- 1. staging through registers ---------------------------------------------------------
def _count(stmt) -> int | None:
    """Marked loops one run of `stmt` executes; None when that is not a known constant or when
    `stmt` has other side effects (a store outside a marked loop), which staging would repeat."""
    if _marked(stmt):
        return 1
    if isinstance(stmt, tirx.For):
        inner = _count(stmt.body)
        if inner == 0:
            return 0
        return None if inner is None or const(stmt.extent) is None else const(stmt.extent) * inner
    if isinstance(stmt, tirx.SeqStmt):
        counts = [_count(s) for s in stmt.seq]
        return None if None in counts else sum(counts)
    if isinstance(stmt, tirx.IfThenElse):
        counts = [_count(stmt.then_case), 0 if stmt.else_case is None else _count(stmt.else_case)]
        return None if None in counts else max(counts)
    if isinstance(stmt, tirx.AttrStmt):
        return _count(stmt.body)
    found = []
    tvm_ffi.structural_walk(stmt, (tirx.BufferStore, found.append), order="pre")
    return None if found else 0


def _stage(stmt):
    count = _count(stmt)
    if count == 0:
        return stmt
    if count is not None and count <= STAGE_VECTORS:
        return _split(stmt, count)
    if isinstance(stmt, tirx.For):
        return _chunked(stmt)
    if isinstance(stmt, tirx.SeqStmt):
        return tirx.SeqStmt([_stage(s) for s in stmt.seq])
    if isinstance(stmt, tirx.IfThenElse):
        return tirx.IfThenElse(stmt.condition, _stage(stmt.then_case),
                               None if stmt.else_case is None else _stage(stmt.else_case))
    if isinstance(stmt, tirx.AttrStmt):
        return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, _stage(stmt.body))
    return stmt


def _chunked(loop: tirx.For):
    """A loop that runs too many marked loops (or an unknown number) as chunks of iterations
    that each run at most STAGE_VECTORS, each chunk staged."""
    inner = _count(loop.body)
    if inner is None or inner > STAGE_VECTORS:
        return rebuilt(loop, _stage(loop.body))
    per = STAGE_VECTORS // inner
    chunk, step = tirx.Var(loop.loop_var.name + "_c", "int32"), tirx.Var(loop.loop_var.name + "_s",
                                                                          "int32")
    it = loop.min + chunk * per + step
    body = substitute(loop.body, loop.loop_var, it)
    if const(loop.extent) is None or const(loop.extent) % per:
        body = tirx.IfThenElse(it < loop.min + loop.extent, body, None)
    zero = tirx.IntImm("int32", 0)
    steps = tirx.For(step, zero, tirx.IntImm("int32", per), tirx.ForKind.UNROLLED, body)
    return tirx.For(chunk, zero, ceildiv(loop.extent, per), tirx.ForKind.SERIAL,
                    _stage(steps))


def _register_type(stmt) -> tuple[str, int] | None:
    """(dtype, lanes) every marked loop of `stmt` moves, or None when they differ."""
    kinds = set()

    def on_for(loop):
        if _marked(loop):
            tvm_ffi.structural_walk(loop.body, (tirx.BufferStore, lambda s: kinds.add(
                (str(s.buffer.dtype), int(loop.extent)))), order="pre")

    tvm_ffi.structural_walk(stmt, (tirx.For, on_for), order="pre")
    return kinds.pop() if len(kinds) == 1 else None


def _split(stmt, count: int):
    """`stmt` as a load phase into a register array and a store phase out of it."""
    kind = _register_type(stmt)
    if kind is None:
        return stmt
    dtype, lanes = kind
    registers = tirx.decl_buffer((count * lanes,), dtype, name="staged", scope="local")
    zero = tirx.IntImm("int32", 0)
    return tirx.SeqStmt([tirx.AllocBuffer(registers),
                         _phase(stmt, zero, "load", registers, lanes),
                         _phase(stmt, zero, "store", registers, lanes)])


def _phase(stmt, base, which: str, registers, lanes: int):
    """One phase of a staged nest: each marked loop, the base-th of the nest (in execution
    order), loads into or stores from registers[base * lanes :+ lanes]. Loop variables are
    renewed, and so are the values a nest binds (the index values of computed indices), so that
    the two phases bind distinct variables."""
    if _marked(stmt):
        lane = tirx.Var(stmt.loop_var.name, "int32")
        slot = [base * lanes + lane]

        def on_store(s):
            if which == "load":
                return tirx.BufferStore(registers, s.value, slot)
            return tirx.BufferStore(s.buffer, tirx.BufferLoad(registers, slot), s.indices)

        body = tvm_ffi.structural_map(substitute(stmt.body, stmt.loop_var, lane),
                                      (tirx.BufferStore, on_store), order="post")
        return rebuilt(stmt, _merge_branches(body), var=lane)
    if isinstance(stmt, tirx.For):
        var = tirx.Var(stmt.loop_var.name, "int32")
        inner = _count(stmt.body)
        body = _phase(substitute(stmt.body, stmt.loop_var, var), base + (var - stmt.min) * inner,
                      which, registers, lanes)
        kind = tirx.ForKind.UNROLLED if inner else stmt.kind
        return rebuilt(stmt, body, var=var, kind=kind)
    if isinstance(stmt, tirx.SeqStmt):
        out, rest = [], list(stmt.seq)
        while rest:
            s = rest.pop(0)
            if isinstance(s, tirx.Bind):    # a computed index: each phase binds its own variable
                var = tirx.Var(s.var.name, s.var.ty)
                rest = [substitute(r, s.var, var) for r in rest]
                out.append(tirx.Bind(var, s.value))
                continue
            out.append(_phase(s, base, which, registers, lanes))
            base = base + _count(s)
        return tirx.SeqStmt(out)
    if isinstance(stmt, tirx.IfThenElse):
        return tirx.IfThenElse(stmt.condition, _phase(stmt.then_case, base, which, registers, lanes),
                               None if stmt.else_case is None else
                               _phase(stmt.else_case, base, which, registers, lanes))
    if isinstance(stmt, tirx.AttrStmt):
        return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value,
                             _phase(stmt.body, base, which, registers, lanes))
    return stmt


def _merge_branches(stmt):
    """`if c: S else: S` as S (a staged store no longer depends on the load's guard)."""
    def on_if(node):
        if node.else_case is not None and tvm_ffi.structural_equal(node.then_case, node.else_case):
            return node.then_case
        return node

    return tvm_ffi.structural_map(stmt, (tirx.IfThenElse, on_if), order="post")


# -- 2. hinted accesses ---------------------------------------------------------------------
def _has_global_side(loop) -> bool:
    found = []
    tvm_ffi.structural_walk(loop, (tirx.BufferStore, lambda s: found.append(s)), order="pre")
    for store in found:
        if scope_kind(store.buffer) == "global":
            return True
        loads = []
        tvm_ffi.structural_walk(store.value, (tvm.ir.expr.TensorLoad, loads.append), order="pre")
        if any(scope_kind(l.source) == "global" for l in loads):
            return True
    return False


def _hinted(loop, body, read_only):
    """The marked vector loop `loop` over `body`, lane-invariant ifs hoisted out of it, as
    hinted accesses; a loop with no global side stays a plain vector loop."""
    if isinstance(body, tirx.IfThenElse) and not uses(body.condition, loop.loop_var):
        return tirx.IfThenElse(body.condition, _hinted(loop, body.then_case, read_only),
                               None if body.else_case is None else
                               _hinted(loop, body.else_case, read_only))
    lane = tirx.Var(loop.loop_var.name, "int32")     # each branch binds a lane of its own
    plain = rebuilt(loop, substitute(body, loop.loop_var, lane), var=lane,
                    annotations={k: v for k, v in loop.annotations.items() if k != ANNOTATION})
    if not _has_global_side(plain):
        return plain
    return hint_vector_copy(plain, _policy(loop), read_only)


def _written_globals(body) -> set[str]:
    names = set()
    tvm_ffi.structural_walk(body, (tirx.BufferStore, lambda s: names.add(s.buffer.name)
                                   if scope_kind(s.buffer) == "global" else None), order="pre")
    tvm_ffi.structural_walk(body, (TilePrimitiveCall, lambda c: names.add(c.args[0].source.name)
                                   if scope_kind(c.args[0].source) == "global" else None),
                            order="pre")
    return names


def _global_names(body) -> set[str]:
    names = set()
    tvm_ffi.structural_walk(body, (tvm.ir.expr.TensorLoad, lambda l: names.add(l.source.name)
                                   if scope_kind(l.source) == "global" else None), order="pre")
    return names


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.ApplyEvictionHints")
class ApplyEvictionHints:
    def transform_function(self, func, mod, ctx):
        read_only = _global_names(func.body) - _written_globals(func.body)

        def on_stage(attr):
            if attr.attr_key != STAGE_ATTR:
                return attr
            marked = []
            tvm_ffi.structural_walk(attr.body, (tirx.For, lambda f: marked.append(f)
                                                if _marked(f) else None), order="pre")
            if not marked:
                return attr
            pointer = str(attr.node.value)
            if not any(_has_global_side(f) for f in marked):
                raise StageError(pointer + "/eviction_policy",
                                 "eviction_policy is an L2 hint for global memory accesses; "
                                 "this stage reads and writes no global tensor",
                                 "remove eviction_policy")

            def on_for(loop):
                if not _marked(loop):
                    return loop
                try:
                    return _hinted(loop, loop.body, read_only)
                except NotHintable as e:     # raised through tvm: StageError keeps itself
                    raise StageError(pointer + "/eviction_policy",
                                     f"eviction_policy {_policy(loop)} cannot be applied to "
                                     f"this stage: {e}",
                                     "remove eviction_policy, or move whole vectors "
                                     "(coalesced_width of 2 bytes or more, same dtype on both "
                                     "sides)") from None

            body = tvm_ffi.structural_map(_stage(attr.body), (tirx.For, on_for), order="post")
            return tirx.AttrStmt(attr.node, attr.attr_key, attr.value, body)

        return func.with_body(tvm_ffi.structural_map(func.body, (tirx.AttrStmt, on_stage),
                                                     order="post"))
