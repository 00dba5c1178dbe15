"""The vector widths of a SIMT loop (InstructionAnnotation): the widest vector that the
regions of a stage hold at every block index and symbolic size, and why no wider one, never one
that could hold both a tensor's last elements and elements past them."""
from __future__ import annotations

from ...dtypes import MAX_VECTOR_BYTES
from ..analysis import analyzer_for, base_ranges, divisible, expr_text
from .tma_blockers import Side


def vector_limit(func, sides: list[Side], inner_extent, elem: int,
                  width: int | None = None) -> tuple[int, str]:
    """The widest legal vector (elements) up to `width` (default: 16 bytes) and, when below
    that, the reason."""
    width = width or MAX_VECTOR_BYTES // elem
    reason = ""
    while width > 1:
        problem = None
        if not divisible(func, inner_extent, width):
            problem = f"the innermost extent {expr_text(inner_extent)} is not a multiple of " \
                      f"{width}"
        for side in sides:
            if side.kind == "fragment" or problem:
                continue
            moved = side.moved() or [len(side.extents) - 1]
            if side.steps[-1] != 1 and moved[-1] == len(side.shape) - 1:
                problem = f"'{side.buffer.name}' has step {side.steps[-1]} along its " \
                          "contiguous dimension: its elements are not adjacent, one per access"
            elif moved[-1] != len(side.shape) - 1:
                problem = f"'{side.buffer.name}' is not moved along its contiguous dimension"
            elif not divisible(func, side.starts[-1], width):
                problem = f"the start {expr_text(side.starts[-1])} of '{side.buffer.name}' " \
                          f"is not a multiple of {width}"
            elif len(side.shape) > 1 and not divisible(func, side.pitch(), width):
                problem = f"the rows of '{side.buffer.name}' ({expr_text(side.pitch())} " \
                          f"elements) are not a multiple of {width}"
            elif side.kind == "global" and may_straddle(func, side, width):
                problem = f"'{side.buffer.name}' ends after {side.shape[-1]} elements, not a " \
                          f"multiple of {width}, and the region may run past that end (a " \
                          "vector would hold its last elements and elements past it)"
        if problem is None:
            return width, reason
        reason = reason or problem
        width //= 2
    return 1, reason


def may_straddle(func, side: Side, width: int) -> bool:
    """Whether a vector could hold both the last elements of a global tensor and elements past
    them: the guards keep or drop a vector whole (the partial tile at a tensor's end), so that
    would lose the last elements. Vectors start at multiples of `width` (the start is checked
    first), so that happens when the innermost extent is not a multiple of `width` and the
    region is not proven to end inside the tensor for every block index and symbolic dim."""
    end = side.shape[-1]
    if divisible(func, end, width):
        return False
    inside = side.starts[-1] + side.span(-1) <= end
    return not analyzer_for(base_ranges(func)).can_prove(inside)


def region_inside(func, side: Side) -> bool:
    """Whether the region is proven to lie inside its buffer for every block index and dim: then
    no element is read outside it and a fill never shows."""
    analyzer = analyzer_for(base_ranges(func))
    return all(analyzer.can_prove(start >= 0) and analyzer.can_prove(start + side.span(d) <= size)
               for d, (start, size) in enumerate(zip(side.starts, side.shape)))
