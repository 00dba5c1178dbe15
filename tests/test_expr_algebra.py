"""tlspec/expr_algebra.py: interval bounds, simplification and affine forms of integer
expressions."""
from __future__ import annotations

import time

import pytest

from tlspec.expr import ExprError, evaluate, parse_expr, to_source
from tlspec.expr_algebra import affine, bounds, const_value, is_const, simplify


# -- bounds ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, ranges, expected", [
    ("by * 64", {"by": (0, 255)}, (0, 16320)),
    ("bx * 128 + 127", {"bx": (0, 7)}, (127, 1023)),
    ("by * 64 + k * 32", {"by": (0, 3), "k": (0, 1)}, (0, 224)),
    ("7", {}, (7, 7)),
    ("-x", {"x": (2, 5)}, (-5, -2)),
    ("x - y", {"x": (0, 10), "y": (1, 3)}, (-3, 9)),
    ("x * y", {"x": (-2, 3), "y": (-5, 4)}, (-15, 12)),
    ("x * x", {"x": (-2, 3)}, (-6, 9)),  # sound, not exact: x is not correlated with itself
    ("x // 4", {"x": (0, 15)}, (0, 3)),
    ("x // 4", {"x": (-5, 9)}, (-2, 2)),
    ("x // -4", {"x": (0, 9)}, (-3, 0)),
    ("x // y", {"x": (8, 16), "y": (2, 4)}, (2, 8)),
    ("ceildiv(x, 4)", {"x": (1, 16)}, (1, 4)),
    ("ceildiv(x, 4)", {"x": (-5, 5)}, (-1, 2)),
    ("ceildiv(N, 128)", {"N": (1, 1000)}, (1, 8)),
    ("x % 4", {"x": (0, 100)}, (0, 3)),
    ("x % 4", {"x": (5, 6)}, (1, 2)),
    ("x % 4", {"x": (3, 4)}, (0, 3)),
    ("x % 4", {"x": (-3, -2)}, (1, 2)),
    ("k % 2", {"k": (0, 0)}, (0, 0)),
    ("x % y", {"x": (0, 100), "y": (3, 8)}, (0, 7)),
    ("min(x, 32)", {"x": (0, 100)}, (0, 32)),
    ("max(x, y, 1)", {"x": (-5, 0), "y": (-3, 7)}, (1, 7)),
    ("min(K - k * 32, 32)", {"K": (100, 100), "k": (0, 3)}, (4, 32)),
])
def test_bounds(text, ranges, expected):
    assert bounds(parse_expr(text), ranges) == expected


@pytest.mark.parametrize("text, ranges", [
    ("x + z", {"x": (0, 1)}),
    ("x // y", {"x": (0, 1), "y": (-1, 1)}),
    ("ceildiv(x, y)", {"x": (0, 1), "y": (0, 4)}),
    ("x % y", {"x": (0, 9), "y": (0, 4)}),
    ("x % -4", {"x": (0, 9)}),
    ("min(x, z)", {"x": (0, 1)}),
])
def test_bounds_unknown(text, ranges):
    assert bounds(parse_expr(text), ranges) is None


@pytest.mark.parametrize("text, ranges", [
    ("x * 4", {"x": (0, 2**62)}),                      # the value leaves 64 bits
    ("x * x // x", {"x": (1, 2**40)}),                 # a partial result does (x * x)
    ("-x - 2", {"x": (0, 2**63 - 1)}),
])
def test_bounds_outside_64_bits_are_unknown_unless_exact(text, ranges):
    e = parse_expr(text)
    assert bounds(e, ranges) is None
    lo, hi = bounds(e, ranges, exact=True)
    assert lo < -(2**63) or hi > 2**63 - 1


@pytest.mark.parametrize("text", ["x // y", "x % y", "ceildiv(x, y)", "x // (y - y)",
                                  "x % (y * 0)", "ceildiv(x // y, y % y)", "(x // 0) * 0"])
@pytest.mark.parametrize("ranges", [{"x": (0, 9), "y": (0, 0)}, {"x": (-5, 5), "y": (-2, 2)},
                                    {"x": (0, 2**63 - 1), "y": (0, 2**62)}])
def test_bounds_and_simplify_never_divide_by_zero(text, ranges):
    e = parse_expr(text)
    for exact in (False, True):
        assert bounds(e, ranges, exact=exact) is None
    simplify(e)


@pytest.mark.parametrize("text", [
    "x * y - 3", "x // y", "ceildiv(x, y)", "x % y", "min(x, -y) * 2", "-(x - y) // 3",
    "max(x * x, y) % 5",
])
def test_bounds_are_sound(text):
    e = parse_expr(text)
    ranges = {"x": (-4, 6), "y": (1, 5)}
    lo, hi = bounds(e, ranges)
    values = [evaluate(e, {"x": a, "y": b}) for a in range(-4, 7) for b in range(1, 6)]
    assert lo <= min(values) and max(values) <= hi


# -- simplification ----------------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [
    ("(k+1)*32 - k*32", "32"),
    ("M*2", "2*M"),
    ("M*2", "M + M"),
    ("x + 0", "x"),
    ("x * 1", "x"),
    ("1 * x + 0 * y", "x"),
    ("x - x", "0"),
    ("-(-x)", "x"),
    ("(a + b) * (a - b)", "a*a - b*b"),
    ("a * (b + c)", "c * a + a * b"),
    ("by * 64 + k * 32", "k*32 + by*64"),
    ("17 // 5", "3"),
    ("-17 // 5", "-4"),
    ("17 % 5", "2"),
    ("ceildiv(17, 5)", "4"),
    ("min(3, 7, 5)", "3"),
    ("max(3, 7, 5)", "7"),
    ("x // 1", "x"),
    ("x % 1", "0"),
    ("(k * 64 + 32) // 32", "k * 2 + 1"),
    ("(k * 64 + 32) % 32", "0"),
    ("(k * 64 + 32) % 64", "32 + 64 * k - 64 * k"),
    ("(x + 64) % 64", "x % 64"),
    ("(x + 37) // 32", "(x + 5) // 32 + 1"),
    ("(M + 127) // 128", "ceildiv(M, 128)"),
    ("ceildiv(M, 128) * 128", "(M + 127) // 128 * 128"),
    ("ceildiv(M + 1, 128)", "M // 128 + 1"),
    ("ceildiv(x, 1)", "x"),
    ("ceildiv(N * 2, 256)", "ceildiv(2 * N, 256)"),
    ("min(x, y)", "min(y, x)"),
    ("min(x, min(y, 3), 5)", "min(3, y, x)"),
    ("min(x, x)", "x"),
    ("max(1 + x, 2, 7)", "max(x + 1, 7)"),
    ("x // y + 0", "x // y"),
    ("(x + 0) // (y * 1)", "x // y"),
    ("ceildiv(x, y)", "ceildiv(x + 0, y)"),
    ("x // 0", "x // 0"),
    ("(x + 1) * ceildiv(M, 128)", "ceildiv(M, 128) * (1 + x)"),
    ("ceildiv(M, 128) * 128", "128 * ceildiv(M, 128)"),
])
def test_simplify_equal(a, b):
    assert simplify(parse_expr(a)) == simplify(parse_expr(b))


@pytest.mark.parametrize("a, b", [
    ("M * 2", "M * 3"),
    ("M", "N"),
    ("x // 2 * 2", "x"),
    ("(x * 2) // 2", "x // 2 * 2"),
    ("x % 64", "x"),
    ("min(x, y)", "max(x, y)"),
    ("ceildiv(x, 4)", "x // 4"),
    ("x // y", "x // (y + 1)"),
    ("x * x", "x * 2"),
])
def test_simplify_not_equal(a, b):
    assert simplify(parse_expr(a)) != simplify(parse_expr(b))


@pytest.mark.parametrize("text, canonical", [
    ("32 + by * 64", "by * 64 + 32"),
    ("2 * M", "M * 2"),
    ("N * M", "M * N"),
    ("M * N + M", "M + M * N"),
    ("-x + 128", "128 - x"),
    ("-x - y", "-x - y"),
    ("-3 * x + y", "y - x * 3"),
    ("-3 * x", "x * -3"),
    ("x - 5", "x - 5"),
    ("-5 - x", "-x - 5"),
    ("(x - 1) // 4", "ceildiv(x, 4) - 1"),
    ("min(32, K - k * 32)", "min(K - k * 32, 32)"),
    ("(x + y) * (x - y) + y * y", "x * x"),
    ("ceildiv(N, 128)", "ceildiv(N, 128)"),
    ("-(x * y) * 2", "x * y * -2"),
    ("0 * x", "0"),
])
def test_simplify_canonical_text(text, canonical):
    assert to_source(simplify(parse_expr(text))) == canonical


@pytest.mark.parametrize("text", [
    "by * 64 + k * 32 - 7", "ceildiv(M * 3 + N, 64) - x % 8", "min(x // 3, y, 4) * max(x, 1)",
    "(a - b) * (a + 2 * b) // 5", "x * y * -2 + 128", "-(x * y)", "x // 0 + ceildiv(x, y)",
])
def test_simplify_is_idempotent_and_meaning_preserving(text):
    e = parse_expr(text)
    simple = simplify(e)
    assert simplify(simple) == simple
    assert parse_expr(to_source(simple)) == simple
    for env in ({"by": 3, "k": 1, "M": 5, "N": 9, "x": 37, "y": 4, "a": 11, "b": -6},
                {"by": 0, "k": 0, "M": -5, "N": 2, "x": -13, "y": 2, "a": -3, "b": 7}):
        try:
            expected = evaluate(e, env)
        except ExprError:
            with pytest.raises(ExprError):
                evaluate(simple, env)
        else:
            assert evaluate(simple, env) == expected


@pytest.mark.parametrize("text, value", [
    ("(k+1)*32 - k*32", 32),
    ("ceildiv(1000, 128)", 8),
    ("min(4, 2 + 1)", 3),
    ("x - x + 0", 0),
    ("x", None),
    ("x // 0", None),
])
def test_const_value(text, value):
    e = parse_expr(text)
    assert const_value(e) == value
    assert is_const(e) == (value is not None)



# -- products ---------------------------------------------------------------------------------

def nested_products(levels: int) -> str:
    text = "x"
    for _ in range(levels):
        text = f"min({text}, 1)" + "".join(f" * (a{i} + b{i})" for i in range(6))
    return text


@pytest.mark.parametrize("text", [
    # Each factor doubles the expanded terms: 2**20 of them without the cap.
    "*".join(f"(a{i} + b{i})" for i in range(20)),
    # Each level would copy the min(...) of the level below 64 times.
    nested_products(7),
])
def test_product_expansion_is_capped(text):
    start = time.process_time()
    e = simplify(parse_expr(text))
    assert time.process_time() - start < 1
    assert len(to_source(e)) < 50 * len(text)
    env = {f"{c}{i}": i + 1 for i in range(20) for c in "ab"} | {"x": 3}
    assert evaluate(e, env) == evaluate(parse_expr(text), env)
    assert simplify(e) == e



# -- affine forms -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, form", [
    ("M", ("M", 1, 0)),
    ("B * 64", ("B", 64, 0)),
    ("64 * B", ("B", 64, 0)),
    ("D + 2", ("D", 1, 2)),
    ("2 * (D - 3)", ("D", 2, -6)),
    ("128 - D", ("D", -1, 128)),
    ("(H + 4 - 5) + H", ("H", 2, -1)),
    ("M + N - N", ("M", 1, 0)),
    ("M * N", None),
    ("M * M", None),
    ("M // 2", None),
    ("ceildiv(M, 64)", None),
    ("min(M, 4)", None),
    ("M - M + 5", None),
    ("7", None),
])
def test_affine(text, form):
    assert affine(parse_expr(text)) == form
