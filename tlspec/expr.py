"""Integer expressions: tensor shapes, grid extents and region starts in spec files.

Spec files write an expression as a string or a plain integer::

    M * 2        ceildiv(N, 128)        by * 64 + k * 32        min(K - k * 32, 32)

Grammar (whitespace between tokens is ignored)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '//' | '%') unary)*
    unary   := ('-' | '+') unary | primary
    primary := INT | NAME | call | '(' expr ')'
    call    := 'ceildiv' '(' expr ',' expr ')'
             | ('min' | 'max') '(' expr (',' expr)+ ')'
    INT     := [0-9]+                  decimal; no leading zeros, no '_' separators
    NAME    := [A-Za-z_][A-Za-z0-9_]*  except ceildiv, min and max, which must be called

Binary operators are left-associative and unary minus binds tightest, as in Python. A minus
sign directly before an integer literal is part of the literal: "-5" is Const(-5).
Arithmetic is on signed 64-bit integers (limits.py) with Python's floor semantics:
-7 // 2 == -4, -7 % 2 == 1, and ceildiv(a, b) == -(-a // b). A literal outside 64 bits is an
ExprError; `bounds` (expr_algebra.py) knows no bounds for an expression whose value or partial result may leave
64 bits, and rules/arithmetic.py reports it, with any division that may be by zero.

Hostile text fails with an ExprError, never a RecursionError: input is limited to MAX_LENGTH
characters and MAX_DEPTH levels of nesting, where each operator, call and pair of parentheses
is one level (so a sum of 65 terms is as deep as 65 nested parentheses).
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

from .limits import fits_int64, int_text
from .names import visible

MAX_LENGTH = 1000
MAX_DEPTH = 64

FUNCTIONS = {"ceildiv": "ceildiv(a, b)", "min": "min(a, b, ...)", "max": "max(a, b, ...)"}
# Characters that stand for an operator in typeset text (a pasted formula): removing one, as
# GRAMMAR_HINT says of other characters, would change the expression's meaning ('\u2212M' is -M).
_LOOKALIKES = {"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": "*", "\u22c5": "*",
               "\u00b7": "*", "\u2217": "*", "\u00f7": "//", "\uff0b": "+", "\uff0d": "-",
               "\uff0a": "*", "\uff05": "%", "\uff08": "(", "\uff09": ")", "\uff0c": ","}
# What an expression is made of: the hint of an error that has no more particular one.
GRAMMAR_HINT = ("expressions are made of integers, names, + - * // %, parentheses and calls of "
                "ceildiv(a, b), min(a, b, ...) and max(a, b, ...)")


class ExprError(Exception):
    """A malformed or unevaluable expression; `offset` is the 0-based character offset of the
    problem in the parsed text."""

    def __init__(self, message: str, offset: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


# -- syntax tree ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Const:
    value: int


@dataclass(frozen=True)
class Var:
    name: str
    offset: int = field(default=0, compare=False)  # where the name is in the source text


@dataclass(frozen=True)
class BinOp:
    op: str  # '+', '-', '*', '//' or '%'
    lhs: Expr
    rhs: Expr


@dataclass(frozen=True)
class Neg:
    operand: Expr


@dataclass(frozen=True)
class Call:
    func: str  # 'ceildiv', 'min' or 'max'
    args: tuple[Expr, ...]


Expr = Const | Var | BinOp | Neg | Call


# -- tokens ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # 'int', 'name', 'end', or the symbol itself: '+', '//', '(', ':', ...
    text: str
    offset: int

    def describe(self) -> str:
        return "the end of the text" if self.kind == "end" else f"'{self.text}'"


_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.ASCII)  # a name or an integer literal, read as far as it runs
# Longest first, so that '//' wins over '/' and '**' over '*'.
_SYMBOLS = ("//", "**", "<<", ">>", "+", "-", "*", "/", "%", "(", ")", ",", ":", "[", "]")
_UNSUPPORTED = {
    "**": ("'**' (power) is not supported", "write the product out, e.g. x * x"),
    "<<": ("'<<' is not supported", "multiply by a power of two instead"),
    ">>": ("'>>' is not supported", "floor-divide by a power of two instead"),
    "/": ("'/' is not supported", "use // for integer division"),
}


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, without the closing 'end' token. ':', '[' and ']' are tokens
    here so that region.py can reuse this tokenizer; the expression grammar rejects them."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"too long: {len(text)} characters (at most {MAX_LENGTH} are allowed)",
                        MAX_LENGTH, "name parts of it as derived dims ('K: {expr: \"...\"}' "
                                    "under 'dims') and use the names")
    tokens = []
    pos = 0
    while pos < len(text):
        if space := _WHITESPACE.match(text, pos):
            pos = space.end()
        elif word := _WORD.match(text, pos):
            tokens.append(_word_token(text, word))
            pos = word.end()
        else:
            symbol = next((s for s in _SYMBOLS if text.startswith(s, pos)), None)
            if symbol is None:
                ascii_form = _LOOKALIKES.get(text[pos])
                raise ExprError(f"unexpected character {visible(text[pos])!r}", pos,
                                f"write '{ascii_form}' in its place (ASCII)" if ascii_form else
                                f"remove it: {GRAMMAR_HINT}")
            if symbol in _UNSUPPORTED:
                message, hint = _UNSUPPORTED[symbol]
                raise ExprError(message, pos, hint)
            tokens.append(Token(symbol, symbol, pos))
            pos += len(symbol)
    return tokens


def _word_token(text: str, word: re.Match[str]) -> Token:
    literal, start = word.group(), word.start()
    if not literal[0].isdigit():
        return Token("name", literal, start)
    if not literal.isdigit():
        digits = literal.replace("_", "")
        hint = (f"digit separators are not allowed: write {digits}" if digits.isdigit()
                else "integers are written in decimal digits only")
        raise ExprError(f"invalid integer literal '{literal}'", start, hint)
    if text.startswith(".", word.end()):
        raise ExprError("floating-point numbers are not supported", start,
                        "expressions are integer-valued")
    if len(literal) > 1 and literal[0] == "0":
        # C would read 010 as octal; refuse to guess.
        raise ExprError(f"invalid integer literal '{literal}'", start,
                        f"leading zeros are not allowed: write {literal.lstrip('0') or '0'}")
    return Token("int", literal, start)


def _literal(value: int, offset: int) -> int:
    if not fits_int64(value):
        raise ExprError(f"integer {int_text(value)} is outside the 64-bit range", offset,
                        "integers in a spec lie from -2**63 to 2**63 - 1; sizes are at most "
                        "2**62")
    return value


# -- parser ---------------------------------------------------------------------------------

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "//": 2, "%": 2}
_UNARY_PRECEDENCE = 3
_ATOM_PRECEDENCE = 4


class Parser:
    """Precedence-climbing parser over the tokens of one text.

    parse_expression() reads the longest expression at the current token and stops before the
    first token that cannot continue it (such as ':', ',' or ']'), so that a larger syntax can
    embed expressions: region.py does. Offsets in errors are offsets into the whole text.
    """

    def __init__(self, text: str) -> None:
        self._tokens = tokenize(text)
        self._end = Token("end", "", len(text))
        self._pos = 0

    def peek(self) -> Token:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else self._end

    def advance(self) -> Token:
        token = self.peek()
        self._pos += 1
        return token

    def parse_expression(self) -> Expr:
        expr, _ = self._binary(1, level=1)
        return expr

    # Each method parses a subtree whose root sits at `level` (1 = the whole expression) and
    # returns it with its height. Recursion is checked on the way down; the height of operator
    # chains, which are built in loops, on the way up.

    def _check_depth(self, depth: int, token: Token) -> None:
        if depth > MAX_DEPTH:
            raise ExprError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)",
                            token.offset,
                            "each operator, call and pair of parentheses adds a level")

    def _binary(self, min_precedence: int, level: int) -> tuple[Expr, int]:
        lhs, height = self._unary(level)
        while (precedence := _PRECEDENCE.get(self.peek().kind, 0)) >= min_precedence:
            op = self.advance()
            rhs, rhs_height = self._binary(precedence + 1, level + 1)
            lhs, height = BinOp(op.kind, lhs, rhs), max(height, rhs_height) + 1
            self._check_depth(level - 1 + height, op)
        return lhs, height

    def _unary(self, level: int) -> tuple[Expr, int]:
        token = self.peek()
        self._check_depth(level, token)
        if token.kind not in ("+", "-"):
            return self._primary(level)
        self.advance()
        if token.kind == "-" and self.peek().kind == "int":
            # One constant, so that to_source(Const(-5)) == "-5" parses back to Const(-5).
            literal = self.advance()
            return Const(_literal(-int(literal.text), token.offset)), 1
        operand, height = self._unary(level + 1)
        return (Neg(operand) if token.kind == "-" else operand), height + 1

    def _primary(self, level: int) -> tuple[Expr, int]:
        token = self.advance()
        if token.kind == "int":
            return Const(_literal(int(token.text), token.offset)), 1
        if token.kind == "(":
            inner, height = self._binary(1, level + 1)
            self._close(token, "expected ')'", "join operands with + - * // or %, and close "
                                               "the parenthesis with ')'")
            return inner, height + 1
        if token.kind == "name":
            if self.peek().kind == "(":
                return self._call(token, level)
            if token.text in FUNCTIONS:
                raise ExprError(f"'{token.text}' is a function and must be called", token.offset,
                                f"write {FUNCTIONS[token.text]}")
            return Var(token.text, token.offset), 1
        raise ExprError(f"expected an expression, found {token.describe()}", token.offset,
                        "an integer, a name, a call or a parenthesized expression goes here")

    def _call(self, name: Token, level: int) -> tuple[Expr, int]:
        if name.text not in FUNCTIONS:
            raise ExprError(f"unknown function '{name.text}'; expressions may call ceildiv, min, "
                            "max", name.offset, "e.g. ceildiv(N, 128) for N / 128 rounded up, "
                                                "N // 128 for it rounded down")
        paren = self.advance()
        args: list[Expr] = []
        height = 0
        if self.peek().kind == ")":
            self.advance()
        else:
            while True:
                arg, arg_height = self._binary(1, level + 1)
                args.append(arg)
                height = max(height, arg_height)
                if self.peek().kind != ",":
                    break
                self.advance()
            self._close(paren, f"expected ',' or ')' in the call to {name.text}",
                        f"separate the arguments with ',' and close the call with ')': "
                        f"{FUNCTIONS[name.text]}")
        count = len(args)
        if name.text == "ceildiv" and count != 2:
            raise ExprError(f"ceildiv takes exactly 2 arguments ({count} given)", name.offset,
                            f"write {FUNCTIONS['ceildiv']}")
        if name.text != "ceildiv" and count < 2:
            raise ExprError(f"{name.text} takes at least 2 arguments ({count} given)",
                            name.offset, f"write {FUNCTIONS[name.text]}")
        return Call(name.text, tuple(args)), height + 1

    def _close(self, paren: Token, expected: str, hint: str) -> None:
        token = self.advance()
        if token.kind == "end":
            raise ExprError("'(' is never closed", paren.offset, "add the missing ')'")
        if token.kind != ")":
            raise ExprError(f"{expected}, found {token.describe()}", token.offset, hint)


def parse_expr(text: str | int, parser_class: type[Parser] = Parser) -> Expr:
    """Parse an expression as written in a spec file: a string, or an int (which may be
    negative). Raises ExprError for anything else. `parser_class`: a Parser of a larger
    grammar (index_expr.py's reads of index buffers)."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        kind = {bool: "a boolean", float: "a floating-point number"}.get(type(text),
                                                                         type(text).__name__)
        raise ExprError(f"expected an integer or an expression string, got {kind} ({text!r})",
                        0, "write an integer, or an expression such as \"M * 2\"")
    if isinstance(text, int):
        return Const(_literal(text, 0))
    parser = parser_class(text)
    if parser.peek().kind == "end":
        raise ExprError("empty expression", 0, "write an integer or an expression such as M * 2")
    expr = parser.parse_expression()
    token = parser.peek()
    if token.kind == ")":
        raise ExprError("unmatched ')'", token.offset, "remove it or add the missing '('")
    if token.kind == ",":
        raise ExprError("unexpected ','", token.offset,
                        "commas only separate the arguments of ceildiv, min and max")
    if token.kind != "end":
        raise ExprError(f"expected an operator, found {token.describe()}", token.offset,
                        "join operands with + - * // or %")
    return expr


# -- walking, evaluating, printing ----------------------------------------------------------

def subexpressions(e: Expr) -> Iterator[Expr]:
    """`e` and every expression inside it, in source order (a node before its operands)."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        match node:
            case BinOp(lhs=lhs, rhs=rhs):
                stack += (rhs, lhs)
            case Neg(operand=operand):
                stack.append(operand)
            case Call(args=args):
                stack.extend(reversed(args))


def free_vars(e: Expr) -> list[Var]:
    """Every use of a name, in source order, duplicates included."""
    return [node for node in subexpressions(e) if isinstance(node, Var)]


def divisor(e: Expr) -> Expr | None:
    """What `e` divides by, when it is a division ('//', '%' or ceildiv)."""
    match e:
        case BinOp(op="//" | "%", rhs=rhs):
            return rhs
        case Call(func="ceildiv", args=(_, rhs)):
            return rhs
    return None


_ARITHMETIC: dict[str, Callable[[int, int], int]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul,
    "//": operator.floordiv, "%": operator.mod,
}


def ceildiv(a: int, b: int) -> int:
    """ceildiv on integers: -(-a // b), as the language defines it."""
    return -(-a // b)


def evaluate(e: Expr, env: Mapping[str, int]) -> int:
    """The value of `e` with names bound by `env` (KeyError for an unbound name)."""
    match e:
        case Const(value=value):
            return value
        case Var(name=name):
            return env[name]
        case Neg(operand=operand):
            return -evaluate(operand, env)
        case BinOp(op=op, lhs=lhs, rhs=rhs):
            a, b = evaluate(lhs, env), evaluate(rhs, env)
            if b == 0 and op in ("//", "%"):
                raise _division_by_zero(e)
            return _ARITHMETIC[op](a, b)
        case Call(func=func, args=args):
            values = [evaluate(arg, env) for arg in args]
            if func == "min":
                return min(values)
            if func == "max":
                return max(values)
            if values[1] == 0:
                raise _division_by_zero(e)
            return ceildiv(values[0], values[1])
    raise TypeError(f"not an expression: {e!r}")


def substitute(e: Expr, values: Mapping[str, int | Expr]) -> Expr:
    """`e` with the names in `values` replaced by their values, integers or expressions (the
    others kept)."""
    match e:
        case Var(name=name) if name in values:
            value = values[name]
            return Const(value) if isinstance(value, int) else value
        case Neg(operand=operand):
            return Neg(substitute(operand, values))
        case BinOp(op=op, lhs=lhs, rhs=rhs):
            return BinOp(op, substitute(lhs, values), substitute(rhs, values))
        case Call(func=func, args=args):
            return Call(func, tuple(substitute(arg, values) for arg in args))
    return e


def _division_by_zero(e: Expr) -> ExprError:
    return ExprError("division by zero", 0, f"the divisor in '{to_source(e)}' is 0")


def to_source(e: Expr) -> str:
    """Canonical text with the fewest parentheses; parse_expr(to_source(e)) == e."""
    match e:
        case Const(value=value):
            return str(value)
        case Var(name=name):
            return name
        case Call(func=func, args=args):
            return f"{func}({', '.join(to_source(arg) for arg in args)})"
        case Neg(operand=operand):
            # Only a name or a call goes bare: "-(5)" must not read back as the literal -5,
            # nor "-(a * b)" as (-a) * b.
            text = to_source(operand)
            return f"-{text}" if isinstance(operand, (Var, Call)) else f"-({text})"
        case BinOp(op=op, lhs=lhs, rhs=rhs):
            precedence = _PRECEDENCE[op]
            # Left-associative: an equal-precedence operand needs parentheses only on the right.
            left = _wrap(lhs, _precedence(lhs) < precedence)
            right = _wrap(rhs, _precedence(rhs) <= precedence)
            return f"{left} {op} {right}"
    raise TypeError(f"not an expression: {e!r}")


def _precedence(e: Expr) -> int:
    if isinstance(e, BinOp):
        return _PRECEDENCE[e.op]
    if isinstance(e, Neg) or (isinstance(e, Const) and e.value < 0):
        return _UNARY_PRECEDENCE
    return _ATOM_PRECEDENCE


def _wrap(e: Expr, parenthesize: bool) -> str:
    return f"({to_source(e)})" if parenthesize else to_source(e)
