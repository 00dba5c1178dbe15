"""Buffer regions: the compact slice syntax of spec files.

    A                     the whole buffer
    A[by*64 : +64, :]     per dimension, one of:
        start : +extent       extent given explicitly ('+' right after the ':')
        start : stop          extent = stop - start
        start :               from start to the end of the dimension
        : stop                from 0 to stop
        :                     the whole dimension
        index                 a single element; the dimension is indexed, not sliced
    A[:, 0 : N : 2]       a slice may end with ': step', every step-th element:
        start : stop : step   ceildiv(stop - start, step) elements (Python's count)
        start : +count : step count elements: start, start + step, ...
        start : : step        to the end of the dimension (also '::step' for the whole one)

Starts, stops, extents, steps and indices are expressions (see expr.py), parsed with the same
tokenizer and parser. A region's extent is the number of elements it selects along the
dimension, so both sides of a copy have the same extents whatever their steps.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from .expr import BinOp, Call, Const, Expr, ExprError, Parser
from .expr_algebra import simplify

_EXTENT_HINT = "write start : +extent, e.g. A[i : +64]"


@dataclass(frozen=True)
class Slice:
    start: Expr | None  # None means from 0 (':' or ': stop')
    extent: Expr | None  # None means to the end of the dimension
    stop: Expr | None  # as written when the 'start : stop' form was used, else None
    single: bool  # True for the 'index' form (extent 1; the dimension is indexed, not sliced)
    offset: int  # character offset of this slice in the region text
    step: Expr | None = None  # as written after a second ':', None when there is none
    step_offset: int = -1  # character offset of the step's text


@dataclass(frozen=True)
class Region:
    buffer: str
    buffer_offset: int  # character offset of the name
    slices: tuple[Slice, ...] | None  # None for a bare name (the whole buffer)
    text: str


_LEADING_WORD = re.compile(r"\s*(\w+)", re.ASCII)


def parse_region(text: str) -> Region:
    """Parse region text such as 'A[by*64 : +64, :]'; raises ExprError with the offset of the
    problem in `text`."""
    # The tokenizer would read '2A' as a malformed number; report it as the bad name it is.
    word = _LEADING_WORD.match(text)
    if word and word.group(1)[0].isdigit():
        raise ExprError(f"invalid buffer name '{word.group(1)}'", word.start(1),
                        "a buffer name starts with a letter or '_' and continues with letters, "
                        "digits and '_'")
    parser = Parser(text)
    name = parser.advance()
    if name.kind != "name":
        raise ExprError(f"expected a buffer name, found {name.describe()}", name.offset,
                        "write a buffer name, optionally followed by slices: A or A[0 : 64, :]")
    bracket = parser.advance()
    if bracket.kind == "end":
        return Region(name.text, name.offset, None, text)
    if bracket.kind != "[":
        raise ExprError(f"expected '[' after the buffer name '{name.text}', found "
                        f"{bracket.describe()}", bracket.offset,
                        f"write the buffer alone ('{name.text}') or a region of it "
                        f"('{name.text}[0 : +64, :]')")
    if parser.peek().kind == "]":
        raise ExprError("empty slice list '[]'", bracket.offset,
                        f"write '{name.text}' alone for the whole buffer, or ':' for each whole "
                        "dimension")
    slices = []
    while True:
        if parser.peek().kind == "end":
            raise ExprError("'[' is never closed", bracket.offset, "add the missing ']'")
        slices.append(_parse_slice(parser))
        token = parser.advance()
        if token.kind == "]":
            break
        if token.kind == "end":
            raise ExprError("'[' is never closed", bracket.offset, "add the missing ']'")
        if token.kind != ",":
            raise ExprError(f"expected ',' or ']', found {token.describe()}", token.offset,
                            "separate the slices of the dimensions with ',' and close with ']', "
                            "e.g. A[by*64 : +64, :]")
        if parser.peek().kind == "]":
            raise ExprError("trailing ',' in the slice list", token.offset,
                            "remove it, or add the missing dimension")
    after = parser.peek()
    if after.kind != "end":
        raise ExprError(f"unexpected {after.describe()} after ']'", after.offset,
                        "a region ends with its closing ']'")
    return Region(name.text, name.offset, tuple(slices), text)


def _parse_slice(parser: Parser) -> Slice:
    first = parser.peek()
    if first.kind == "+":
        raise ExprError("a '+extent' must follow 'start :'", first.offset, _EXTENT_HINT)
    start = None if first.kind == ":" else parser.parse_expression()
    if parser.peek().kind != ":":
        return Slice(start, Const(1), None, True, first.offset)
    parser.advance()
    tail = parser.peek()
    if tail.kind in (",", "]", "end"):
        return Slice(start, None, None, False, first.offset)
    extent = stop = None
    if tail.kind == "+":
        parser.advance()
        if parser.peek().kind in (",", "]", ":", "end"):
            raise ExprError("missing extent after '+'", tail.offset, _EXTENT_HINT)
        extent = parser.parse_expression()
    elif tail.kind != ":":
        stop = parser.parse_expression()
        extent = simplify(stop if start is None else BinOp("-", stop, start))
    if parser.peek().kind != ":":
        return Slice(start, extent, stop, False, first.offset)
    colon = parser.advance()
    if parser.peek().kind in (",", "]", "end"):
        raise ExprError("missing step after the second ':'", colon.offset,
                        "write start : stop : step, e.g. A[0 : N : 2], or drop the ':'")
    step_offset = parser.peek().offset
    step = parser.parse_expression()
    if parser.peek().kind == ":":
        raise ExprError("a slice has at most three parts, start : stop : step",
                        parser.peek().offset, "write start : +extent, start : stop or "
                                              "start : stop : step")
    if stop is not None:
        extent = _count(stop if start is None else BinOp("-", stop, start), step)
    return Slice(start, extent, stop, False, first.offset, step, step_offset)


def _count(span: Expr, step: Expr) -> Expr:
    """How many elements a slice of `span` elements selects with `step`: ceildiv(span, step)."""
    return simplify(Call("ceildiv", (span, step)))


def resolve(region: Region, shape: Sequence[Expr]) -> list[tuple[Expr, Expr]]:
    """Per dimension, the (start, extent) of `region` in a buffer of `shape`, simplified, with
    whole dimensions and open ends filled in from the shape."""
    if region.slices is None:
        return [(Const(0), simplify(dim)) for dim in shape]
    if len(region.slices) != len(shape):
        count = len(region.slices)
        raise ValueError(f"region '{region.text}' indexes {count} dimension"
                         f"{'' if count == 1 else 's'} but buffer '{region.buffer}' has "
                         f"{len(shape)}")
    dims = []
    for piece, dim in zip(region.slices, shape):
        start = Const(0) if piece.start is None else simplify(piece.start)
        extent = piece.extent if piece.extent is not None else BinOp("-", dim, start)
        if piece.step is not None and piece.extent is None:
            extent = _count(extent, piece.step)
        dims.append((start, simplify(extent)))
    return dims


def steps(region: Region) -> list[Expr] | None:
    """Per dimension, the step of `region` (1 where none is written); None when no slice has
    a step (a dense box)."""
    if region.slices is None or all(s.step is None for s in region.slices):
        return None
    return [Const(1) if s.step is None else simplify(s.step) for s in region.slices]
