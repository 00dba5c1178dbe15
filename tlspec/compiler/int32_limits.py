"""The sizes this release's kernels can index: they compute indices, and the offsets of global
accesses, in 32-bit integers. What would overflow that for every call is refused at compile time
(`support.check_supported`); a symbolic shape is held to it at the call by the manifest's checks.

- a constant dim above 2**31 - 1 (it cannot even be an index constant);
- a global tensor of more than 2**31 - 1 elements (at the smallest values its symbolic dims may
  take);
- a constant-shaped global tensor whose regions end past offset 2**31 - 1: the partial tiles at
  its end address elements past it (guarded, never moved), and their offsets must fit too.
"""
from __future__ import annotations

from collections.abc import Iterator
from math import prod

from ..diagnostics import Diagnostics
from ..expr import bounds
from ..model import Buffer, Kernel
from ..rules.context import Context

INT32_MAX = 2**31 - 1
ANY_SIZE = 2**62                  # above every size the language allows
HINT = "the kernels of this release index global memory with 32-bit integers: split the tensor"


def int32_overflows(kernel: Kernel) -> Iterator[tuple[str, str, str]]:
    """(pointer, what, hint) for every size of `kernel` beyond 32-bit indexing."""
    for dim in kernel.dims.values():
        if not dim.symbolic and dim.value > INT32_MAX:
            yield (dim.pointer, f"dim '{dim.name}' = {dim.value}, above 2**31 - 1,",
                   "the kernels of this release compute indices in 32-bit integers")
    context = Context(kernel, Diagnostics())
    for buffer in kernel.buffers.values():
        if not buffer.is_global:
            continue
        fewest, most = _element_count(kernel, buffer)
        reach = _reach(context, buffer)
        if fewest > INT32_MAX:
            amount = str(fewest) if fewest == most else f"at least {fewest}"
            yield (buffer.pointer + "/shape",
                   f"a global tensor of {amount} elements ('{buffer.name}', above 2**31 - 1)", HINT)
        elif reach is not None and reach > INT32_MAX:
            yield (buffer.pointer + "/shape",
                   f"a global tensor of {fewest} elements whose partial tiles end at offset "
                   f"{reach} ('{buffer.name}', past 2**31 - 1)", HINT)


def _element_count(kernel: Kernel, buffer: Buffer) -> tuple[int, int]:
    """(fewest, most) elements `buffer` has at a call, each symbolic dim ranging over
    [min or 1, max or any size]."""
    ranges = {dim.name: (dim.value, dim.value) if not dim.symbolic else
              (dim.min or 1, ANY_SIZE if dim.max is None else dim.max)
              for dim in kernel.dims.values()}
    extents = [bounds(extent, ranges) or (1, ANY_SIZE) for extent in buffer.shape]
    return prod(max(low, 1) for low, _ in extents), prod(high for _, high in extents)


def _reach(context: Context, buffer: Buffer) -> int | None:
    """Where the regions of the constant-shaped `buffer` end: one past the largest flat offset
    they address (over the block indices and loop variables); None when one is not bounded."""
    limits = [context.const(extent) for extent in buffer.shape]
    if None in limits:
        return None
    for stage, scope in context.stages():
        for ref in stage.regions.values():
            if ref.name != buffer.name:
                continue
            for d, (start, extent) in enumerate(ref.dims):
                first, length = bounds(start, scope.ranges), bounds(extent, scope.ranges)
                if first is None or length is None:
                    return None
                limits[d] = max(limits[d], first[1] + length[1])
    offset, stride = 0, 1
    for limit, extent in zip(reversed(limits), reversed(buffer.shape)):
        offset += (limit - 1) * stride
        stride *= context.const(extent)
    return offset + 1
