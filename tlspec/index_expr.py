"""Computed indices of gather and scatter: integer expressions that read index buffers.

    block_table[b, t // P]        t % P        pages[i] * 4 + slots[i]

An index expression is an expression (expr.py) in which a buffer name followed by subscripts,
`name[e1, e2, ...]`, reads one element of an int32 / int64 index buffer. The subscripts are plain
expressions: a read inside a subscript is refused (one level of indirection is what paged
caches and embedding tables need, and it keeps every read checkable on its own).

A read is a `Load`: a `Var` named by its canonical text (`block_table[b, t // P]`) that carries
its buffer and subscripts, so that expr.py's evaluate (the caller binds the value it read under
that name), bounds, simplify and to_source treat it as a name whose value is data.

A gather's or scatter's `each` binds row variables to ranges, written like a region's slice:
`t: "bx*16 : +16"` or `t: "0 : T"`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .expr import (BinOp, Call, Expr, ExprError, Neg, Parser, Var, parse_expr, subexpressions,
                   substitute, to_source)
from .expr_algebra import simplify
from .region import _parse_slice


@dataclass(frozen=True)
class Load(Var):
    buffer: str = ""
    subscripts: tuple[Expr, ...] = ()
    # where the buffer name is in the source text (the Var's offset is the same)
    subscript_offsets: tuple[int, ...] = field(default=(), compare=False)


def load(buffer: str, subscripts: tuple[Expr, ...], offset: int = 0,
         subscript_offsets: tuple[int, ...] = ()) -> Load:
    name = f"{buffer}[{', '.join(to_source(s) for s in subscripts)}]"
    return Load(name, offset, buffer, tuple(subscripts), subscript_offsets)


class _IndexParser(Parser):
    """The expression grammar plus `NAME '[' expr (',' expr)* ']'` as a primary."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._in_subscript = False

    def _primary(self, level: int) -> tuple[Expr, int]:
        token = self.peek()
        after = self._tokens[self._pos + 1] if self._pos + 1 < len(self._tokens) else None
        if token.kind != "name" or after is None or after.kind != "[":
            return super()._primary(level)
        if self._in_subscript:
            raise ExprError(f"'{token.text}[...]' reads an index buffer inside a subscript",
                            token.offset, "compute one level of indirection per index: "
                            "subscripts are plain expressions")
        self.advance()
        bracket = self.advance()
        if self.peek().kind == "]":
            raise ExprError("empty subscript list '[]'", bracket.offset,
                            f"write one subscript per dimension of '{token.text}'")
        subscripts, offsets, height = [], [], 0
        self._in_subscript = True
        while True:
            offsets.append(self.peek().offset)
            sub, sub_height = self._binary(1, level + 1)
            subscripts.append(sub)
            height = max(height, sub_height)
            close = self.advance()
            if close.kind == "]":
                break
            if close.kind == "end":
                raise ExprError("'[' is never closed", bracket.offset, "add the missing ']'")
            if close.kind != ",":
                raise ExprError(f"expected ',' or ']', found {close.describe()}", close.offset,
                                "a subscript is a single index: slices are not allowed here")
        self._in_subscript = False
        return load(token.text, tuple(subscripts), token.offset, tuple(offsets)), height + 1


def parse_index_expr(text: str | int) -> Expr:
    """Parse an index expression; raises ExprError located in `text`."""
    return parse_expr(text, _IndexParser)


def loads(e: Expr) -> list[Load]:
    """The reads of index buffers in `e`, each once, in source order."""
    found: dict[str, Load] = {}
    for node in subexpressions(e):
        if isinstance(node, Load):
            found.setdefault(node.name, node)
    return list(found.values())


def map_loads(e: Expr, fn: Callable[[Load], Expr]) -> Expr:
    """`e` with every read replaced by fn(read)."""
    match e:
        case Load():
            return fn(e)
        case Neg(operand=operand):
            return Neg(map_loads(operand, fn))
        case BinOp(op=op, lhs=lhs, rhs=rhs):
            return BinOp(op, map_loads(lhs, fn), map_loads(rhs, fn))
        case Call(func=func, args=args):
            return Call(func, tuple(map_loads(arg, fn) for arg in args))
    return e


def substitute_all(e: Expr, values: dict[str, int | Expr]) -> Expr:
    """expr.substitute that also substitutes inside the subscripts of reads."""
    inner = map_loads(e, lambda r: load(r.buffer, tuple(substitute(s, values)
                                                        for s in r.subscripts), r.offset,
                                        r.subscript_offsets))
    return substitute(inner, values)


def parse_range(text: str | int) -> tuple[Expr, Expr]:
    """(start, extent) of an `each` range: `start : +extent` or `start : stop`."""
    parser = Parser(str(text))
    if parser.peek().kind == "end":
        raise ExprError("empty range", 0, "write start : +extent, e.g. bx*16 : +16")
    piece = _parse_slice(parser)
    after = parser.peek()
    if after.kind != "end":
        raise ExprError(f"unexpected {after.describe()} after the range", after.offset,
                        "write start : +extent, e.g. bx*16 : +16")
    if piece.single or piece.start is None or piece.extent is None:
        raise ExprError("a row range needs a start and an extent", piece.offset,
                        "write start : +extent or start : stop, e.g. bx*16 : +16")
    return piece.start, piece.extent


def row_dims(ref, each) -> list[int]:
    """The dimension of the rows region `ref` (a RegionRef) each row variable of `each` names,
    in `each`'s order (the rules make it one dimension per variable)."""
    return [next(d for d, (start, _) in enumerate(ref.dims)
                 if any(v.name == var.name for v in subexpressions(start) if isinstance(v, Var)))
            for var in each]


def rows_hull(ref, each) -> list[tuple[Expr, Expr]]:
    """The rows region `ref` (a RegionRef) over all rows of `each` (EachVars): per dimension,
    (start, extent), where a dimension a row variable names (`t + c`) starts at its range's
    start (+ c) and spans its extent. The rules make the variables name one dimension each."""
    dims = []
    for start, extent in ref.dims:
        for var in each:
            if any(v.name == var.name for v in subexpressions(start) if isinstance(v, Var)):
                start, extent = simplify(substitute(start, {var.name: var.start})), var.extent
        dims.append((start, extent))
    return dims
