"""Binding a call's arrays to a kernel's arguments: the global buffers in spec order, their
symbolic dims taken from the shapes as the compiled wrapper takes them.

A symbolic dim takes its value from the first extent (buffers in spec order, dimensions in
order) that is the dim alone; a dim alone in no extent, from the first extent that is an affine
function `a*D + b` of it alone (D = (extent - b) / a, which must be exact: tlspec.dim_binding,
the wrappers' rule too). Every other extent
is then checked, and the dims' multiple_of / min / max. Messages read like the wrapper's:
`copy(): argument 'A' has shape (100, 256); expected (M, 256) with M a multiple of 64
(got M = 100)`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from ..dim_binding import dim_sources, global_shapes
from ..expr import Expr, ExprError, evaluate, free_vars, parse_expr, substitute, to_source
from ..model import Buffer, Dim, Kernel


def dim_rules(dim: Dim) -> list[str]:
    """The constraints of a symbolic dim as phrases: 'a multiple of 64', '>= 64', '<= 4096'."""
    parts = []
    if dim.multiple_of not in (None, 1):
        parts.append(f"a multiple of {dim.multiple_of}")
    if dim.min is not None:
        parts.append(f">= {dim.min}")
    if dim.max is not None:
        parts.append(f"<= {dim.max}")
    return parts


def dim_ok(dim: Dim, value: int) -> bool:
    return ((not dim.multiple_of or value % dim.multiple_of == 0)
            and (dim.min is None or value >= dim.min) and (dim.max is None or value <= dim.max))


def shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


class Signature:
    """A kernel's arguments (its global buffers, in spec order) and where each symbolic dim's
    value comes from."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.where = f"{kernel.name}()"
        self.arguments: list[Buffer] = [b for b in kernel.buffers.values() if b.is_global]
        self.constants = {d.name: d.value for d in kernel.dims.values() if not d.symbolic}
        self.symbolic = {d.name: d for d in kernel.dims.values() if d.symbolic}
        # extents with the constant dims folded in, as the wrapper's manifest has them
        self.shapes = global_shapes(kernel)
        written = kernel.document.data["buffers"]
        self.expected = [self._expected([substitute(parse_expr(e), self.constants)
                                         for e in written[b.name]["shape"]])
                         for b in self.arguments]
        self.sources = dim_sources(kernel)

    def _expected(self, shape: list[Expr]) -> str:
        """'(M, 256) with M a multiple of 64 and M >= 64': the shape as written, constant dims
        folded in, and the rules of its symbolic dims."""
        names = list(dict.fromkeys(v.name for e in shape for v in free_vars(e)))
        rules = [f"{d} {rule}" for d in names if d in self.symbolic
                 for rule in dim_rules(self.symbolic[d])]
        text = "(" + ", ".join(to_source(e) for e in shape) + ("," if len(shape) == 1 else "") + ")"
        return text + (" with " + " and ".join(rules) if rules else "")

    def bind(self, shapes: Sequence[tuple[int, ...] | None], given: Mapping[str, int] | None = None,
             given_by: str = "", complete: bool = True,
             strides: Sequence[tuple[int, ...] | None] | None = None) -> dict[str, int]:
        """The value of every dim (constant and symbolic) for arrays of these shapes, in argument
        order (None: an omitted argument), and these `strides` (in elements; None: C order).
        `given` are dims already known, from `given_by`. Raises ValueError naming the argument
        that does not fit, or (when `complete`) a dim that no argument determines."""
        env = dict(self.constants)
        bound_by: dict[str, str] = {}
        for name, value in (given or {}).items():
            env[name], bound_by[name] = value, given_by
        strides = list(strides or [None] * len(shapes))
        strides = [s if s is not None or shape is None else c_strides(shape)
                   for shape, s in zip(shapes, strides)]
        for i, shape in enumerate(shapes):
            if shape is not None:
                self._bind_from(i, shape, env, bound_by, strides[i])
                self._check_extents(i, shape, env, bound_by)
                self._check_dims(i, shape, env)
        for i, shape in enumerate(shapes):       # again: an extent can use a dim that only a
            if shape is not None:                # later argument bound
                self._check_extents(i, shape, env, bound_by)
                self._check_strides(i, shape, strides[i], env)
        for name in self.symbolic if complete else ():
            if name not in env:
                raise ValueError(f"{self.where}: dimension {name} is not determined by the "
                                 "arguments given; pass the outputs that have it")
        for dim in self.kernel.derived.values():     # what the wrapper computes, and checks
            if all(v.name in env for v in free_vars(dim.expansion)):
                env[dim.name] = evaluate(dim.expansion, env)
                if env[dim.name] < 1:
                    raise ValueError(f"{self.where}: dim {dim.name} = {to_source(dim.expr)} "
                                     f"must be at least 1 (it is {env[dim.name]})")
        return env

    def _fail(self, i: int, shape: Sequence[int], note: str = "") -> ValueError:
        return ValueError(f"{self.where}: argument {self.arguments[i].name!r} has shape "
                          f"{shape_text(shape)}{note}; expected {self.expected[i]}")

    def _bind_from(self, i: int, shape: Sequence[int], env: dict, bound_by: dict,
                   strides: Sequence[int]) -> None:
        if len(shape) != len(self.shapes[i]):
            raise self._fail(i, shape, f" ({len(shape)} dimensions)")
        for name, source in self.sources.items():
            if source.argument != i or name in env:
                continue
            if source.stride:
                env[name], bound_by[name] = strides[source.axis], self.arguments[i].name
                continue
            value = source.solve(shape[source.axis])
            if value is None:
                extent = to_source(self.shapes[i][source.axis])  # a * name + b
                raise ValueError(f"{self.where}: argument {self.arguments[i].name!r} has shape "
                                 f"{shape_text(shape)}; expected {self.expected[i]} "
                                 f"({shape[source.axis]} is not {extent} for any size {name})")
            env[name], bound_by[name] = value, self.arguments[i].name

    def _check_extents(self, i: int, shape: Sequence[int], env: dict, bound_by: dict) -> None:
        name = self.arguments[i].name
        derived = self.arguments[i].derived
        for axis, (extent, n) in enumerate(zip(self.shapes[i], shape)):
            try:
                want = evaluate(extent, env)
            except (KeyError, ExprError):
                continue                  # a dim bound only by a later argument (or never)
            uses = [self.kernel.derived[d] for a, d in derived if a == axis]
            if want != n and uses:
                notes = [f"{d.name} = {to_source(d.expr)} = {evaluate(d.expansion, env)}"
                         for d in uses]
                raise ValueError(f"{self.where}: argument {name!r} has shape {shape_text(shape)}; "
                                 f"its extent {axis} is {n}, but with the derived "
                                 f"dim{'s' if len(notes) > 1 else ''} {' and '.join(notes)} it "
                                 f"must be {want}; expected {self.expected[i]}")
            if want != n:
                notes = [f"{d} = {env[d]} from {_source(bound_by[d])}"
                         for d in dict.fromkeys(v.name for v in free_vars(extent))
                         if bound_by.get(d, name) != name]
                raise ValueError(f"{self.where}: argument {name!r} has shape {shape_text(shape)}; "
                                 f"expected {self.expected[i]}"
                                 + (f" ({', '.join(notes)})" if notes else ""))

    def _check_strides(self, i: int, shape: Sequence[int], have: Sequence[int],
                       env: dict) -> None:
        """C order without declared strides; else those (dimensions of extent 1 excepted), each
        a multiple of the next and at least the next dimension's span (the wrapper's rules)."""
        buffer = self.arguments[i]
        if buffer.strides is None:
            if any(n != 1 and a != b for n, a, b in zip(shape, have, c_strides(shape))):
                raise ValueError(f"{self.where}: argument {buffer.name!r} is not C-contiguous; "
                                 "pass a contiguous copy, or declare its strides in the spec")
            return
        want = [evaluate(e, env) for e in buffer.strides]
        if any(n != 1 and a != b for n, a, b in zip(shape, have, want)):
            raise ValueError(f"{self.where}: argument {buffer.name!r} has strides "
                             f"{shape_text(have)} (in elements); expected {shape_text(want)}")
        for d in range(len(want) - 1):
            if want[d] % want[d + 1] or want[d] < want[d + 1] * shape[d + 1]:
                raise ValueError(f"{self.where}: argument {buffer.name!r} has strides "
                                 f"{shape_text(want)}: stride {d} must be a multiple of stride "
                                 f"{d + 1} and at least {want[d + 1] * shape[d + 1]} (dimension "
                                 f"{d + 1} spans that many elements)")

    def _check_dims(self, i: int, shape: Sequence[int], env: dict) -> None:
        declared = self.arguments[i].strides or []
        for v in dict.fromkeys(v.name for e in [*self.shapes[i], *declared] for v in free_vars(e)):
            if v in self.symbolic and v in env and not dim_ok(self.symbolic[v], env[v]):
                raise ValueError(f"{self.where}: argument {self.arguments[i].name!r} has shape "
                                 f"{shape_text(shape)}; expected {self.expected[i]} "
                                 f"(got {v} = {env[v]})")


def c_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """The strides (in elements) of a C-contiguous array of `shape`."""
    strides, stride = [], 1
    for n in reversed(shape):
        strides.insert(0, stride)
        stride *= n
    return tuple(strides)


def _source(by: str) -> str:
    return by if by.startswith("-") else f"argument {by!r}"
