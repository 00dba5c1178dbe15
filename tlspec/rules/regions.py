"""Rules on regions: positive extents, inside their buffers, matching extents between two regions.

What can be proved from constant dims, grid extents and loop ranges is checked here; a region
that depends on a symbolic dim is checked by the launch wrapper at run time instead.
A region of a *global* tensor may run past its end (the partial tile at its edge) and start
before its start (a halo, `A[bx*64 - 1 : +66]`): what lies outside is read as the stage's fill
(zero by default) and not written. It must still start before the tensor's end; regions of
shared and register tiles must lie wholly inside them.
A strided region (`A[:, 0 : N : 2]`) selects every step-th element; its extent is the number of
elements it selects. Steps are constants of at least 1, on global tensors, in copy stages: a
shared or register tile is dense (a copy gathers the strided elements into it). A stage moves
a fragment whole: a region of a fragment must be all of it.
"""
from __future__ import annotations

from ..expr import Expr, to_source
from ..expr_algebra import simplify
from ..model import RegionRef
from .context import Context, Scope, shape_text


def check_region(ctx: Context, ref: RegionRef, scope: Scope) -> None:
    buffer = ctx.buffer(ref)
    text = ref.region.text
    for i, ((start, extent), size) in enumerate(zip(ref.dims, buffer.shape)):
        extent_range = ctx.bounds(extent, scope)
        if extent_range is not None and extent_range[0] < 1:
            ctx.error(ref.pointer, f"region '{text}' has extent {extent_range[0]} in dimension {i}; "
                                   "extents must be positive",
                      "write 'start : +extent' with an extent of at least 1, or 'start : stop' "
                      "with stop past start")
            continue
        start_range = ctx.bounds(start, scope)
        limit = ctx.const(size)
        if start_range is None or limit is None:
            continue  # depends on a symbolic dim: the launch wrapper checks it
        lo, hi = start_range
        if lo < 0 and not buffer.is_global:
            ctx.error(ref.pointer, f"region '{text}' starts at {lo} in dimension {i}, before the "
                                   f"start of {buffer.scope} buffer '{buffer.name}'",
                      "regions of shared and register tiles must lie inside them (only a global "
                      "tensor's region may start before it: a halo)")
        elif buffer.is_global and hi >= limit:
            ctx.error(ref.pointer, f"region '{text}' starts at up to {hi} in dimension {i}, past "
                                   f"the end of '{buffer.name}' (extent {limit})",
                      "the grid or a loop runs past the tensor: size it with ceildiv(extent, tile)")
        elif not buffer.is_global and extent_range is not None and hi + extent_range[1] > limit:
            ctx.error(ref.pointer, f"region '{text}' ends at up to {hi + extent_range[1]} in "
                                   f"dimension {i}, past the end of {buffer.scope} buffer "
                                   f"'{buffer.name}' (extent {limit})",
                      "regions of shared and register tiles must lie inside them")


def check_fragment_whole(ctx: Context, ref: RegionRef, scope: Scope) -> None:
    """A region of a fragment is the whole fragment: a stage numbers the registers of each
    thread over the whole region it moves, so two parts of a fragment would share them."""
    buffer = ctx.buffer(ref)
    if buffer.scope != "fragment" or all(
            ctx.bounds(start, scope) == (0, 0) and ctx.const(extent, scope) == ctx.const(size)
            for (start, extent), size in zip(ref.dims, buffer.shape)):
        return
    ctx.error(ref.pointer, f"region '{ref.region.text}' is a part of fragment '{buffer.name}'; "
                           "a stage moves a fragment whole (its registers are numbered over the "
                           "whole fragment, so two parts would share registers)",
              f"declare one fragment per part, or move '{buffer.name}' whole (write "
              f"'{buffer.name}')")


def check_steps(ctx: Context, kind: str, ref: RegionRef) -> None:
    """A region's steps: constants of at least 1, of a global tensor, in a copy stage."""
    text = ref.region.text
    buffer = ctx.buffer(ref)
    if kind != "copy":
        ctx.error(ref.pointer, f"region '{text}' has a step; {kind} takes dense regions",
                  "move strided elements with a copy (into a dense shared or register tile), "
                  "then use that tile here")
        return
    if not buffer.is_global:
        ctx.error(ref.pointer, f"region '{text}' of {buffer.scope} buffer '{buffer.name}' has a "
                               "step; shared and register tiles are dense",
                  "put the step on the global tensor's side of the copy: src: A[:, 0 : N : 2], "
                  "dst: A_s")
        return
    for i, step in enumerate(ref.steps):
        value = ctx.const(step)
        if value is None:
            ctx.error(ref.pointer, f"region '{text}' has step '{to_source(step)}' in dimension "
                                   f"{i}, which is not a constant",
                      "steps are compile-time constants: write an integer or a constant dim (one copy "
                      "per step where a loop would vary it)")
        elif value < 1:
            ctx.error(ref.pointer, f"region '{text}' has step {value} in dimension {i}; steps "
                                   "must be at least 1",
                      "to reverse a dimension, copy it forwards and index it backwards")


def squeeze(extents: list[Expr], ctx: Context) -> list[Expr]:
    """Extents without unit dimensions: a [1, 64] row and a [64] vector have the same shape."""
    return [simplify(e) for e in extents if ctx.const(e) != 1]


def same_extent(a: Expr, b: Expr, ctx: Context) -> bool:
    if simplify(a) == simplify(b):
        return True
    ca, cb = ctx.const(a), ctx.const(b)
    return ca is not None and ca == cb


def check_same_extents(ctx: Context, src: RegionRef, dst: RegionRef, what: str) -> bool:
    """Report and return False unless `src` and `dst` have equal extents (unit dims dropped)."""
    if any((v := ctx.const(e)) is not None and v < 1 for e in src.extents + dst.extents):
        return True  # a non-positive extent is reported as such by check_region
    a, b = squeeze(src.extents, ctx), squeeze(dst.extents, ctx)
    if len(a) == len(b) and all(same_extent(x, y, ctx) for x, y in zip(a, b)):
        return True
    ctx.error(dst.pointer, f"{what}: src '{src.region.text}' has extents {shape_text(src.extents)} "
                           f"but dst '{dst.region.text}' has {shape_text(dst.extents)}",
              "both sides must have the same extents once dimensions of extent 1 are dropped")
    return False


def const_extents(ctx: Context, ref: RegionRef, scope: Scope) -> list[int] | None:
    values = [ctx.const(e, scope) for e in ref.extents]
    return None if any(v is None for v in values) else values


def full_dim(ref: RegionRef, dim: int) -> bool:
    """Whether dimension `dim` of the region is the whole dimension (written ':' or left out)."""
    if ref.region.slices is None:
        return True
    s = ref.region.slices[dim]
    return s.start is None and s.extent is None and not s.single

