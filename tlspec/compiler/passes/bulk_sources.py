"""Whether a block-to-block bulk copy may still be reading its source when a later stage writes
it (InstructionAnnotation then copies with SIMT stores instead).

A `cp.async.bulk` from this block's shared memory into another block's completes only on the
receiver's mbarrier: no block learns that its own copy has read its source, and a cluster
barrier does not wait for it. The blocks run the same stages: the receiver's `barrier_wait` on
the copy's `remote_barrier` is the one at the same stage as this block's own, and the cluster
barrier ClusterPlanning puts before a write of the source comes after it in every block. A write of the source on a path from the copy that reaches no such wait
first (the next stage reloading the tile; a loop's next iteration reloading it before it waits
for the copy of the last) may overwrite what the copy has not read yet: the interpreter reads
the source at the copy (docs/interpreter.md, Block-to-block copies), so the kernel would differ
from it.

The paths followed from the copy, in program order: the rest of its stage list; at the end of a
loop body, the body's next iteration (its variable one higher) up to the copy and on past it,
and the stages after the loop; at the end of the kernel, none. A wait counts where it names the
copy's barrier slot for certain (a slot of the next iteration shifted: `full[k % 2]` there is
`full[(k + 1) % 2]` here); in a later loop, one of its first iteration (and where the loop may
run no iteration, the path that skips it is followed too). A write counts where it may touch the
copy's source region: regions compared with the loop variables known, slots like
`A_s[(k + 2) % 2]` against `A_s[(k + 1) % 2]` over the residues of their period; past what is
followed precisely (a later loop's second iteration, a loop around the copy's loop, the next
iteration beyond its copy), wherever it writes the source tile.
"""
from __future__ import annotations

from math import prod

import tvm
import tvm_ffi
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from .. import ops
from ..analysis import region_parts
from .global_writes import regions_analyzer

MAX_PERIOD = 64         # residues tried when proving two slot indices differ


def rewritten_early(func: tirx.PrimFunc, copy: TilePrimitiveCall) -> str | None:
    """The stage (its pointer) that may write the source of the block-to-block copy `copy`
    (copy_cluster with dst_block and remote_barrier) before a barrier_wait sees it land; None
    when every path from the copy waits for it first."""
    frames = _path(func.body, ops.config_of(copy)[ops.STAGE])
    if frames is None:
        return None
    return _Follower(func, copy).after(frames, len(frames) - 1, {})


def _stmts(node) -> list:
    if isinstance(node, tirx.SeqStmt):
        return [s for child in node.seq for s in _stmts(child)]
    return [node]


def _path(node, pointer: str) -> list | None:
    """[(statements, index, loop whose body they are or None), ...] from the outermost list down
    to the one holding the stage at `pointer`."""
    if isinstance(node, tirx.For):
        return _in_list(_stmts(node.body), pointer, node)
    if isinstance(node, tirx.SeqStmt):
        return _in_list(_stmts(node), pointer, None)
    if isinstance(node, TilePrimitiveCall) or not hasattr(node, "body"):
        return None
    return _path(node.body, pointer)


def _in_list(stmts: list, pointer: str, loop) -> list | None:
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, TilePrimitiveCall):
            if ops.kind_of(stmt) is not None and ops.config_of(stmt).get(ops.STAGE) == pointer:
                return [(stmts, i, loop)]
            continue
        inner = _path(stmt, pointer)
        if inner is not None:
            return [(stmts, i, loop), *inner]
    return None


class _Follower:
    def __init__(self, func, copy):
        self.analyzer = regions_analyzer(func)
        self.tile, self.starts, self.extents = region_parts(copy.args[1])
        self.slot = copy.args[3]

    # -- the paths ------------------------------------------------------------------------------
    def after(self, frames: list, level: int, shift: dict) -> str | None:
        """Follow the paths from the end of frames[level]'s item (the copy, or the loop that
        holds it): the rest of its list, then a loop's next iteration and its exit."""
        stmts, index, loop = frames[level]
        found = self.scan(stmts[index + 1:], shift)
        if found is not None:
            return found or None
        if loop is None:
            return None                             # the kernel ends
        if level == len(frames) - 1:
            # the next iteration, up to its copy and on to that copy's wait: the wait for
            # this copy, if any, comes before the one for the next (a wait names a phase)
            found = self.scan(stmts, {**shift, loop.loop_var: loop.loop_var + 1})
            if found is None:
                found = self.first_write(loop.body)
            if found:
                return found
        elif self.first_write(loop.body) is not None:   # an outer loop's next iteration
            return self.first_write(loop.body)
        return self.after(frames, level - 1, shift)

    def scan(self, stmts: list, shift: dict) -> str | None:
        """'' at a wait for the copy, a stage's pointer at a write that may touch its source,
        None past the end of `stmts` without either."""
        for stmt in stmts:
            if isinstance(stmt, TilePrimitiveCall):
                kind = ops.kind_of(stmt)
                if kind == "barrier_wait" and self.same(_shifted(stmt.args[0], shift), self.slot):
                    return ""
                if kind is not None and self.touches(stmt, shift):
                    return ops.config_of(stmt)[ops.STAGE]
            elif isinstance(stmt, tirx.For):
                found = self.loop(stmt, shift)
                if found:
                    return found
                if found == "" and self.analyzer.can_prove(stmt.extent >= 1):
                    return ""
            elif self.first_write(stmt) is not None:
                return self.first_write(stmt)
        return None

    def loop(self, loop: tirx.For, shift: dict) -> str | None:
        """A loop after the copy: '' when its first iteration waits for the copy before any
        write of the source, a write's pointer when one comes first (or when a later iteration
        writes the source tile at all, without that wait), else None."""
        found = self.scan(_stmts(loop.body), {**shift, loop.loop_var: loop.min})
        if found is None:
            return self.first_write(loop.body)
        return found

    # -- stages ---------------------------------------------------------------------------------
    def _written(self, call):
        region = call.args[0] if call.args else None
        return region if hasattr(region, "source") and region.source.same_as(self.tile) else None

    def touches(self, call, shift: dict) -> bool:
        region = self._written(call)
        if region is None:
            return False
        _, starts, extents = region_parts(region)
        return not self.disjoint([_shifted(s, shift) for s in starts],
                                 [_shifted(e, shift) for e in extents])

    def first_write(self, node) -> str | None:
        found = []

        def visit(call):
            if ops.kind_of(call) is not None and self._written(call) is not None:
                found.append(ops.config_of(call)[ops.STAGE])

        tvm_ffi.structural_walk(node, (TilePrimitiveCall, visit), order="pre")
        return found[0] if found else None

    def same(self, a, b) -> bool:
        return self.analyzer.can_prove(a == b)

    def disjoint(self, starts: list, extents: list) -> bool:
        for a, n, b, m in zip(starts, extents, self.starts, self.extents):
            if self.analyzer.can_prove(a + n <= b) or self.analyzer.can_prove(b + m <= a):
                return True
            if _is_one(n) and _is_one(m) and self.differ(a, b):
                return True
        return False

    def differ(self, a, b) -> bool:
        """Whether a != b for every value of the one loop variable they name, tried over the
        residues of its period (slot indices like (k + 1) % 2 against k % 2)."""
        if self.analyzer.can_prove(a != b):
            return True
        names = _vars(a - b)
        divisors = _divisors(a - b)
        if len(names) != 1 or not divisors or prod(divisors) > MAX_PERIOD:
            return False
        (var,), period = names, prod(divisors)
        q = tirx.Var(var.name + "_q", var.ty)
        analyzer = tvm.sym.Analyzer()
        analyzer.bind(q, tvm.ir.Range.from_min_extent(0, 1 << 30))
        for r in range(period):
            value = {var: q * period + r}
            if not analyzer.can_prove(_shifted(a, value) != _shifted(b, value)):
                return False
        return True


def _shifted(expr, values: dict):
    """`expr` with the variables of `values` replaced by their values."""
    if not values:
        return expr
    return tvm_ffi.structural_map(expr, (tirx.Var, lambda v: next(
        (value for var, value in values.items() if var.same_as(v)), v)), order="post")


def _is_one(value) -> bool:
    return isinstance(value, tirx.IntImm) and int(value) == 1


def _vars(expr) -> list:
    found = []
    tvm_ffi.structural_walk(expr, (tirx.Var, lambda v: None if any(v.same_as(f) for f in found)
                                   else found.append(v)), order="pre")
    return found


def _divisors(expr) -> list[int]:
    """The constant divisors of the floor divisions and modulos in `expr`."""
    found = []

    def visit(node):
        if isinstance(node.b, tirx.IntImm):
            found.append(int(node.b))

    tvm_ffi.structural_walk(expr, [(tirx.FloorMod, visit), (tirx.FloorDiv, visit)], order="pre")
    return found
