"""Where each symbolic dim takes its value at a call: the one rule the compiled wrappers (through
the manifest), the interpreter and validation share.

A symbolic dim takes its value from the first extent of a global buffer (buffers in spec order,
dimensions in order) that is the dim alone; a dim alone in no extent, from the first extent that
is an affine function `a*D + b` of it alone (integers a != 0 and b, after the constant dims are
folded in: `B * 64`, `D + 2`, `(C + 1) * 4`), D = (extent - b) / a, which must be exact at the
call. A dim in no extent takes its value from the first declared stride (`strides: [LD, 1]`)
that is the dim alone: the argument's own stride there. A symbolic dim that none of these binds
could never be known at a call: validation reports it at the dim.
"""
from __future__ import annotations

from dataclasses import dataclass

from .expr import Expr, Var, substitute
from .expr_algebra import affine, simplify
from .model import Kernel


@dataclass(frozen=True)
class Source:
    """extent `axis` of global buffer number `argument` (spec order) is scale * dim + offset
    (with `stride`: its stride `axis` is the dim)."""
    argument: int
    axis: int
    scale: int
    offset: int
    stride: bool = False

    def solve(self, extent: int) -> int | None:
        """The dim's value for that extent; None when no size (a whole number >= 0) gives it."""
        value, remainder = divmod(extent - self.offset, self.scale)
        return None if remainder or value < 0 else value


def global_shapes(kernel: Kernel) -> list[list[Expr]]:
    """The shapes of the global buffers in spec order, constant dims folded in."""
    constants = {d.name: d.value for d in kernel.dims.values() if not d.symbolic}
    return [[simplify(substitute(e, constants)) for e in b.shape]
            for b in kernel.buffers.values() if b.is_global]


def dim_sources(kernel: Kernel) -> dict[str, Source]:
    """The source of every symbolic dim that some extent binds."""
    symbolic = {d.name for d in kernel.dims.values() if d.symbolic}
    sources: dict[str, Source] = {}
    for alone in (True, False):
        for i, shape in enumerate(global_shapes(kernel)):
            for axis, extent in enumerate(shape):
                form = affine(extent)
                if form is None or form[0] not in symbolic or form[0] in sources:
                    continue
                if not alone or isinstance(extent, Var):
                    sources[form[0]] = Source(i, axis, form[1], form[2])
    tensors = [b for b in kernel.buffers.values() if b.is_global]
    for i, buffer in enumerate(tensors):
        for axis, stride in enumerate(buffer.strides or ()):
            if isinstance(stride, Var) and stride.name in symbolic and stride.name not in sources:
                sources[stride.name] = Source(i, axis, 1, 0, stride=True)
    return sources
