"""Rules on declared strides (`strides: [LD, 1]`): a global tensor's layout in memory when it is
not C-contiguous, in elements, outermost first.

Only global tensors have strides (tiles are laid out by `layout`); there is one per dimension;
the last is 1 (the elements of a row are adjacent: vectors and TMA rely on it; a transposed view
is declared with the transposed shape instead); every stride is positive, and the dimensions do
not overlap: each stride is at least the next one times the next extent (two elements of an
output at one address would race). What constants show is checked here, the rest by the wrapper
at the call, which also compares the argument's strides with these.
"""
from __future__ import annotations

from ..expr import to_source
from ..source import pointer_join
from .context import Context


def check_strides(ctx: Context) -> None:
    for buffer in ctx.kernel.buffers.values():
        if buffer.strides is None or not buffer.complete:
            continue
        pointer = buffer.pointer + "/strides"
        if not buffer.is_global:
            ctx.error(pointer, f"'strides' is only for global tensors; '{buffer.name}' is "
                               f"{buffer.scope}", "remove 'strides' (a tile's storage is its "
                                                  "'layout')", key=True)
            continue
        if len(buffer.strides) != len(buffer.shape):
            count = len(buffer.strides)
            ctx.error(pointer, f"buffer '{buffer.name}' has {len(buffer.shape)} dimension"
                               f"{'s' * (len(buffer.shape) != 1)} but {count} stride"
                               f"{'s' * (count != 1)}",
                      "give one stride per dimension, the last 1: [LD, 1]")
            continue
        values = [ctx.const(s) for s in buffer.strides]
        last = len(values) - 1
        if values[last] != 1:
            ctx.error(pointer_join(pointer, last), f"the last stride of '{buffer.name}' is "
                      f"'{to_source(buffer.strides[last])}'; it must be 1 (the elements of a row "
                      "are adjacent)", "declare a transposed view by its transposed shape, or "
                                       "copy it into a row-major tensor")
            continue
        for i, value in enumerate(values[:-1]):
            at = pointer_join(pointer, i)
            if value is not None and value < 1:
                ctx.error(at, f"stride {i} of '{buffer.name}' is {value}; strides must be positive")
                continue
            span = ctx.const(buffer.shape[i + 1]), values[i + 1]
            if value is not None and None not in span and value < span[0] * span[1]:
                ctx.error(at, f"stride {i} of '{buffer.name}' is {value}, less than the "
                              f"{span[0] * span[1]} elements that dimension {i + 1} spans: "
                              "its elements would overlap",
                          f"make stride {i} at least {span[0] * span[1]} (the row pitch is at "
                          "least the row's width)")
