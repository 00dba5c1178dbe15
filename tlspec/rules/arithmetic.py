"""Rules on the arithmetic of expressions: no division by zero, no value outside 64 bits, no
size above 2**62.

Every expression of a kernel (shapes, grid extents, region starts and extents, barrier indices,
stage options, a gather's or scatter's row ranges and index expressions) is checked where it
is used:

- a '//', '%' or ceildiv whose divisor is 0, or may be 0 for some block, some loop iteration or
  some size of a symbolic dim at a call, is an error: the kernel (or its launch wrapper) would
  divide by zero. A symbolic dim can be any size from its `min` (else 0) to its `max` (else the
  largest size, 2**62), so dividing by one without a `min` is refused.
- an expression whose value, or a partial result, can leave the signed 64-bit range (limits.py)
  for the values validation knows (constant dims, block indices, loop variables) is an error:
  no kernel computes it. Other rules see no bounds for such an expression (expr_algebra.bounds).
- a size (a buffer's extent, a grid extent, a region's extent, a loop's iteration count) that can
  exceed 2**62, the largest size of the language.
"""
from __future__ import annotations

from ..expr import Const, Expr, divisor, free_vars, subexpressions, to_source
from ..expr_algebra import bounds
from ..index_expr import loads
from ..limits import INT_MAX, INT_MIN, MAX_SIZE, int_text
from ..model import Stage
from ..source import pointer_join
from .context import Context, Range, Scope
from .declarations import MAX_GRID

UNKNOWN_START: Range = (INT_MIN, INT_MAX)
_SMALLER = "integers lie from -2**63 to 2**63 - 1 and sizes are at most 2**62: use smaller sizes"


class _Checker:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.symbolic = [d.name for d in ctx.kernel.dims.values() if d.symbolic]
        # Every value a name can take at some call: what the divisor check needs.
        self.widest = dict(ctx.dim_ranges)
        for dim in ctx.kernel.dims.values():
            if dim.symbolic:
                self.widest[dim.name] = (dim.min or 0, dim.max or MAX_SIZE)
        # A block index of an extent validation cannot bound still stays below the launch
        # limit of its axis: enough to see that `by * 64 + 2**63 - 1` overflows.
        self.block_limits = {index.name: (0, MAX_GRID[index.axis] - 1)
                             for index in ctx.kernel.launch.grid}

    def usable(self, pointer: str, expr: Expr, scope: Scope, widest: dict[str, Range], *,
               size: bool) -> bool:
        """Whether `expr` passes; else its first problem is reported."""
        for node in subexpressions(expr):
            by = divisor(node)
            if by is not None and self.divides_by_zero(pointer, node, by, widest):
                return False
        known = {**self.block_limits, **scope.ranges}
        for node in subexpressions(expr):
            exact = bounds(node, known, exact=True)
            if exact is not None and bounds(node, known) is None:
                lo, hi = exact
                self.ctx.error(pointer, f"'{to_source(node)}' can reach "
                                        f"{int_text(hi if hi > INT_MAX else lo)}, outside the "
                                        "64-bit range of spec integers", _SMALLER)
                return False
        rng = bounds(expr, scope.ranges)
        if size and rng is not None and rng[1] > MAX_SIZE:
            self.ctx.error(pointer, f"the size '{to_source(expr)}' can reach {int_text(rng[1])}, "
                                    "above the largest size of the language, 2**62", _SMALLER)
            return False
        return True

    def divides_by_zero(self, pointer: str, node: Expr, by: Expr, widest: dict[str, Range]) -> bool:
        rng = bounds(by, widest, exact=True)
        if rng is not None and not rng[0] <= 0 <= rng[1]:
            return False
        text, by_text = to_source(node), to_source(by)
        if rng == (0, 0):
            self.ctx.error(pointer, f"'{text}' divides by zero",
                           "divide by a number other than 0" if isinstance(by, Const)
                           else f"'{by_text}' is always 0")
            return True
        dims = sorted({v.name for v in free_vars(by) if v.name in self.symbolic})
        if dims:
            why = f"'{by_text}' may be 0 for some sizes of {', '.join(repr(d) for d in dims)}"
            hint = (f"a symbolic dim can be any size at a call, 0 included: give "
                    f"{', '.join(repr(d) for d in dims)} a 'min' (and a 'max') that keeps "
                    f"'{by_text}' away from 0")
        else:
            why = (f"'{by_text}' ranges over [{int_text(rng[0])}, {int_text(rng[1])}]"
                   if rng is not None else f"'{by_text}' cannot be bounded")
            hint = "divide by a constant, or by an expression that is never 0"
        self.ctx.error(pointer, f"'{text}' may divide by zero: {why}", hint)
        return True

    def run(self) -> None:
        """Check every expression; what fails is taken out of the model, as an unreadable
        expression is (see model.py), so that no later rule reports on it again."""
        kernel = self.ctx.kernel
        top = self.ctx.top
        for buffer in kernel.buffers.values():
            if not all(self.usable(pointer_join(buffer.pointer + "/shape", i), extent, top,
                                   self.widest, size=True)
                       for i, extent in enumerate(buffer.shape)):
                buffer.complete = False
                for stage in kernel.walk():
                    for ref in stage.regions.values():
                        if ref.name == buffer.name:
                            ref.dims = []
        for index in kernel.launch.grid:
            if index.extent is None:
                continue
            if self.usable(index.pointer, index.extent, top, self.widest, size=True):
                self.widest[index.name] = self.counter(index.extent, (0, 0), self.widest)
            else:
                index.extent = None
                self.widest[index.name] = self.counter(None, (0, 0), self.widest)
        self.stages(kernel.stages, top, self.widest)

    def stages(self, stages: list[Stage], scope: Scope, widest: dict[str, Range]) -> None:
        for stage in stages:
            for option, expr in list(stage.exprs.items()):
                if not self.usable(pointer_join(stage.pointer, option), expr, scope, widest,
                                   size=option == "extent"):
                    del stage.exprs[option]
            self.computed_indices(stage, scope, widest)
            for ref in (*stage.regions.values(), *stage.barriers.values()):
                if not all(self.usable(ref.pointer, e, scope, widest, size=is_extent)
                           for dim in ref.dims for e, is_extent in zip(dim, (False, True))):
                    ref.dims = []
            if stage.body:
                start = stage.exprs.get("start")
                first = bounds(start, widest, exact=True) if start is not None else (0, 0)
                extent = stage.exprs.get("extent")
                inner = dict(widest)
                inner[stage.options["var"]] = self.counter(extent, first or UNKNOWN_START, widest)
                self.stages(stage.body, self.ctx.body_scope(stage, scope), inner)

    def computed_indices(self, stage: Stage, scope: Scope, widest: dict[str, Range]) -> None:
        """A gather's or scatter's row ranges and index expressions (the subscripts of their
        reads of index tensors too)."""
        for var in stage.each:
            if var.start is not None and not (
                    self.usable(var.pointer, var.start, scope, widest, size=False)
                    and self.usable(var.pointer, var.extent, scope, widest, size=True)):
                var.start = var.extent = None
        for i, expr in enumerate(stage.indices):
            parts = [] if expr is None else [expr, *(s for r in loads(expr) for s in r.subscripts)]
            pointer = pointer_join(pointer_join(stage.pointer, "index"), i)
            if not all(self.usable(pointer, e, scope, widest, size=False) for e in parts):
                stage.indices[i] = None

    @staticmethod
    def counter(extent: Expr | None, first: Range, widest: dict[str, Range]) -> Range:
        """The values of a block index or loop variable from `first` over `extent` steps."""
        rng = bounds(extent, widest, exact=True) if extent is not None else None
        steps = min(rng[1], MAX_SIZE) if rng is not None else MAX_SIZE
        return first[0], first[1] + max(steps, 1) - 1


def check_arithmetic(ctx: Context) -> None:
    _Checker(ctx).run()
