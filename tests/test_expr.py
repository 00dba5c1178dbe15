from __future__ import annotations

import time

import pytest

from tlspec.expr import (GRAMMAR_HINT, MAX_DEPTH, MAX_LENGTH, BinOp, Call, Const, ExprError, Neg,
                         Var, evaluate, free_vars, parse_expr, substitute, to_source)
from tlspec.expr_algebra import bounds, simplify

x, y, N = Var("x"), Var("y"), Var("N")


def add(a, b):
    return BinOp("+", a, b)


def sub(a, b):
    return BinOp("-", a, b)


def mul(a, b):
    return BinOp("*", a, b)


# -- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, tree", [
    ("0", Const(0)),
    ("42", Const(42)),
    ("  7 ", Const(7)),
    ("x", x),
    ("_tmp9", Var("_tmp9")),
    ("-5", Const(-5)),
    ("- 5", Const(-5)),
    ("-x", Neg(x)),
    ("+x", x),
    ("+5", Const(5)),
    ("--x", Neg(Neg(x))),
    ("-(5)", Neg(Const(5))),
    ("x + y * 2", add(x, mul(y, Const(2)))),
    ("x * y + 2", add(mul(x, y), Const(2))),
    ("x - y - 2", sub(sub(x, y), Const(2))),
    ("x // y // 2", BinOp("//", BinOp("//", x, y), Const(2))),
    ("x % y * 2", mul(BinOp("%", x, y), Const(2))),
    ("x - (y - 2)", sub(x, sub(y, Const(2)))),
    ("(x + y) * 2", mul(add(x, y), Const(2))),
    ("-x * 2", mul(Neg(x), Const(2))),
    ("x * -2", mul(x, Const(-2))),
    ("x - -y", sub(x, Neg(y))),
    ("((x))", x),
    ("ceildiv(N, 128)", Call("ceildiv", (N, Const(128)))),
    ("min(x, y, 3)", Call("min", (x, y, Const(3)))),
    ("max(x - 1, 0)", Call("max", (sub(x, Const(1)), Const(0)))),
    ("by*64+k*32", add(mul(Var("by"), Const(64)), mul(Var("k"), Const(32)))),
    ("x\n+\ty", add(x, y)),
])
def test_parse(text, tree):
    assert parse_expr(text) == tree


@pytest.mark.parametrize("value", [0, 5, -3, 2**63 - 1, -(2**63)])
def test_parse_int_input(value):
    assert parse_expr(value) == Const(value)


@pytest.mark.parametrize("text, offset", [
    (2**63, 0), (-(2**63) - 1, 0), (10**4000, 0), ("9223372036854775808", 0),
    ("-9223372036854775809", 0), ("M * 2 + " + "9" * 900, 8),
])
def test_integers_outside_64_bits_are_refused(text, offset):
    """Spec integers are 64-bit (limits.py): huge literals once flowed into checks that printed
    them (Python refuses str() past 4300 digits) and into tvm, which wants 64-bit values."""
    with pytest.raises(ExprError) as info:
        parse_expr(text)
    assert "outside the 64-bit range" in info.value.message
    assert info.value.offset == offset


def test_the_64_bit_limits_parse():
    assert parse_expr("-9223372036854775808") == Const(-(2**63))
    assert parse_expr("9223372036854775807") == Const(2**63 - 1)


def test_var_offsets_are_positions_but_not_identity():
    e = parse_expr("a + bc*a")
    assert [(v.name, v.offset) for v in free_vars(e)] == [("a", 0), ("bc", 4), ("a", 7)]
    assert Var("a", 0) == Var("a", 7) and hash(Var("a", 0)) == hash(Var("a", 7))


def test_free_vars_source_order_with_duplicates():
    e = parse_expr("min(b, a) + -c * ceildiv(a, d) % e")
    assert [v.name for v in free_vars(e)] == ["b", "a", "c", "a", "d", "e"]
    assert free_vars(Const(3)) == []


# -- errors ----------------------------------------------------------------------------------

# Hints of the errors that had none (the spec fuzzer's list of errors without one).
CHARACTER = f"remove it: {GRAMMAR_HINT}"
FUNCTION = "e.g. ceildiv(N, 128) for N / 128 rounded up, N // 128 for it rounded down"
OPERAND = "an integer, a name, a call or a parenthesized expression goes here"
OPERATOR = "join operands with + - * // or %"
PARENTHESIS = "join operands with + - * // or %, and close the parenthesis with ')'"


@pytest.mark.parametrize("text, offset, message, hint", [
    ("", 0, "empty expression", "write an integer or an expression such as M * 2"),
    ("   ", 0, "empty expression", "write an integer or an expression such as M * 2"),
    ("x / 2", 2, "'/' is not supported", "use // for integer division"),
    ("x ** 2", 2, "'**' (power) is not supported", "write the product out, e.g. x * x"),
    ("x << 2", 2, "'<<' is not supported", "multiply by a power of two instead"),
    ("x >> 2", 2, "'>>' is not supported", "floor-divide by a power of two instead"),
    ("x + 1.5", 4, "floating-point numbers are not supported", "expressions are integer-valued"),
    ("1_000", 0, "invalid integer literal '1_000'",
     "digit separators are not allowed: write 1000"),
    ("1e3", 0, "invalid integer literal '1e3'", "integers are written in decimal digits only"),
    ("0x10", 0, "invalid integer literal '0x10'", "integers are written in decimal digits only"),
    ("2M", 0, "invalid integer literal '2M'", "integers are written in decimal digits only"),
    ("010", 0, "invalid integer literal '010'", "leading zeros are not allowed: write 10"),
    ("'M'", 0, "unexpected character \"'\"", CHARACTER),
    ("x $ y", 2, "unexpected character '$'", CHARACTER),
    ("x + é", 4, "unexpected character 'é'", CHARACTER),
    ("\u2212M", 0, "unexpected character '\u2212'", "write '-' in its place (ASCII)"),
    ("M \u00d7 2", 2, "unexpected character '\u00d7'", "write '*' in its place (ASCII)"),
    ("M \u00f7 2", 2, "unexpected character '\u00f7'", "write '//' in its place (ASCII)"),
    ("x, y", 1, "unexpected ','",
     "commas only separate the arguments of ceildiv, min and max"),
    ("foo(x)", 0, "unknown function 'foo'; expressions may call ceildiv, min, max", FUNCTION),
    ("a + M(2)", 4, "unknown function 'M'; expressions may call ceildiv, min, max", FUNCTION),
    ("min + 1", 0, "'min' is a function and must be called", "write min(a, b, ...)"),
    ("2 * ceildiv", 4, "'ceildiv' is a function and must be called", "write ceildiv(a, b)"),
    ("max", 0, "'max' is a function and must be called", "write max(a, b, ...)"),
    ("ceildiv(x)", 0, "ceildiv takes exactly 2 arguments (1 given)", "write ceildiv(a, b)"),
    ("ceildiv(x, y, 2)", 0, "ceildiv takes exactly 2 arguments (3 given)",
     "write ceildiv(a, b)"),
    ("1 + min(x)", 4, "min takes at least 2 arguments (1 given)", "write min(a, b, ...)"),
    ("max()", 0, "max takes at least 2 arguments (0 given)", "write max(a, b, ...)"),
    ("min(x,)", 6, "expected an expression, found ')'", OPERAND),
    ("min(, x)", 4, "expected an expression, found ','", OPERAND),
    ("min(x y)", 6, "expected ',' or ')' in the call to min, found 'y'",
     "separate the arguments with ',' and close the call with ')': min(a, b, ...)"),
    ("min(x, y", 3, "'(' is never closed", "add the missing ')'"),
    ("(x + 1", 0, "'(' is never closed", "add the missing ')'"),
    ("(x + 1 y)", 7, "expected ')', found 'y'", PARENTHESIS),
    ("(x, y)", 2, "expected ')', found ','", PARENTHESIS),
    ("x + 1)", 5, "unmatched ')'", "remove it or add the missing '('"),
    ("()", 1, "expected an expression, found ')'", OPERAND),
    ("x +", 3, "expected an expression, found the end of the text", OPERAND),
    ("* x", 0, "expected an expression, found '*'", OPERAND),
    ("2 3", 2, "expected an operator, found '3'", OPERATOR),
    ("x y", 2, "expected an operator, found 'y'", OPERATOR),
    ("A[0]", 1, "expected an operator, found '['", OPERATOR),
    ("a : b", 2, "expected an operator, found ':'", OPERATOR),
])
def test_errors(text, offset, message, hint):
    with pytest.raises(ExprError) as info:
        parse_expr(text)
    assert (info.value.offset, info.value.message, info.value.hint) == (offset, message, hint)
    assert str(info.value) == message


@pytest.mark.parametrize("value, message", [
    (True, "expected an integer or an expression string, got a boolean (True)"),
    (1.5, "expected an integer or an expression string, got a floating-point number (1.5)"),
    (None, "expected an integer or an expression string, got NoneType (None)"),
    ([1], "expected an integer or an expression string, got list ([1])"),
])
def test_non_expression_values(value, message):
    with pytest.raises(ExprError) as info:
        parse_expr(value)
    assert (info.value.message, info.value.offset) == (message, 0)


# -- hostile input -----------------------------------------------------------------------------

def test_too_long():
    text = "x+" * 500 + "x"  # 1001 characters
    with pytest.raises(ExprError) as info:
        parse_expr(text)
    assert info.value.offset == MAX_LENGTH
    assert info.value.message == "too long: 1001 characters (at most 1000 are allowed)"
    assert isinstance(parse_expr(" " * (MAX_LENGTH - 1) + "x"), Var)


def test_deep_parentheses_fail_fast():
    start = time.process_time()
    with pytest.raises(ExprError):
        parse_expr("(" * 10000 + "x" + ")" * 10000)
    assert time.process_time() - start < 0.5


def nested(depth: int, kind: str) -> str:
    """An expression whose parse tree is exactly `depth` levels deep."""
    if kind == "parens":
        return "(" * (depth - 1) + "x" + ")" * (depth - 1)
    if kind == "unary":
        return "-" * (depth - 1) + "x"
    if kind == "sum":
        return "+".join(["x"] * depth)
    if kind == "calls":
        return "min(" * (depth - 1) + "x" + ", 1)" * (depth - 1)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["parens", "unary", "sum", "calls"])
def test_depth_limit(kind):
    parse_expr(nested(MAX_DEPTH, kind))
    with pytest.raises(ExprError) as info:
        parse_expr(nested(MAX_DEPTH + 1, kind))
    assert info.value.message == "expression is nested too deeply (more than 64 levels)"


@pytest.mark.parametrize("text", [
    "(" * 499 + "x" + ")" * 500,
    "-" * 999 + "x",
    "min(" * 199 + "x",
    "+".join(["x"] * 500),
    "x" + "*x" * 499,
])
def test_hostile_input_raises_expr_error_only(text):
    assert len(text) <= MAX_LENGTH
    with pytest.raises(ExprError):
        parse_expr(text)


def test_wide_expressions_at_the_limits_work_everywhere():
    # The deepest and widest trees the limits admit must not exhaust the stack downstream.
    e = parse_expr("+".join(f"a{i % 10}" for i in range(MAX_DEPTH)))
    env = {f"a{i}": i for i in range(10)}
    assert evaluate(e, env) == sum(i % 10 for i in range(MAX_DEPTH))
    assert parse_expr(to_source(e)) == e
    assert bounds(e, {name: (v, v) for name, v in env.items()}) == (evaluate(e, env),) * 2
    assert evaluate(simplify(e), env) == evaluate(e, env)


# -- printing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, source", [
    ("by*64+32", "by * 64 + 32"),
    ("ceildiv( N ,128 )", "ceildiv(N, 128)"),
    ("(x + y) * 2", "(x + y) * 2"),
    ("x + (y * 2)", "x + y * 2"),
    ("(x + y) + 2", "x + y + 2"),
    ("x + (y + 2)", "x + (y + 2)"),
    ("x - (y - 2)", "x - (y - 2)"),
    ("x * (y // 2)", "x * (y // 2)"),
    ("(x * y) // 2", "x * y // 2"),
    ("x % (y % 2)", "x % (y % 2)"),
    ("-x * 2", "-x * 2"),
    ("-(x * 2)", "-(x * 2)"),
    ("-(-x)", "-(-x)"),
    ("--x", "-(-x)"),
    ("-(5)", "-(5)"),
    ("-5", "-5"),
    ("x - -5", "x - -5"),
    ("x * -y", "x * -y"),
    ("-min(x, y)", "-min(x, y)"),
    ("max(x + 1, (y))", "max(x + 1, y)"),
])
def test_to_source(text, source):
    e = parse_expr(text)
    assert to_source(e) == source
    assert parse_expr(source) == e


@pytest.mark.parametrize("tree", [
    Const(-7),
    Neg(Const(7)),
    Neg(Const(-7)),
    Neg(Neg(x)),
    mul(x, Const(-3)),
    sub(Const(-1), Const(-2)),
    BinOp("//", Const(-7), Neg(x)),
    Call("min", (Neg(x), Const(-1))),
])
def test_round_trip_of_built_trees(tree):
    assert parse_expr(to_source(tree)) == tree


# -- evaluation --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("2 + 3 * 4", 14),
    ("(2 + 3) * 4", 20),
    ("10 - 4 - 3", 3),
    ("7 // 2", 3),
    ("-7 // 2", -4),
    ("-(7 // 2)", -3),
    ("7 % 3", 1),
    ("-7 % 3", 2),
    ("7 % -3", -2),
    ("ceildiv(7, 2)", 4),
    ("ceildiv(8, 2)", 4),
    ("ceildiv(-7, 2)", -3),
    ("ceildiv(0, 5)", 0),
    ("min(5, 3, 4)", 3),
    ("max(5, 3, 4)", 5),
    ("x * 64 + y", 64 * 3 + 5),
    ("-x", -3),
])
def test_evaluate(text, value):
    assert evaluate(parse_expr(text), {"x": 3, "y": 5}) == value


@pytest.mark.parametrize("text", ["x // 0", "x % (y - y)", "ceildiv(x, 0)"])
def test_evaluate_division_by_zero(text):
    with pytest.raises(ExprError) as info:
        evaluate(parse_expr(text), {"x": 1, "y": 2})
    assert (info.value.message, info.value.offset) == ("division by zero", 0)
    assert info.value.hint.startswith("the divisor in '")


def test_evaluate_unbound_name():
    with pytest.raises(KeyError):
        evaluate(parse_expr("x + z"), {"x": 1})


# -- substitution and affine forms -----------------------------------------------------------

@pytest.mark.parametrize("text, values, result", [
    ("M * K", {"K": 4}, "M * 4"),
    ("ceildiv(N, T) + min(T, x)", {"T": 64}, "ceildiv(N, 64) + min(64, x)"),
    ("-K // 2 % M", {"K": 3, "M": 5}, "-3 // 2 % 5"),
    ("x + y", {}, "x + y"),
])
def test_substitute(text, values, result):
    assert simplify(substitute(parse_expr(text), values)) == simplify(parse_expr(result))

