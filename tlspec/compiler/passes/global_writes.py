"""The regions of global tensors that stages write, for ThreadSync: whether two writes may touch
one element.

A stage's threads write the elements of its region in their own order, so two stages writing one
element of a global tensor from different threads race unless a block barrier lies between them
(the spec's order of stages says the later one's value is the result). ThreadSync puts the
barrier there unless the regions are proven disjoint (a concatenation's two halves, a loop's
tiles of successive iterations), or the two writes are one stage's over the same region (each
element written by the same thread both times). LowerTileOp records, for every stage in program
order, the global region it writes (its first operand: a copy's, transpose's, gather's or
im2col's `dst`, a scatter's table), as the function attribute `ATTR`; `Writes` finds the region
of each lowered stage again by its position among the stages (no pass between the two adds or
removes a stage). A strided region spans count x step elements per dimension. `Rewrites` tells
LowerTileOp which TMA stores' elements may be written again (by another stage, or by a later
iteration of the same store): those are waited for until their writes are done.
"""
from __future__ import annotations

from dataclasses import dataclass

import tvm
import tvm_ffi
from tvm import tirx

from .. import ops
from ..analysis import (STAGE_ATTR, analyzer_for, attr, base_ranges, calls_in_loops, loop_ranges,
                        region_parts, scope_kind, stage_kind)
from ..lower.common import substitute

ATTR = "tlspec.global_writes"   # per stage in program order: [tensor, starts, spans] or []


def record(kind: str, call) -> list:
    """What LowerTileOp records for a stage: [tensor, starts, spans] of the global region it
    writes, or [] when it writes none."""
    if kind in ops.SYNC_ARGS or not call.args or not hasattr(call.args[0], "source") or \
            scope_kind(call.args[0].source) != "global":
        return []
    buffer, starts, extents = region_parts(call.args[0])
    steps = ops.steps_of(call, 0) if kind == "copy" else [1] * len(extents)
    return [buffer.name, list(starts), [e * s for e, s in zip(extents, steps)]]


@dataclass(frozen=True)
class Write:
    tensor: str
    stage: str                  # the stage's pointer
    starts: tuple
    spans: tuple
    leader: bool                # written by thread 0 alone (a TMA store)

    def shifted(self, var: tirx.Var, by) -> Write:
        """The region in the iteration `by` (a number, or a variable) after this one of the loop
        over `var`."""
        return self.substituted({var: var + by})

    def substituted(self, values: dict) -> Write:
        def put(e):
            for var, value in values.items():
                e = substitute(e, var, value)
            return e
        return Write(self.tensor, self.stage, tuple(put(s) for s in self.starts),
                     tuple(put(e) for e in self.spans), self.leader)


def other_iterations(loops: list[tirx.For], analyzer: tvm.sym.Analyzer) -> dict:
    """New variables for the variables of `loops`, over the same ranges: a write in another,
    independent iteration of them (the inner loops of a later iteration of an outer one)."""
    values = {}
    for loop in loops:
        other = tirx.Var(f"{loop.loop_var.name}_other", loop.loop_var.ty)
        analyzer.bind(other, tvm.ir.Range.from_min_extent(loop.min, loop.extent))
        values[loop.loop_var] = other
    return values


def iterations_ahead(loop: tirx.For, analyzer: tvm.sym.Analyzer) -> tirx.Var:
    """A new variable d for a number of iterations of `loop` ahead of the current one: d >= 1,
    at most the trip count - 1 (bound in `analyzer`)."""
    ahead = tirx.Var(f"{loop.loop_var.name}_ahead", loop.loop_var.ty)
    most = int(loop.extent) - 1 if isinstance(loop.extent, tirx.IntImm) else 1 << 30
    analyzer.bind(ahead, tvm.ir.Range.from_min_extent(1, max(most, 1)))
    return ahead


class Writes:
    """The recorded region of each lowered stage of `func`."""

    def __init__(self, func: tirx.PrimFunc):
        recorded = list(attr(func, ATTR, []))
        stages = []
        tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, lambda a: stages.append(a)
                                            if a.attr_key == STAGE_ATTR else None), order="pre")
        # a mismatch (not expected) leaves every region unknown: the barriers are then placed
        # as if any two writes of a tensor overlapped
        self.regions = {} if len(recorded) != len(stages) else {
            s.__chandle__(): r for s, r in zip(stages, recorded) if len(r)}

    def of(self, stage, leader: bool) -> list[Write]:
        """The writes of a lowered stage's AttrStmt."""
        found = self.regions.get(stage.__chandle__())
        if found is None:
            return []
        name, starts, spans = found
        return [Write(str(name), str(stage.node.value), tuple(starts), tuple(spans), leader)]

    @staticmethod
    def unknown(tensor: str, stage: str, leader: bool) -> Write:
        """A write of `tensor` whose region is not known: it may touch any element."""
        return Write(tensor, stage, (), (), leader)


def regions_analyzer(func: tirx.PrimFunc) -> tvm.sym.Analyzer:
    """An analyzer that knows the ranges of the block indices, symbolic dims and loop variables,
    a dim of `multiple_of` m being at least m (the two halves of a concatenation along a dim of
    multiple_of 64 are disjoint by it)."""
    ranges = {**base_ranges(func), **loop_ranges(func)}
    for var, multiple in attr(func, "tlspec.multiples", {}).items():
        found = next((v for v in ranges if v.same_as(var)), None)
        rng = ranges.get(found) if found is not None else None
        if rng is not None and isinstance(rng.min, tirx.IntImm) and \
                isinstance(rng.extent, tirx.IntImm) and int(rng.min) < int(multiple):
            end = int(rng.min) + int(rng.extent)
            if end > int(multiple):
                ranges[found] = tvm.ir.Range.from_min_extent(int(multiple), end - int(multiple))
    return analyzer_for(ranges)


def may_clash(a: Write, b: Write, analyzer: tvm.sym.Analyzer, same_threads: bool = True) -> bool:
    """Whether two writes may put one element of a tensor in a racy order: they may overlap,
    and (`same_threads`: for the ordinary stores of SIMT loops) are not one stage's over the
    same region, whose elements the same threads write in program order."""
    if a.tensor != b.tensor:
        return False
    if not a.starts or not b.starts:
        return True
    if same_threads and a.stage == b.stage and len(a.starts) == len(b.starts) and all(
            analyzer.can_prove_equal(x, y) for x, y in zip(a.starts + a.spans,
                                                          b.starts + b.spans)):
        return False
    return not any(analyzer.can_prove(sa + ea <= sb) or analyzer.can_prove(sb + eb <= sa)
                   for sa, ea, sb, eb in zip(a.starts, a.spans, b.starts, b.spans))


class Rewrites:
    """For LowerTileOp, on the tile IR: whether the elements a TMA store writes may be written
    again (by another stage, or by the same stage in a later iteration of a loop around it).
    Such a store is waited for until its writes are done, not only until it has read the tile:
    two writes of one element in flight, or a TMA store in flight and a later ordinary store,
    land in any order."""

    def __init__(self, func: tirx.PrimFunc):
        self.analyzer = regions_analyzer(func)
        self.writes = [(self._write(ops.kind_of(call), call), loops, call.__chandle__())
                       for call, loops in calls_in_loops(func)
                       if ops.kind_of(call) is not None and record(ops.kind_of(call), call)]

    @staticmethod
    def _write(kind: str, call) -> Write:
        name, starts, spans = record(kind, call)
        return Write(name, str(ops.config_of(call)[ops.STAGE]), tuple(starts), tuple(spans),
                     False)

    def _again(self, write: Write, loops: list, handle: int) -> bool:
        """Whether another write (in this iteration of the loops around `write`, or d >= 1
        iterations later) or this one in a later iteration may touch its elements."""
        def later(other: Write, their_loops: list) -> list[Write]:
            """`other` in the iterations after this one of each loop around `write` (the
            loops inside that one run any iteration then)."""
            found = []
            for loop in loops:
                if self.analyzer.can_prove(loop.extent <= 1):
                    continue
                inner = their_loops[their_loops.index(loop) + 1:] if loop in their_loops else []
                values = {**other_iterations(inner, self.analyzer),
                          loop.loop_var: loop.loop_var + iterations_ahead(loop, self.analyzer)}
                found.append(other.substituted(values))
            return found

        return any(may_clash(write, theirs, self.analyzer, same_threads=False)
                   for other, their_loops, h in self.writes
                   for theirs in [other] * (h != handle) + later(other, their_loops))

    def again(self, kind: str, call, loops: list[tirx.For]) -> bool:
        """Whether what this stage (inside `loops`) writes may be written again."""
        return self._again(self._write(kind, call), loops, call.__chandle__())

    def tensor_again(self, tensor: str) -> bool:
        """Whether some element of `tensor` may be written twice (for the waits of explicit
        TMA stores, `tma_store_wait`, which know no stage)."""
        return any(self._again(write, loops, h) for write, loops, h in self.writes
                   if write.tensor == tensor)


def stage_attrs(stmt) -> list:
    """The lowered stages' AttrStmts in `stmt` (itself, when it is one)."""
    if stage_kind(stmt) is not None:
        return [stmt]
    found = []
    tvm_ffi.structural_walk(stmt, (tirx.AttrStmt, lambda a: found.append(a)
                                   if a.attr_key == STAGE_ATTR else None), order="pre")
    return found
