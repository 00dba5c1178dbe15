"""TMA constraints, checked for every copy that will lower to TMA (`prefer_instruction: tma`,
`tma_copy`, a `copy_cluster` multicast): what the spec already says about its descriptor and
about where TMA puts the elements in the shared tile.

The descriptor's rules are the CUDA driver's (`tlspec.tensormap_rules`): the box is the global
region's extents over the tensor's rank, its dims and strides the tensor's (checked where they
are constant). TMA moves the box as a dense block of the tile's storage (`tlspec.layouts`; rows
of a swizzled tile over whole spans) starting at a multiple of 128 bytes. The compiler checks
the same with what it proves about symbolic sizes (InstructionAnnotation).
"""
from __future__ import annotations

from math import prod

from ..dtypes import DTYPE_BYTES
from ..layouts import TileStorage, tensormap_swizzle
from ..model import RegionRef
from ..tensormap_rules import SHARED_ALIGN, TensorMap, strided_problem, violations
from .context import Context, Scope

HINT = "or let the compiler use a SIMT copy (prefer_instruction: sync)"


def check_tma(ctx: Context, global_ref: RegionRef, shared_ref: RegionRef, scope: Scope,
              why: str, store: bool = False) -> None:
    """Report every TMA constraint `global_ref` <-> `shared_ref` (a load, or with `store` a
    store) violates; `why` names the request. A strided region's box is the one its map
    traverses: count x step elements per dimension, the steps its element strides."""
    tensor = ctx.buffer(global_ref)
    tile = ctx.buffer(shared_ref)
    elem = DTYPE_BYTES[tensor.dtype]
    box = [ctx.const(e, scope) for e in global_ref.extents]
    if any(v is None for v in box):
        ctx.error(global_ref.pointer, f"{why}: a TMA box needs constant extents; "
                                      f"'{global_ref.region.text}' has a non-constant one", HINT)
        return
    if tile.layout == "padded":
        ctx.error(shared_ref.pointer, f"{why}: TMA cannot write or read a padded tile "
                                      f"('{tile.name}' has layout padded)",
                  "use layout swizzle_128B (or auto) for TMA tiles")
        return
    steps = [ctx.const(s) for s in global_ref.steps or []] or [1] * len(box)
    strided = strided_problem(steps[::-1], store)
    if strided:
        ctx.error(global_ref.pointer, f"{why}: '{global_ref.region.text}' is strided, and "
                                      f"{strided}", HINT)
        return
    dims = [ctx.const(e) for e in tensor.shape]
    strides = [prod(dims[d + 1:]) * elem if None not in dims[d + 1:] else None
               for d in range(len(dims) - 1)]
    traversed = [extent * step for extent, step in zip(box, steps)]
    for problem in violations(TensorMap(elem, dims[::-1], strides[::-1], traversed[::-1],
                                        steps[::-1], swizzle=tensormap_swizzle(tile.layout))):
        if problem.rule == "swizzle":
            ctx.error(shared_ref.pointer, f"{why}: with layout {tile.layout}, {problem}",
                      "use a wider swizzle or narrower tiles (several TMA copies per tile)")
        else:
            ctx.error(global_ref.pointer, f"{why}: {problem} (TMA box "
                                          f"'{global_ref.region.text}')", HINT)
    placement = _placement(ctx, shared_ref, box, scope)
    if placement:
        ctx.error(shared_ref.pointer, f"{why}: {placement}", HINT)


def _placement(ctx: Context, shared_ref: RegionRef, box: list[int], scope: Scope) -> str | None:
    """Why TMA would not move the box to (or from) where the tile keeps the region, if the spec
    says so already: a part of the tile that is not contiguous, rows of a swizzled tile not
    moved whole, a constant start that is not a multiple of 128 bytes."""
    tile = ctx.buffer(shared_ref)
    shape = [ctx.const(e) for e in tile.shape]
    extents = [ctx.const(e, scope) for e in shared_ref.extents]
    if None in shape or None in extents:
        return None                       # reported as a non-constant tile or region elsewhere
    storage = TileStorage(tile.layout, tuple(shape), DTYPE_BYTES[tile.dtype])
    moved = [d for d, e in enumerate(extents) if e != 1] or [len(extents) - 1]
    if extents[moved[0] + 1:] != shape[moved[0] + 1:]:
        return f"the region '{shared_ref.region.text}' is not a contiguous part of '{tile.name}'"
    if storage.swizzle_bytes and (moved[-1] != len(shape) - 1 or
                                  (prod(box[:-1]) > 1 and box[-1] != storage.cols)):
        return (f"TMA moves the rows of the swizzled tile '{tile.name}' whole: the box's rows "
                f"({box[-1]} elements) are not the tile's ({storage.cols})")
    starts = [ctx.const(s, scope) for s, _ in shared_ref.dims]
    if None in starts:
        return None                       # varies: the compiler proves its alignment
    row = 0
    for start, extent in zip(starts[:-1], shape[:-1]):
        row = row * extent + start
    offset = (row * storage.pitch + starts[-1]) * storage.elem_bytes
    if offset % SHARED_ALIGN:
        return (f"the region '{shared_ref.region.text}' starts at byte {offset} of "
                f"'{tile.name}'; TMA needs a multiple of {SHARED_ALIGN}")
    return None
