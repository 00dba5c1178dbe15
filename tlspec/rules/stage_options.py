"""Checks the stage kinds share: a region option's scope, equal dtypes on both sides, and the
options of a SIMT loop (its vector width and thread layout)."""
from __future__ import annotations

from math import prod

from ..dtypes import DTYPE_BYTES, MAX_VECTOR_BYTES
from ..model import RegionRef, Stage
from ..source import pointer_join
from .context import Context, Scope
from .regions import const_extents


def scope_error(ctx: Context, stage: Stage, option: str, allowed: str,
                scopes: tuple[str, ...]) -> None:
    """`option` names a buffer of a scope other than `scopes` (`allowed` says them in words);
    the hint names the kernel's buffers that would do."""
    ref = stage.regions[option]
    buffer = ctx.buffer(ref)
    fitting = [b.name for b in ctx.kernel.buffers.values() if b.scope in scopes]
    ctx.error(ref.pointer, f"{stage.written_kind}: '{option}' must be {allowed}; '{buffer.name}' is "
                           f"{buffer.scope}",
              f"name a buffer of scope {' or '.join(scopes)} here"
              + (f": {', '.join(fitting[:8])}" + (" ..." if len(fitting) > 8 else "")
                 if fitting else ", declared in 'buffers'"))


def require_scope(ctx: Context, stage: Stage, option: str, scopes: tuple[str, ...],
                   allowed: str) -> bool:
    ref = stage.regions.get(option)
    if ref is None:
        return False
    if ctx.buffer(ref).scope not in scopes:
        scope_error(ctx, stage, option, allowed, scopes)
        return False
    return True


def same_dtype(ctx: Context, stage: Stage, a: str, b: str) -> None:
    ra, rb = stage.regions.get(a), stage.regions.get(b)
    if ra is None or rb is None:
        return
    da, db = ctx.buffer(ra).dtype, ctx.buffer(rb).dtype
    if da != db:
        ctx.error(rb.pointer, f"{stage.written_kind} does not convert types: '{a}' is {da} but "
                              f"'{b}' is {db}", "use buffers of the same dtype")


def check_vector_width(ctx: Context, stage: Stage, width: int, dtype: str, extents) -> None:
    pointer = pointer_join(stage.pointer, "coalesced_width")
    size = DTYPE_BYTES[dtype]
    if width & (width - 1):
        ctx.error(pointer, f"coalesced_width must be a power of two, got {width}",
                  f"use {1 << (width.bit_length() - 1)} or {1 << width.bit_length()}")
    elif width * size > MAX_VECTOR_BYTES:
        ctx.error(pointer, f"coalesced_width {width} of {dtype} is {width * size} bytes per access; "
                           f"the widest vector access is {MAX_VECTOR_BYTES} bytes",
                  f"use at most {MAX_VECTOR_BYTES // size}")
    elif extents and extents[-1] is not None and extents[-1] % width:
        ctx.error(pointer, f"coalesced_width {width} does not divide the innermost extent "
                           f"{extents[-1]}", "pick a width that divides it")


def check_loop_layout(ctx: Context, stage: Stage, extents) -> None:
    layout = stage.options["loop_layout"]
    pointer = pointer_join(stage.pointer, "loop_layout")
    threads = ctx.kernel.launch.threads
    if prod(layout["threads"]) != threads:
        ctx.error(pointer + "/threads", f"loop_layout lays out {prod(layout['threads'])} threads "
                                        f"but the block has {threads}",
                  "the product of loop_layout.threads must equal launch.threads")
    if extents and len(layout["threads"]) > len(extents):
        ctx.error(pointer + "/threads", f"loop_layout.threads has {len(layout['threads'])} entries "
                                        f"but the copy has {len(extents)} dimensions",
                  f"give at most {len(extents)}, laid over the copy's last dimensions")


def check_simt_options(ctx: Context, stage: Stage, ref: RegionRef, scope: Scope,
                        dtype: str | None = None) -> None:
    """`dtype`: the element type whose size bounds the vector (default: ref's; a converting
    copy's wider side)."""
    extents = const_extents(ctx, ref, scope)
    dtype = dtype or ctx.buffer(ref).dtype
    if "coalesced_width" in stage.options:
        check_vector_width(ctx, stage, stage.options["coalesced_width"], dtype, extents)
    if "loop_layout" in stage.options:
        check_loop_layout(ctx, stage, extents)
