"""The manifest's integer expressions: an int, {"dim": NAME} or {"op": OP, "args": [EXPR, ...]},
evaluated without eval() and rendered as text for messages and docstrings."""
from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence, Union

Expr = Union[int, dict]        # an int, {"dim": NAME} or {"op": OP, "args": [Expr, ...]}


def _ceildiv(a: int, b: int) -> int:
    return -(-a // b)


def _truncdiv(a: int, b: int) -> int:
    """C's a / b: the quotient rounded toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _product(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


# operator -> (function of the argument values, number of arguments; None: one or more)
_OPS: dict[str, tuple[Callable[[list], int], Optional[int]]] = {
    "+": (sum, None),
    "-": (lambda a: a[0] - a[1], 2),
    "*": (_product, None),
    "//": (lambda a: a[0] // a[1], 2),
    "%": (lambda a: a[0] % a[1], 2),
    "ceildiv": (lambda a: _ceildiv(a[0], a[1]), 2),
    "truncdiv": (lambda a: _truncdiv(a[0], a[1]), 2),
    "truncmod": (lambda a: a[0] - a[1] * _truncdiv(a[0], a[1]), 2),
    "min": (min, None),
    "max": (max, None),
    "neg": (lambda a: -a[0], 1),
}
_DIVISIONS = ("//", "%", "ceildiv", "truncdiv", "truncmod")


def evaluate(expr: Expr, env: Mapping[str, int]) -> int:
    """Value of a manifest expression: an int, {"dim": NAME} or {"op": OP, "args": [EXPR...]}."""
    if isinstance(expr, int) and not isinstance(expr, bool):
        return expr
    if isinstance(expr, dict):
        if "dim" in expr:
            return _dim_value(expr["dim"], env)
        if expr.get("op") in _OPS:
            return _apply(expr, [evaluate(a, env) for a in expr.get("args", ())])
    raise ValueError(f"invalid expression {expr!r}")


def _dim_value(name: str, env: Mapping[str, int]) -> int:
    try:
        return env[name]
    except KeyError:
        raise ValueError(f"dimension {name!r} has no value") from None


def _apply(expr: dict, args: list) -> int:
    op = expr["op"]
    fn, arity = _OPS[op]
    if (arity is not None and len(args) != arity) or not args:
        raise ValueError(f"operator {op!r} takes {arity or 'at least 1'} argument(s), "
                         f"got {len(args)}")
    if op in _DIVISIONS and args[1] == 0:
        raise ValueError(f"division by zero in {render(expr)}")
    return fn(args)


def render(expr: Expr) -> str:
    """Human-readable text of an expression ("M", "ceildiv(M, 64)", "(M + 7) // 8")."""
    if isinstance(expr, int):
        return str(expr)
    if "dim" in expr:
        return expr["dim"]
    op, args = expr["op"], [render(a) for a in expr["args"]]
    if op in ("ceildiv", "truncdiv", "truncmod", "min", "max"):
        return f"{op}({', '.join(args)})"
    if op == "neg":
        return f"-{args[0]}"
    return "(" + f" {op} ".join(args) + ")"


def collect_dims(expr: Expr, out: list) -> None:
    """Append the dim names of expr to out, each once, in order of appearance."""
    if isinstance(expr, dict):
        if "dim" in expr:
            if expr["dim"] not in out:
                out.append(expr["dim"])
        else:
            for a in expr.get("args", ()):
                collect_dims(a, out)

