"""Derived dims (`OH: {expr: "(H + 2*pad - K) // stride + 1"}`): a dim defined by an expression
of other dims. Dims defined in terms of each other are refused (the cycle is named); a derived
dim of constant dims is a constant (folded here, and it must be positive); one that depends on a
symbolic dim is expanded into every expression that names it, so that it is no kernel argument:
the launch wrapper evaluates the expansion from the dims bound at the call, and a tensor extent
written as the derived dim is checked against it like any other extent.
"""
from __future__ import annotations

from typing import Callable

from .expr import Expr, ExprError, evaluate, free_vars, substitute, to_source
from .expr_algebra import simplify
from .model import Dim

Report = Callable[..., None]   # (pointer, message, hint, offset=...)


def define_derived(dims: dict[str, Dim], written: dict[str, Expr], error: Report) -> dict[str, Expr]:
    """Set each derived dim's definition (and value when constant) from its `written`
    expression; the expansions, in non-derived dims only, of those that are not constant."""
    cyclic = _report_cycles(dims, written, error)
    expansions: dict[str, Expr] = {}

    def expand(name: str) -> Expr | None:
        if name in expansions:
            return expansions[name]
        expr = written.get(name)
        if expr is None or name in cyclic:
            return None
        uses = {v.name for v in free_vars(expr) if dims[v.name].derived}
        parts = {use: expand(use) for use in uses}
        if any(part is None for part in parts.values()):
            return None
        expansions[name] = simplify(substitute(expr, parts))
        return expansions[name]

    constants = {d.name: d.value for d in dims.values() if d.value is not None}
    symbolic: dict[str, Expr] = {}
    for dim in dims.values():
        expansion = expand(dim.name) if dim.derived else None
        if expansion is None:
            continue
        dim.expr = written[dim.name]
        if any(v.name not in constants for v in free_vars(expansion)):
            symbolic[dim.name] = dim.expansion = expansion
            continue
        try:
            value = evaluate(expansion, constants)
        except ExprError as err:
            error(dim.pointer + "/expr", f"dim '{dim.name}' cannot be evaluated: {err.message}",
                  err.hint)
            continue
        if value < 1:
            error(dim.pointer + "/expr", f"dim '{dim.name}' = {to_source(dim.expr)} is {value}; "
                                         "a dim must be positive",
                  "check the definition and the constant dims it uses")
            continue
        dim.value = value
        constants[dim.name] = value
    return symbolic


def _report_cycles(dims: dict[str, Dim], written: dict[str, Expr], error: Report) -> set[str]:
    """Report each cycle of derived dims once, at the definition of its first dim (spec order);
    the names of the dims on a cycle."""
    cyclic: set[str] = set()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in done or name not in written:
            return
        if name in path:
            cycle = path[path.index(name):]
            cyclic.update(cycle)
            first = cycle[0]
            offending = next(v for v in free_vars(written[first])
                             if v.name == (cycle + [first])[1])
            error(dims[first].pointer + "/expr",
                  "derived dims are defined in terms of each other: "
                  + " -> ".join(cycle + [first]),
                  "define each derived dim from dims that do not depend on it",
                  offset=offending.offset)
            return
        for var in free_vars(written[name]):
            if dims[var.name].derived:
                visit(var.name, path + [name])
        done.add(name)

    for name in written:
        visit(name, [])
    return cyclic
