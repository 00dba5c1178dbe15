"""What every semantic rule works with: the kernel, the diagnostics, and value ranges of names."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from ..diagnostics import Diagnostics, Location
from ..expr import Expr, to_source
from ..expr_algebra import bounds, simplify
from ..model import Buffer, Kernel, RegionRef, Stage

Range = tuple[int, int]   # inclusive


@dataclass
class Scope:
    """Value ranges of the names visible at a stage (constant dims, block indices, loop vars)."""

    ranges: dict[str, Range] = field(default_factory=dict)

    def with_var(self, name: str, rng: Range | None) -> "Scope":
        ranges = dict(self.ranges)
        if rng is not None:
            ranges[name] = rng
        return Scope(ranges)


class Context:
    def __init__(self, kernel: Kernel, diags: Diagnostics):
        self.kernel = kernel
        self.diags = diags
        self.dim_ranges = {d.name: (d.value, d.value) for d in kernel.dims.values() if not d.symbolic}
        top = Scope(dict(self.dim_ranges))
        for index in kernel.launch.grid:
            extent = self.const(index.extent)
            if extent is not None and extent >= 1:
                top = top.with_var(index.name, (0, extent - 1))
        self.top = top

    # -- reporting --------------------------------------------------------------------------

    def location(self, pointer: str, *, key: bool = False) -> Location:
        return self.kernel.document.location(pointer, key=key)

    def error(self, pointer: str, message: str, hint: str | None = None, *, key: bool = False):
        self.diags.error(self.location(pointer, key=key), message, pointer=pointer, hint=hint)

    def warning(self, pointer: str, message: str, hint: str | None = None, *, key: bool = False):
        self.diags.warning(self.location(pointer, key=key), message, pointer=pointer, hint=hint)

    # -- values -----------------------------------------------------------------------------

    def const(self, expr: Expr | None, scope: Scope | None = None) -> int | None:
        """The value of `expr` when it is the same at every point (constant dims only); None
        when it varies, depends on a symbolic dim, or is missing (an unreadable expression)."""
        if expr is None:
            return None
        rng = bounds(expr, self.dim_ranges if scope is None else scope.ranges)
        return rng[0] if rng is not None and rng[0] == rng[1] else None

    def bounds(self, expr: Expr, scope: Scope) -> Range | None:
        return bounds(expr, scope.ranges)

    def stages(self) -> Iterator[tuple[Stage, Scope]]:
        """Every stage in program order with the ranges of the names visible to it."""
        yield from self._walk(self.kernel.stages, self.top)

    def stage_lists(self) -> Iterator[tuple[list[Stage], Scope]]:
        """The kernel's stage list and every loop body, with the ranges visible in each."""
        yield self.kernel.stages, self.top
        for stage, scope in self.stages():
            if stage.body:
                yield stage.body, self.body_scope(stage, scope)

    def body_scope(self, loop: Stage, scope: Scope) -> Scope:
        """`scope` with the loop variable of `loop` ranging over its iterations."""
        start = loop.exprs.get("start")
        lo = 0 if start is None else self.const(start, scope)
        extent = self.const(loop.exprs["extent"], scope) if "extent" in loop.exprs else None
        rng = (lo, lo + extent - 1) if lo is not None and extent and extent > 0 else None
        return scope.with_var(loop.options["var"], rng)

    def _walk(self, stages: list[Stage], scope: Scope) -> Iterator[tuple[Stage, Scope]]:
        for stage in stages:
            yield stage, scope
            if stage.body:
                yield from self._walk(stage.body, self.body_scope(stage, scope))

    def buffer(self, ref: RegionRef) -> Buffer:
        return self.kernel.buffers[ref.name]


def shape_text(extents: list[Expr]) -> str:
    return "[" + ", ".join(to_source(simplify(e)) for e in extents) + "]"
