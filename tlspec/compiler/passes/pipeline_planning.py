"""PipelinePlanning: decide, for every `pipeline` loop, which of its copies are issued ahead.

A load is a copy from global memory into a shared tile by TMA or cp.async (as
InstructionAnnotation chose), or by a SIMT loop whose vectors cp.async can copy (4, 8 or 16
bytes, no eviction hint, no `prefer_instruction: sync`, no fill other than zero: on sm_80, or
where TMA cannot express the copy), which the pipeline then issues as cp.async, or a
`copy_cluster` TMA multicast (all of a loop's multicasts with one `cluster_mask`). It can be
issued `num_stages - 1` iterations ahead when every iteration in flight has its own part of the
tile: the load writes slot `k % s` of the tile's
first dimension with `s >= num_stages`, every other stage of the body that touches that tile
touches the same slot, and the load is the first stage of the body to touch the tile (a later
copy into the slot, after the slot was read, stays in its place in the iteration: the slots of
the iterations in flight are others). The
rest of the body (the consumers) runs in the iteration, after a wait for its loads
(InjectSoftwarePipeline).

A loop is pipelined only when that is exactly what the body means; otherwise it runs as written,
one iteration after another, and the plan says why (`--dump-ir` shows it on the loop):
`num_stages` is 1; the body holds something other than data stages (a synchronisation stage or
an explicit asynchronous copy, a TMA gather4 / scatter4 or a block-to-block copy_cluster too:
the spec orders those itself; a nested loop); no load qualifies; multicasts with different masks;
a stage touches a load's tile outside its slot, or before the load (issued ahead, the load
would overwrite what the stage reads, or the stage's writes, with its own iteration's data);
a stage of the body writes a global tensor a load reads (the next iterations' loads would read
it too early); or a TMA load sits in loops whose trip counts vary (its barriers' phases are
counted across the loop's entries, see InjectSoftwarePipeline).

The plan is the loop annotation `tlspec.pipeline_plan`: `loads` (positions in the body) and `why`.
A loop of plain data stages that runs as written for a reason other than `num_stages: 1` is a
slower kernel than its spec asked for: the plan is also a note (`tlspec.notes`: the loop's
pointer and the reason), which `tlspec compile` reports as a located warning.
"""
from __future__ import annotations

from collections.abc import Callable

import tvm_ffi
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from .. import ops
from ..analysis import dtype_bytes, region_parts, scope_kind
from ..lower.cp_async import ACCESS_BYTES
from ..lower.common import rebuilt
from ..tileir import PIPELINE_ATTR

PLAN_ATTR = "tlspec.pipeline_plan"
SERIAL = "runs as written, one iteration after another: "
DATA_KINDS = ("copy", "transpose", "gather", "scatter", "im2col", "copy_cluster")


def body_stmts(loop: tirx.For) -> list:
    return list(loop.body.seq) if isinstance(loop.body, tirx.SeqStmt) else [loop.body]


def _slot(region, var: tirx.Var, stages: int) -> tirx.PrimExpr | None:
    """The slot expression `k % s` (s >= stages) of a region of a shared tile, else None."""
    buffer, starts, extents = region_parts(region)
    if len(starts) < 2 or not isinstance(extents[0], tirx.IntImm) or extents[0].value != 1:
        return None
    start = starts[0]
    if (isinstance(start, tirx.FloorMod) and start.a.same_as(var)
            and isinstance(start.b, tirx.IntImm) and stages <= start.b.value <= int(buffer.shape[0])):
        return start
    return None


def is_multicast(call) -> bool:
    """Whether a stage is a copy_cluster TMA multicast (`cluster_mask`)."""
    return ops.kind_of(call) == "copy_cluster" and "cluster_mask" in ops.config_of(call)


def _is_load(call) -> bool:
    dst, src = call.args[0], call.args[1]
    if is_multicast(call):
        return True
    if not (ops.kind_of(call) == "copy" and scope_kind(dst.source) == "shared"
            and scope_kind(src.source) == "global"):
        return False
    config = ops.config_of(call)
    if config.get("tlspec.instruction") in ("tma", "cp_async"):
        return True
    return ("eviction_policy" not in config and "prefer_instruction" not in config
            and ops.FILL not in config      # cp.async reads zeros outside a tensor
            and dst.source.dtype == src.source.dtype     # cp.async moves bits: no conversion
            and config["tlspec.vector"] * dtype_bytes(dst.source.dtype) in ACCESS_BYTES)


def plan(loop: tirx.For) -> dict:
    """{"loads": [...], "why": ...} for the pipeline loop `loop`. (Its TMA loads never lie in a
    nest of varying trip counts, whose phases could not be counted: InstructionAnnotation
    makes such loads SIMT loops.)"""
    stages = int(loop.annotations[PIPELINE_ATTR]["num_stages"])
    var = loop.loop_var

    def serial(why: str) -> dict:
        return {"loads": [], "why": SERIAL + why}

    if stages < 2:
        return serial("num_stages is 1")
    stmts = body_stmts(loop)
    if not all(isinstance(s, TilePrimitiveCall) and ops.kind_of(s) in DATA_KINDS for s in stmts):
        return serial("the body holds stages other than copy, transpose, gather, scatter and "
                      "im2col (its synchronisation is the spec's own)")
    if any(ops.is_tma_rows(s) for s in stmts):
        return serial("the body holds a TMA gather4 or scatter4, an asynchronous copy the spec "
                      "orders itself")
    if any(ops.kind_of(s) == "copy_cluster" and not is_multicast(s) for s in stmts):
        return serial("the body holds a block-to-block copy_cluster (dst_block), whose "
                      "receivers the spec's own barriers order")
    loads, slots, touched, overtaken = [], {}, set(), None
    for i, call in enumerate(stmts):
        tile = call.args[0].source.name
        slot = _slot(call.args[0], var, stages) if _is_load(call) else None
        # issued early, a load must not overtake an access of its tile in the same iteration
        if slot is not None and tile in touched:
            overtaken = overtaken or tile
        elif slot is not None:
            loads.append(i)
            slots[tile] = slot
        touched |= {r.source.name for r in call.args if hasattr(r, "source")}
    if not loads and overtaken:
        return serial(f"a stage touches '{overtaken}' before its load in the body (it would see "
                      "the load of its own iteration)")
    if not loads:
        filled = [ops.config_of(c)[ops.STAGE] for c in stmts if ops.FILL in ops.config_of(c)]
        converting = [c for c in stmts if ops.kind_of(c) == "copy"
                      and c.args[0].source.dtype != c.args[1].source.dtype
                      and scope_kind(c.args[1].source) == "global"]
        return serial(f"no copy into a shared tile by TMA or cp.async (or cp.async-sized "
                      f"vectors) writes a slot 'k % s' with s >= num_stages ({stages}) of its "
                      "tile's first dimension" + (f" (the fill of {filled[0]} is not zero, "
                                                  "and TMA and cp.async read zeros outside a "
                                                  "tensor)" if filled else "")
                      + (f" (the copy {ops.config_of(converting[0])[ops.STAGE]} converts "
                         f"{converting[0].args[1].source.dtype} to "
                         f"{converting[0].args[0].source.dtype}, and TMA and cp.async move bits)"
                         if converting and not filled else ""))
    for i, call in enumerate(stmts):
        for region in call.args:
            name = getattr(getattr(region, "source", None), "name", None)
            if i in loads or name not in slots:
                continue
            found = _slot(region, var, stages)
            if found is None or not tvm_ffi.structural_equal(found, slots[name]):
                return serial(f"a stage touches '{name}' outside the slot its load writes")
    masks = {int(ops.config_of(stmts[i])["cluster_mask"]) for i in loads
             if is_multicast(stmts[i])}
    if len(masks) > 1:
        return serial(f"its multicast loads have different cluster masks "
                      f"({', '.join(f'{m:#x}' for m in sorted(masks))}): one ring of release "
                      "barriers serves one mask")
    written = {call.args[0].source.name for call in stmts if scope_kind(call.args[0].source) == "global"}
    read = {stmts[i].args[1].source.name for i in loads}
    if written & read:
        return serial(f"the body writes '{sorted(written & read)[0]}', which its loads read")
    why = f"{len(loads)} load(s) issued {stages - 1} iteration(s) ahead"
    if masks:
        mask = masks.pop()
        why += (f"; the multicast's issuer (rank {(mask & -mask).bit_length() - 1}) refills a "
                f"slot once the {bin(mask).count('1')} blocks of mask {mask:#x} released it")
    return {"loads": loads, "why": why}


def map_pipeline_loops(body, rewrite: Callable[[tirx.For, list[tirx.For]], tirx.Stmt]):
    """`body` with every pipeline loop (its body mapped first) replaced by
    `rewrite(loop, enclosing loops)`."""
    loops: list[tirx.For] = []

    def visit(stmt):
        if isinstance(stmt, tirx.SeqStmt):
            return tirx.SeqStmt([visit(s) for s in stmt.seq])
        if isinstance(stmt, tirx.AttrStmt):
            return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, visit(stmt.body))
        if not isinstance(stmt, tirx.For):
            return stmt
        loops.append(stmt)
        loop = rebuilt(stmt, visit(stmt.body))
        loops.pop()
        return rewrite(loop, list(loops)) if PIPELINE_ATTR in loop.annotations else loop

    return visit(body)


def phase_count(k, extent, stages: int, outer: list[tirx.For]) -> tirx.PrimExpr:
    """How many phases barrier `k % stages` of a ring completed before iteration k's (see
    InjectSoftwarePipeline): its uses in the loop's earlier entries and in this one."""
    phases = tirx.floordiv(k, stages)
    if outer:
        entries, scale = tirx.IntImm("int32", 0), 1
        for loop in reversed(outer):
            entries = entries + (loop.loop_var - loop.min) * scale
            scale = scale * loop.extent
        uses = tirx.floordiv(tirx.max(extent - tirx.floormod(k, stages), 0) + stages - 1, stages)
        phases = phases + entries * uses
    return phases


NOTES_ATTR = "tlspec.notes"          # [[stage pointer, message, hint], ...]: compile warnings
NOT_SLOW = ("num_stages is 1", "the body holds stages other than")    # as the spec asked


def note(loop: tirx.For, why: str) -> list[str] | None:
    """[pointer, message, hint] of a pipeline loop that runs as written where the spec asked for
    a pipeline, else None."""
    if not why.startswith(SERIAL) or why[len(SERIAL):].startswith(NOT_SLOW):
        return None
    return [str(loop.annotations[PIPELINE_ATTR]["stage"]), f"this pipeline loop {why}",
            "give each iteration in flight its own slot of the tile: load into "
            "'tile[k % s, ...]' (s >= num_stages) as the first stage of the body to touch it, "
            "and read that slot (docs/spec.md#pipeline)"]


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.PipelinePlanning")
class PipelinePlanning:
    def transform_function(self, func, mod, ctx):
        notes = []

        def with_plan(loop: tirx.For, outer: list[tirx.For]) -> tirx.For:
            planned = plan(loop)
            found = note(loop, planned["why"])
            if found is not None:
                notes.append(found)
            return rebuilt(loop, annotations={**loop.annotations, PLAN_ATTR: planned})

        func = func.with_body(map_pipeline_loops(func.body, with_plan))
        return func.with_attr(NOTES_ATTR, notes) if notes else func

