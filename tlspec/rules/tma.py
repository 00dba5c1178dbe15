"""TMA (cp.async.bulk.tensor) constraints, checked for every copy that will lower to TMA.

From the CUDA driver's cuTensorMapEncodeTiled contract: at most 5 dimensions, global strides
multiples of 16 bytes, box extents of at most 256 elements, an inner box of a multiple of 16
bytes, and with a swizzled shared layout an inner box no wider than the swizzle span.
"""
from __future__ import annotations

from math import prod

from ..dtypes import DTYPE_BYTES
from ..model import RegionRef
from .context import Context, Scope

MAX_RANK = 5
MAX_BOX = 256
ALIGN = 16
SWIZZLE_SPAN = {"swizzle_32B": 32, "swizzle_64B": 64, "swizzle_128B": 128}


def check_tma(ctx: Context, global_ref: RegionRef, shared_ref: RegionRef, scope: Scope,
              why: str) -> None:
    """Report every TMA constraint `global_ref` <-> `shared_ref` violates; `why` names the request."""
    tensor = ctx.buffer(global_ref)
    tile = ctx.buffer(shared_ref)
    size = DTYPE_BYTES[tensor.dtype]
    pointer = global_ref.pointer
    hint = "or let the compiler use a SIMT copy (prefer_instruction: sync)"
    if len(tensor.shape) > MAX_RANK:
        ctx.error(pointer, f"{why}: TMA handles tensors of at most {MAX_RANK} dimensions; "
                           f"'{tensor.name}' has {len(tensor.shape)}", hint)
        return
    for i in range(len(tensor.shape) - 1):
        inner = [ctx.const(e) for e in tensor.shape[i + 1:]]
        if all(v is not None for v in inner) and prod(inner) * size % ALIGN:
            ctx.error(pointer, f"{why}: TMA needs global strides that are multiples of {ALIGN} "
                               f"bytes; dimension {i} of '{tensor.name}' has a stride of "
                               f"{prod(inner) * size} bytes",
                      f"pad the innermost extent to a multiple of {ALIGN // size} elements, " + hint)
            break
    box = [ctx.const(e, scope) for e in global_ref.extents]
    if any(v is None for v in box):
        ctx.error(pointer, f"{why}: a TMA box needs constant extents; '{global_ref.region.text}' "
                           "has a non-constant one", hint)
        return
    for i, extent in enumerate(box):
        if extent > MAX_BOX:
            ctx.error(pointer, f"{why}: TMA boxes have at most {MAX_BOX} elements per dimension; "
                               f"dimension {i} of '{global_ref.region.text}' has {extent}",
                      "split the copy into tiles of at most 256 rows and columns, " + hint)
    inner_bytes = box[-1] * size
    if inner_bytes % ALIGN:
        ctx.error(pointer, f"{why}: the innermost TMA box extent must span a multiple of {ALIGN} "
                           f"bytes; '{global_ref.region.text}' spans {inner_bytes}", hint)
    span = SWIZZLE_SPAN.get(tile.layout)
    if span is not None and inner_bytes > span:
        ctx.error(shared_ref.pointer, f"{why}: with layout {tile.layout}, a TMA box row may span at "
                                      f"most {span} bytes; this one spans {inner_bytes}",
                  "use a wider swizzle or narrower tiles (several TMA copies per tile)")
    if tile.layout == "padded":
        ctx.error(shared_ref.pointer, f"{why}: TMA cannot write or read a padded tile "
                                      f"('{tile.name}' has layout padded)",
                  "use layout swizzle_128B (or auto) for TMA tiles")
