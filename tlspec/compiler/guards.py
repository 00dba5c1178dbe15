"""Bounds guards on global-memory accesses, shared by LegalizeNegativeIndex (lower bounds) and
LegalizeSafeMemoryAccess (upper bounds).

Every BufferStore of the lowered code is examined with the value ranges of the block indices,
symbolic dims, thread index and enclosing loops. For each global access whose index is not
proven to be inside the tensor, a condition is built; inside a vectorized loop the condition is
taken at the vector's first lane (lower bound) or last lane (upper bound), so it does not depend
on the lane and the vector stays whole. (InstructionAnnotation only vectorizes where starts,
extents and rows are multiples of the vector, and where no vector can straddle the end of a
tensor, so a vector is all in or all out.)

- a store out of bounds is skipped: `if (cond) store`;
- a load out of bounds reads zero: `if (cond) store(value) else store(value with that load = 0)`,
  or the stage's fill: the function attribute `tlspec.fills` (LowerTileOp) maps a stage's pointer
  to the tensor it fills and the fill's bits (the loads move bits), which replace its loads of
  that tensor (a gather's index loads still read zero);
- a cp.async whose source is out of bounds copies zeros: its source size becomes
  `cond ? size : 0` (cp.async zero-fills what it does not read), taken at the vector's last
  element like a vectorized load.
This is TMA's rule too (reads outside a tensor are zero, writes are dropped), so partial tiles and
convolution padding behave the same whatever instruction moves them; a stage with a fill other
than zero is never TMA or cp.async (InstructionAnnotation).
"""
from __future__ import annotations

import tvm
import tvm_ffi
from tvm import tirx
from tvm.ir.expr import TensorLoad as LoadNode

from .analysis import (STAGE_ATTR, analyzer_for, attr, base_ranges, cp_async_parts, dtype_bytes,
                       scope_kind)
from .lower.common import bits_as, rebuilt
from .lower.cp_async import zero_fill_unless
from .lower.pitched import PITCHED


FILLS = "tlspec.fills"      # function attribute: stage pointer -> [source tensor, hex fill bits]


def _is_global(buffer) -> bool:
    return scope_kind(buffer) == "global"


class GuardInserter:
    """Adds the `lower` (index >= 0) or `upper` (index < extent) guards of a function."""

    def __init__(self, func: tirx.PrimFunc, side: str):
        self.side = side
        # One analyzer for the whole function: each loop variable is bound once, where its loop
        # is entered (a new analyzer per access, binding every variable seen so far, made the
        # pass quadratic in the number of stages).
        self.analyzer = analyzer_for(base_ranges(func))
        self.lane: tuple[tirx.Var, tirx.PrimExpr] | None = None
        self.fills = {str(k): (str(v[0]), int(str(v[1]), 16))
                      for k, v in attr(func, FILLS, {}).items()}
        self.fill: tuple[str, int] | None = None      # the running stage's
        # a strided tensor's loops address its pitched view: bounded by the tensor's own shape
        self.shapes = {str(k): list(v) for k, v in attr(func, PITCHED, {}).items()}

    def run(self, stmt):
        if isinstance(stmt, tirx.For):
            self.analyzer.bind(stmt.loop_var, tvm.ir.Range.from_min_extent(stmt.min, stmt.extent),
                               allow_override=True)
            if stmt.kind == tirx.ForKind.VECTORIZED:
                outer, self.lane = self.lane, (stmt.loop_var, stmt.extent)
                body = self.run(stmt.body)
                self.lane = outer
            else:
                body = self.run(stmt.body)
            return rebuilt(stmt, body)
        if isinstance(stmt, tirx.SeqStmt):
            return tirx.SeqStmt([self.run(s) for s in stmt.seq])
        if isinstance(stmt, tirx.AttrStmt):
            outer = self.fill
            if stmt.attr_key == STAGE_ATTR:
                self.fill = self.fills.get(str(stmt.node.value))
            body = self.run(stmt.body)
            self.fill = outer
            return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, body)
        if isinstance(stmt, tirx.IfThenElse):
            return tirx.IfThenElse(stmt.condition, self.run(stmt.then_case),
                                   self.run(stmt.else_case) if stmt.else_case else None)
        if isinstance(stmt, tirx.BufferStore):
            return self._store(stmt)
        if isinstance(stmt, tirx.Evaluate) and cp_async_parts(stmt.value) is not None:
            return self._cp_async(stmt.value)
        return stmt

    # -- one store -------------------------------------------------------------------------
    def _condition(self, buffer, indices) -> tirx.PrimExpr | None:
        analyzer = self.analyzer
        conds = []
        for index, extent in zip(indices, self.shapes.get(buffer.name, buffer.shape)):
            if self.lane is not None:
                var, lanes = self.lane
                at = 0 if self.side == "lower" else lanes - 1
                index = tvm_ffi.structural_map(
                    index, (tirx.Var, lambda v: tirx.IntImm("int32", 0) + at if v.same_as(var) else v),
                    order="post")
            cond = index >= 0 if self.side == "lower" else index < extent
            if not analyzer.can_prove(cond):
                conds.append(analyzer.simplify(cond))
        result = None
        for cond in conds:
            result = cond if result is None else tirx.And(result, cond)
        return result

    def _store(self, store):
        guarded_loads = []

        def on_load(load):
            if _is_global(load.source):
                cond = self._condition(load.source, load.indices)
                if cond is not None:
                    guarded_loads.append((load, cond))

        tvm_ffi.structural_walk(store.value, (LoadNode, on_load), order="pre")
        result = store
        if guarded_loads:
            cond = guarded_loads[0][1]
            for _, c in guarded_loads[1:]:
                cond = tirx.And(cond, c)
            zeroed = tvm_ffi.structural_map(
                store.value,
                (LoadNode, lambda l: self._fill(l)
                 if any(l.same_as(g) for g, _ in guarded_loads) else l),
                order="pre")   # outermost first: a guarded load inside one (a gather's index)
                               # must not rebuild it into a load that escapes the zeroing
            result = tirx.IfThenElse(cond, store, tirx.BufferStore(store.buffer, zeroed,
                                                                   store.indices))
        if _is_global(store.buffer):
            cond = self._condition(store.buffer, store.indices)
            if cond is not None:
                result = tirx.IfThenElse(cond, result, None)
        return result

    def _fill(self, load) -> tirx.PrimExpr:
        """What a load outside its tensor reads: the running stage's fill bits for the tensor
        the stage fills, zero otherwise."""
        bits = self.fill[1] if self.fill and self.fill[0] == load.source.name else 0
        return bits_as(bits, str(load.ty))     # the loads of a gather's index: their own type

    def _cp_async(self, call):
        """A cp.async (never in a vectorized loop: it moves the whole vector) whose source may
        lie outside the tensor copies zeros there, the rule for loads."""
        _, src, nbytes = cp_async_parts(call)
        at = 0 if self.side == "lower" else nbytes // dtype_bytes(src.source.dtype) - 1
        cond = self._condition(src.source, [*src.indices[:-1], src.indices[-1] + at])
        return tirx.Evaluate(call if cond is None else zero_fill_unless(call, cond))


def insert_guards(func: tirx.PrimFunc, side: str) -> tirx.PrimFunc:
    return func.with_body(GuardInserter(func, side).run(func.body))
