"""The sizes this release's kernels can index: they compute indices, and the offsets of global
accesses, in 32-bit integers. What would overflow that for every call is refused at compile time
(`support.check_supported`); a symbolic shape is held to it at the call by the manifest's checks.

- a constant dim above 2**31 - 1 (it cannot even be an index constant);
- a global tensor of more than 2**31 - 1 elements (at the smallest values its symbolic dims may
  take);
- a global tensor whose regions end past offset 2**31 - 1: the partial tiles at its end address
  elements past it (guarded, never moved), and their offsets must fit too (for a symbolic
  tensor, counting the dims of constant stride, which a constant grid or loop takes that far for
  every size of its dims);
- a loop whose bounds (its start, or its start plus its extent) leave the 32-bit range: its
  variable is a 32-bit integer;
- a constant outside the 32-bit range in a grid extent, a region or a stage's expression (once
  the constant dims are substituted and the expression simplified): it becomes a 32-bit literal
  of the kernel;
- an im2col window whose padded image extent (H + 2*pad - dilation*(KH - 1) - 1, W likewise)
  leaves the 32-bit range for a constant image extent, or whose pad, stride or dilated kernel
  does: window positions are 32-bit integers.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from math import prod

from ..diagnostics import Diagnostics
from ..expr import Const, free_vars, subexpressions, to_source
from ..expr_algebra import bounds
from ..im2col import nhwc, windows
from ..index_expr import rows_hull
from ..limits import int_text
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
    reported = set()                  # one problem per place: a loop's start is a constant too
    for found in chain(_loop_overflows(context), _constant_overflows(kernel),
                       _window_overflows(context)):
        if found[0] not in reported:
            reported.add(found[0])
            yield found
    for buffer in kernel.buffers.values():
        if not buffer.is_global:
            continue
        fewest, most = _element_count(kernel, buffer)
        reach = _reach(context, buffer)
        if fewest > INT32_MAX:
            amount = str(fewest) if fewest == most else f"at least {fewest}"
            yield (buffer.pointer + "/shape",
                   f"a global tensor of {amount} elements ('{buffer.name}', above 2**31 - 1)", HINT)
        elif reach > INT32_MAX:
            what = f"a global tensor of {fewest} elements whose partial tiles end" \
                if fewest == most else f"a global tensor ('{buffer.name}') whose regions end"
            yield (buffer.pointer + "/shape", f"{what} at offset {reach} "
                   + (f"('{buffer.name}', past 2**31 - 1)" if fewest == most else
                      "(past 2**31 - 1, for every size of its symbolic dims)"), HINT)


def _loop_overflows(context: Context) -> Iterator[tuple[str, str, str]]:
    too_large = {d.name for d in context.kernel.dims.values()          # refused at the dim
                 if not d.symbolic and d.value > INT32_MAX}
    for stage, scope in context.stages():
        if not stage.body or "extent" not in stage.exprs or any(
                v.name in too_large for e in stage.exprs.values() for v in free_vars(e)):
            continue
        start = stage.exprs.get("start")
        first = (0, 0) if start is None else context.bounds(start, scope)
        length = context.bounds(stage.exprs["extent"], scope)
        var = stage.options["var"]
        if first is not None and not _fits(first):
            key, what = "start", f"a loop over '{var}' starting at {first[1]}"
        elif first is not None and length is not None and not _fits(
                (first[0], first[1] + max(length[1], 0))):
            key, what = "extent", f"a loop over '{var}' from {first[0]} to {first[1] + length[1]}"
        else:
            continue      # within range, or symbolic: the manifest checks it at the call
        yield (f"{stage.pointer}/{key}", f"{what} (outside the 32-bit range)", "the kernels of this release count loops with 32-bit integers: "
               "keep a loop's start and end within -2**31 .. 2**31 - 1")


def _constant_overflows(kernel: Kernel) -> Iterator[tuple[str, str, str]]:
    exprs = [(index.pointer, index.extent) for index in kernel.launch.grid]
    for stage in kernel.walk():
        exprs += [(f"{stage.pointer}/{option}", e) for option, e in stage.exprs.items()]
        for ref in stage.regions.values():
            exprs += [(ref.pointer, e) for pair in ref.dims for e in pair]
            exprs += [(ref.pointer, e) for e in ref.steps or ()]
    for pointer, expr in exprs:
        huge = next((node.value for node in subexpressions(expr) if isinstance(node, Const)
                     and not _fits((node.value, node.value))), None) if expr is not None else None
        if huge is not None:
            yield (pointer, f"the constant {int_text(huge)} of '{to_source(expr)}' (outside the "
                            "32-bit range)", "the kernels of this release compute indices in "
                                             "32-bit integers: keep constants within "
                                             "-2**31 .. 2**31 - 1")


def _window_overflows(context: Context) -> Iterator[tuple[str, str, str]]:
    kernel = context.kernel
    for stage, scope in context.stages():
        img = stage.regions.get("img") if stage.kind == "im2col" else None
        if img is None or img.name not in kernel.buffers:
            continue
        image = nhwc(kernel.buffers[img.name].shape, stage.options)
        sizes = [context.const(extent) for extent in image]
        rows = sizes[0]
        for axis, size, window in zip("HW", sizes[1:3], windows(stage.options)):
            values = (window.pad, window.stride, window.dilation * (window.kernel - 1),
                      window.reach, window.reach + (size or 0))
            if not all(_fits((v, v)) for v in values):
                yield (f"{stage.pointer}/pad", f"an im2col window along {axis} (kernel "
                       f"{window.kernel}, stride {window.stride}, dilation {window.dilation}, "
                       f"pad {window.pad}) whose positions leave the 32-bit range",
                       "the kernels of this release compute window positions in 32-bit "
                       "integers: keep pad and the dilated kernel within the image")
                break
            rows = None if rows is None or size is None else rows * max(window.output(size), 0)
        else:
            if rows is not None and rows > INT32_MAX:
                yield (f"{stage.pointer}/pad", f"an im2col of {rows} output pixels (N*OH*OW, "
                       "above 2**31 - 1)", "the kernels of this release index the column "
                       "matrix's rows with 32-bit integers: a smaller pad or image, or a "
                       "larger stride")
            elif rows is not None and None not in sizes:
                yield from _pixel_overflows(context, stage, scope, sizes, rows // sizes[0])


def _pixel_overflows(context: Context, stage, scope, sizes: list[int],
                     per_image: int) -> Iterator[tuple[str, str, str]]:
    """The output pixels the blocks of an im2col compute (tile nhw_step of the tile's rows)
    reach images whose offsets leave the 32-bit range: past N*OH*OW they are read guarded, but
    their offsets are still computed."""
    col, step = stage.regions.get("col"), stage.exprs.get("nhw_step")
    if col is None or not col.dims or step is None or per_image <= 0:
        return
    tile_rows, steps = context.const(col.extents[0], scope), context.bounds(step, scope)
    if tile_rows is None or steps is None:
        return
    last = (steps[1] + 1) * tile_rows - 1
    if (last // per_image + 1) * sizes[1] * sizes[2] * sizes[3] > INT32_MAX:
        yield (f"{stage.pointer}/nhw_step", f"an im2col whose blocks compute output pixels up to "
               f"{last} (nhw_step up to {steps[1]}, tiles of {tile_rows} pixels) in images whose "
               "offsets leave the 32-bit range",
               f"nhw_step indexes tiles of {tile_rows} output pixels: keep it below "
               f"ceildiv(N*OH*OW, {tile_rows}), the tiles of the column matrix")


def _fits(rng: tuple[int, int]) -> bool:
    return -INT32_MAX - 1 <= rng[0] and rng[1] <= INT32_MAX


def _element_count(kernel: Kernel, buffer: Buffer) -> tuple[int, int]:
    """(fewest, most) elements `buffer` has at a call, each symbolic dim ranging over
    [min or 1, max or any size]."""
    ranges = {dim.name: (dim.value, dim.value) if not dim.symbolic else
              (dim.min or 1, ANY_SIZE if dim.max is None else dim.max)
              for dim in kernel.dims.values()}
    extents = [bounds(extent, ranges, exact=True) or (1, ANY_SIZE) for extent in buffer.shape]
    return prod(max(low, 1) for low, _ in extents), prod(high for _, high in extents)


def _reach(context: Context, buffer: Buffer) -> int:
    """Where the regions of `buffer` end, at least: one past the largest flat offset they
    address (over the block indices, loop and `each` variables), counting the dims whose stride
    is constant and whose indices are bounded (all of them for a constant-shaped tensor of
    constant regions; a symbolic tensor's other dims add more at a call, which the wrapper's
    size checks bound)."""
    extents = [context.const(extent) for extent in buffer.shape]
    limits = [e or 0 for e in extents]          # one past the largest index along each dim
    for stage, scope in context.stages():
        whole = stage.each and all(var.start is not None for var in stage.each)
        for ref in stage.regions.values():
            if ref.name != buffer.name:
                continue
            dims = rows_hull(ref, stage.each) if whole else ref.dims     # all its rows
            for d, (start, extent) in enumerate(dims):
                first, length = bounds(start, scope.ranges), bounds(extent, scope.ranges)
                step = context.const(ref.steps[d]) if ref.steps else 1
                if first is not None and length is not None and step is not None:
                    limits[d] = max(limits[d], first[1] + (length[1] - 1) * step + 1)
    if buffer.strides is not None:                 # declared: the constant ones count
        strides = [context.const(s) for s in buffer.strides]
    else:
        strides, stride = [], 1
        for extent in reversed(extents):
            strides.insert(0, stride)
            stride = None if stride is None or extent is None else stride * extent
    return sum((limit - 1) * stride for limit, stride in zip(limits, strides)
               if stride is not None and limit > 0) + 1

