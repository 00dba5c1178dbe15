"""What an integer expression (expr.py) can be: inclusive interval bounds of its value over
ranges of its names (`bounds`), a canonical simplified form (`simplify`, `is_const`,
`const_value`: polynomials in the names, with exact division and remainder by constants), and its
affine form in one name (`affine`)."""
from __future__ import annotations

import operator
from typing import Callable, Mapping

from .expr import BinOp, Call, Const, Expr, Neg, Var, ceildiv, to_source
from .limits import fits_int64

# -- interval bounds ------------------------------------------------------------------------

Interval = tuple[int, int]  # inclusive (lo, hi)


def bounds(e: Expr, ranges: Mapping[str, Interval], *, exact: bool = False) -> Interval | None:
    """Inclusive bounds of `e` when each name ranges over its inclusive interval in `ranges`.

    Sound always, exact for sums, products, min/max and division by constants. None when a
    name has no range or the bound is unknown (a divisor range containing 0, or a '%' divisor
    that is not positive), and, unless `exact`, when the value or a partial result may leave
    the 64-bit range of the language (limits.py): such an expression has no value a kernel
    could compute, and callers that print or multiply bounds never meet a huge integer.
    """
    interval = _bounds(e, ranges, exact)
    return interval if interval is None or exact or _fits(interval) else None


def _fits(interval: Interval) -> bool:
    return fits_int64(interval[0]) and fits_int64(interval[1])


def _bounds(e: Expr, ranges: Mapping[str, Interval], exact: bool) -> Interval | None:
    match e:
        case Const(value=value):
            return value, value
        case Var(name=name):
            interval = ranges.get(name)
            return None if interval is None else (interval[0], interval[1])
        case Neg(operand=operand):
            inner = bounds(operand, ranges, exact=exact)
            return None if inner is None else (-inner[1], -inner[0])
        case BinOp(op=op, lhs=lhs, rhs=rhs):
            a, b = bounds(lhs, ranges, exact=exact), bounds(rhs, ranges, exact=exact)
            return None if a is None or b is None else _INTERVAL_OPS[op](a, b)
        case Call(func=func, args=args):
            intervals = [bounds(arg, ranges, exact=exact) for arg in args]
            known = [i for i in intervals if i is not None]
            if len(known) < len(intervals):
                return None
            if func == "min":
                return min(lo for lo, _ in known), min(hi for _, hi in known)
            if func == "max":
                return max(lo for lo, _ in known), max(hi for _, hi in known)
            # ceildiv(a, b) == -((-a) // b)
            quotient = _interval_floordiv((-known[0][1], -known[0][0]), known[1])
            return None if quotient is None else (-quotient[1], -quotient[0])
    raise TypeError(f"not an expression: {e!r}")


def _corners(op: Callable[[int, int], int], a: Interval, b: Interval) -> Interval:
    values = [op(x, y) for x in a for y in b]
    return min(values), max(values)


def _interval_floordiv(a: Interval, b: Interval) -> Interval | None:
    if b[0] <= 0 <= b[1]:
        return None
    # Away from a zero divisor, x // y is monotonic in each argument: extremes are at corners.
    return _corners(operator.floordiv, a, b)


def _interval_mod(a: Interval, b: Interval) -> Interval | None:
    if b[0] <= 0:
        return None
    c = b[0]
    if c == b[1] and a[0] // c == a[1] // c:
        # Within one period, x % c grows with x.
        return a[0] % c, a[1] % c
    return 0, b[1] - 1


_INTERVAL_OPS: dict[str, Callable[[Interval, Interval], Interval | None]] = {
    "+": lambda a, b: (a[0] + b[0], a[1] + b[1]),
    "-": lambda a, b: (a[0] - b[1], a[1] - b[0]),
    "*": lambda a, b: _corners(operator.mul, a, b),
    "//": _interval_floordiv,
    "%": _interval_mod,
}


# -- simplification -------------------------------------------------------------------------
#
# simplify() rewrites an expression as a polynomial with integer coefficients over atoms:
# names and the sub-terms a polynomial cannot express (x // c, x % c, ceildiv, min, max, with
# their own arguments simplified), then prints that polynomial back in one canonical way.

Monomial = tuple[Expr, ...]  # atoms in _atom_key order, repeated for powers; () is the constant
Poly = dict[Monomial, int]  # no zero coefficients

# Expanding a product copies each side's atoms once per term of the other side. Past this many
# terms, or when the copied atoms are more than names, a product stays unexpanded (an opaque
# atom): (a + b) * (c + d) * ... would otherwise grow exponentially.
MAX_TERMS = 64


def simplify(e: Expr) -> Expr:
    """The canonical form of `e`: two expressions are provably equal iff their simplified forms
    are equal. E.g. M * 2, 2 * M and M + M all give M * 2; (k + 1) * 32 - k * 32 gives 32."""
    return _to_expr(_poly(e))


def is_const(e: Expr) -> bool:
    return isinstance(simplify(e), Const)


def const_value(e: Expr) -> int | None:
    simple = simplify(e)
    return simple.value if isinstance(simple, Const) else None


def _poly(e: Expr) -> Poly:
    match e:
        case Const(value=value):
            return _const(value)
        case Var():
            return _atom(e)
        case Neg(operand=operand):
            return _negated(_poly(operand))
        case BinOp(op="+", lhs=lhs, rhs=rhs):
            return _sum(_poly(lhs), _poly(rhs))
        case BinOp(op="-", lhs=lhs, rhs=rhs):
            return _sum(_poly(lhs), _negated(_poly(rhs)))
        case BinOp(op="*", lhs=lhs, rhs=rhs):
            return _product(_poly(lhs), _poly(rhs))
        case BinOp(op="//", lhs=lhs, rhs=rhs):
            return _quotient(_poly(lhs), _poly(rhs))
        case BinOp(op="%", lhs=lhs, rhs=rhs):
            return _remainder(_poly(lhs), _poly(rhs))
        case Call(func="ceildiv", args=(lhs, rhs)):
            return _ceil_quotient(_poly(lhs), _poly(rhs))
        case Call(func=func, args=args):
            return _extremum(func, [_poly(arg) for arg in args])
    raise TypeError(f"not an expression: {e!r}")


def _const(value: int) -> Poly:
    return {(): value} if value else {}


def _atom(e: Expr) -> Poly:
    return {(e,): 1}


def _constant(p: Poly) -> int | None:
    """The value of `p` when it has no atoms."""
    return p.get((), 0) if all(not m for m in p) else None


def _nonzero(p: Poly) -> Poly:
    return {m: c for m, c in p.items() if c}


def _negated(p: Poly) -> Poly:
    return {m: -c for m, c in p.items()}


def _sum(p: Poly, q: Poly) -> Poly:
    result = dict(p)
    for m, c in q.items():
        result[m] = result.get(m, 0) + c
    return _nonzero(result)


def _product(p: Poly, q: Poly) -> Poly:
    if (len(p) * len(q) > MAX_TERMS or (len(q) > 1 and not _names_only(p))
            or (len(p) > 1 and not _names_only(q))):
        lhs, rhs = sorted((_to_expr(p), _to_expr(q)), key=_atom_key)
        return _atom(BinOp("*", lhs, rhs))
    result: Poly = {}
    for m1, c1 in p.items():
        for m2, c2 in q.items():
            m = tuple(sorted(m1 + m2, key=_atom_key))
            result[m] = result.get(m, 0) + c1 * c2
    return _nonzero(result)


def _names_only(p: Poly) -> bool:
    return all(isinstance(atom, Var) for m in p for atom in m)


def _quotient(p: Poly, q: Poly) -> Poly:
    c, k = _constant(q), _constant(p)
    if c not in (None, 0) and k is not None:
        return _const(k // c)
    if c is None or c <= 0:
        return _atom(BinOp("//", _to_expr(p), _to_expr(q)))
    # (c*Q + R) // c == Q + R // c for integer-valued Q: pull every multiple of c out, leaving
    # coefficients in [0, c) inside the division.
    whole = _nonzero({m: a // c for m, a in p.items()})
    rest = _nonzero({m: a % c for m, a in p.items()})
    if all(not m for m in rest):  # a constant in [0, c) divides to 0
        return whole
    if rest.get((), 0) == c - 1:
        # (x + c - 1) // c is ceildiv(x, c), the way spec authors write it.
        atom: Expr = Call("ceildiv", (_to_expr({m: a for m, a in rest.items() if m}), Const(c)))
    else:
        atom = BinOp("//", _to_expr(rest), Const(c))
    return _sum(whole, _atom(atom))


def _remainder(p: Poly, q: Poly) -> Poly:
    c, k = _constant(q), _constant(p)
    if c not in (None, 0) and k is not None:
        return _const(k % c)
    if c is None or c <= 0:
        return _atom(BinOp("%", _to_expr(p), _to_expr(q)))
    # (c*Q + R) % c == R % c for integer-valued Q.
    rest = _nonzero({m: a % c for m, a in p.items()})
    if all(not m for m in rest):  # a constant in [0, c) is its own remainder
        return rest
    return _atom(BinOp("%", _to_expr(rest), Const(c)))


def _ceil_quotient(p: Poly, q: Poly) -> Poly:
    c, k = _constant(q), _constant(p)
    if c not in (None, 0) and k is not None:
        return _const(ceildiv(k, c))
    if c is None or c <= 0:
        return _atom(Call("ceildiv", (_to_expr(p), _to_expr(q))))
    return _quotient(_sum(p, _const(c - 1)), q)  # ceildiv(x, c) == (x + c - 1) // c for c > 0


def _extremum(func: str, args: list[Poly]) -> Poly:
    """min or max: nested calls of the same function flattened, constants folded into one,
    duplicates dropped, arguments sorted."""
    pick = min if func == "min" else max
    constants: list[int] = []
    others: set[Expr] = set()
    for p in args:
        arg = _to_expr(p)
        for item in arg.args if isinstance(arg, Call) and arg.func == func else (arg,):
            if isinstance(item, Const):
                constants.append(item.value)
            else:
                others.add(item)
    items = sorted(others, key=_atom_key)
    if constants:
        items.append(Const(pick(constants)))
    return _poly(items[0]) if len(items) == 1 else _atom(Call(func, tuple(items)))


def _atom_key(e: Expr) -> tuple[int, str]:
    # Names first, alphabetically; then other atoms by their text; constants (min/max only) last.
    rank = 0 if isinstance(e, Var) else 2 if isinstance(e, Const) else 1
    return rank, to_source(e)


def _to_expr(p: Poly) -> Expr:
    """Print a polynomial: positive terms before negative ones, each group in atom order, the
    constant last ("by * 64 + 32") unless it is the only positive term ("128 - x")."""
    terms = sorted(((m, c) for m, c in p.items() if m),
                   key=lambda term: (term[1] < 0, [_atom_key(a) for a in term[0]]))
    constant = p.get((), 0)
    if constant > 0 and (not terms or terms[0][1] < 0):
        terms.insert(0, ((), constant))
    elif constant:
        terms.append(((), constant))
    if not terms:
        return Const(0)
    result = _term(*terms[0])
    for monomial, coefficient in terms[1:]:
        result = BinOp("-" if coefficient < 0 else "+", result, _term(monomial, abs(coefficient)))
    return result


def _term(monomial: Monomial, coefficient: int) -> Expr:
    if not monomial:
        return Const(coefficient)
    product = monomial[0]
    for atom in monomial[1:]:
        product = BinOp("*", product, atom)
    if coefficient == 1:
        return product
    if coefficient == -1:
        return Neg(product)
    return BinOp("*", product, Const(coefficient))


def affine(e: Expr) -> tuple[str, int, int] | None:
    """(name, a, b) when `e` is provably a * name + b for integers a != 0 and b, with no other
    name in it: `B * 64` gives ('B', 64, 0), `D + 2` ('D', 1, 2), `M` ('M', 1, 0); None for
    anything else (`M * N`, `M // 2`, a constant)."""
    poly = _poly(e)
    terms = [(monomial, c) for monomial, c in poly.items() if monomial]
    if len(terms) != 1:
        return None
    (monomial, a), = terms
    if len(monomial) != 1 or not isinstance(monomial[0], Var):
        return None
    return monomial[0].name, a, poly.get((), 0)
