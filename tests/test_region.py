from __future__ import annotations

import pytest

from tlspec.expr import BinOp, Const, ExprError, Var, parse_expr, to_source
from tlspec.expr_algebra import simplify
from tlspec.region import Region, Slice, parse_region, resolve
from tlspec.region import steps as region_steps

from test_expr import FUNCTION, OPERAND, PARENTHESIS

BUFFER_A = "write the buffer alone ('A') or a region of it ('A[0 : +64, :]')"
SLICES = ("separate the slices of the dimensions with ',' and close with ']', "
          "e.g. A[by*64 : +64, :]")


def e(text: str):
    return parse_expr(text)


def sliced(start, extent, stop=None, *, offset):
    return Slice(start and e(start), extent and e(extent), stop and e(stop), False, offset)


def index(start, *, offset):
    return Slice(e(start), Const(1), None, True, offset)


@pytest.mark.parametrize("text, buffer, slices", [
    ("A", "A", None),
    ("  smem_A ", "smem_A", None),
    ("A[by*64 : +64, k*32 : +32]", "A",
     (sliced("by*64", "64", offset=2), sliced("k*32", "32", offset=15))),
    ("A[0:64, :]", "A", (sliced("0", "64", "64", offset=2), sliced(None, None, offset=8))),
    ("idx[bx*128 : +128]", "idx", (sliced("bx*128", "128", offset=4),)),
    ("out[row, :]", "out", (index("row", offset=4), sliced(None, None, offset=9))),
    ("bars[k % 2]", "bars", (index("k % 2", offset=5),)),
    ("A[i : i + 64]", "A", (sliced("i", "64", "i + 64", offset=2),)),
    ("A[i:+64]", "A", (sliced("i", "64", offset=2),)),
    ("A[i : + 64 + j]", "A", (sliced("i", "64 + j", offset=2),)),
    ("A[i : (+64)]", "A", (sliced("i", "64 - i", "64", offset=2),)),
    ("A[4 :]", "A", (sliced("4", None, offset=2),)),
    ("A[: 8]", "A", (sliced(None, "8", "8", offset=2),)),
    ("A[: +8]", "A", (sliced(None, "8", offset=2),)),
    ("A[:, :, :]", "A", (sliced(None, None, offset=2), sliced(None, None, offset=5),
                         sliced(None, None, offset=8))),
    ("A[-1]", "A", (index("-1", offset=2),)),
    ("A[min(i, 3) : ceildiv(N, 2)]", "A",
     (sliced("min(i, 3)", "ceildiv(N, 2) - min(i, 3)", "ceildiv(N, 2)", offset=2),)),
])
def test_parse_region(text, buffer, slices):
    region = parse_region(text)
    assert region == Region(buffer, text.index(buffer), slices, text)


def test_stop_form_extent_is_simplified():
    (piece,) = parse_region("A[k*32 : (k + 1) * 32]").slices
    assert piece.extent == Const(32)
    assert to_source(piece.stop) == "(k + 1) * 32"


def test_offsets_point_into_the_region_text():
    region = parse_region("buf[ a + b , c : +d ]")
    assert region.buffer_offset == 0
    assert [s.offset for s in region.slices] == [5, 13]
    first, second = region.slices
    assert [(v.name, v.offset) for v in (first.start.lhs, first.start.rhs)] == [("a", 5), ("b", 9)]
    assert second.extent == Var("d") and second.extent.offset == 18


@pytest.mark.parametrize("text, offset, message, hint", [
    ("", 0, "expected a buffer name, found the end of the text",
     "write a buffer name, optionally followed by slices: A or A[0 : 64, :]"),
    ("[0]", 0, "expected a buffer name, found '['",
     "write a buffer name, optionally followed by slices: A or A[0 : 64, :]"),
    ("2A[0]", 0, "invalid buffer name '2A'",
     "a buffer name starts with a letter or '_' and continues with letters, digits and '_'"),
    (" 9", 1, "invalid buffer name '9'",
     "a buffer name starts with a letter or '_' and continues with letters, digits and '_'"),
    ("A-B[0]", 1, "expected '[' after the buffer name 'A', found '-'", BUFFER_A),
    ("A B", 2, "expected '[' after the buffer name 'A', found 'B'", BUFFER_A),
    ("A(0)", 1, "expected '[' after the buffer name 'A', found '('", BUFFER_A),
    ("A[]", 1, "empty slice list '[]'",
     "write 'A' alone for the whole buffer, or ':' for each whole dimension"),
    ("A[", 1, "'[' is never closed", "add the missing ']'"),
    ("A[0:64", 1, "'[' is never closed", "add the missing ']'"),
    ("A[0, 4:", 1, "'[' is never closed", "add the missing ']'"),
    ("A[0,", 1, "'[' is never closed", "add the missing ']'"),
    ("A[0,]", 3, "trailing ',' in the slice list", "remove it, or add the missing dimension"),
    ("A[0, :,]", 6, "trailing ',' in the slice list", "remove it, or add the missing dimension"),
    ("A[,0]", 2, "expected an expression, found ','", OPERAND),
    ("A[0 1]", 4, "expected ',' or ']', found '1'", SLICES),
    ("A[0)", 3, "expected ',' or ']', found ')'", SLICES),
    ("A[0:64:]", 6, "missing step after the second ':'",
     "write start : stop : step, e.g. A[0 : N : 2], or drop the ':'"),
    ("A[::, 0]", 3, "missing step after the second ':'",
     "write start : stop : step, e.g. A[0 : N : 2], or drop the ':'"),
    ("A[0 : +64 : 2 : 1]", 14, "a slice has at most three parts, start : stop : step",
     "write start : +extent, start : stop or start : stop : step"),
    ("A[0] x", 5, "unexpected 'x' after ']'", "a region ends with its closing ']'"),
    ("A[0][1]", 4, "unexpected '[' after ']'", "a region ends with its closing ']'"),
    ("A[0 : +]", 6, "missing extent after '+'", "write start : +extent, e.g. A[i : +64]"),
    ("A[0 : +, :]", 6, "missing extent after '+'", "write start : +extent, e.g. A[i : +64]"),
    ("A[0 : +", 6, "missing extent after '+'", "write start : +extent, e.g. A[i : +64]"),
    ("A[+64]", 2, "a '+extent' must follow 'start :'", "write start : +extent, e.g. A[i : +64]"),
    ("A[0, +64]", 5, "a '+extent' must follow 'start :'",
     "write start : +extent, e.g. A[i : +64]"),
    # Expression errors keep their offsets into the region text.
    ("A[i / 2 : +4]", 4, "'/' is not supported", "use // for integer division"),
    ("A[foo(i) : +4]", 2, "unknown function 'foo'; expressions may call ceildiv, min, max",
     FUNCTION),
    ("A[0 : +(4]", 9, "expected ')', found ']'", PARENTHESIS),
    ("A[0 : +(4", 7, "'(' is never closed", "add the missing ')'"),
    ("A[0 : +(4 :]", 10, "expected ')', found ':'", PARENTHESIS),
])
def test_parse_region_errors(text, offset, message, hint):
    with pytest.raises(ExprError) as info:
        parse_region(text)
    assert (info.value.offset, info.value.message, info.value.hint) == (offset, message, hint)


def test_region_text_length_is_limited():
    with pytest.raises(ExprError, match="too long"):
        parse_region("A[" + "0 + " * 300 + "0]")


@pytest.mark.parametrize("text, dims, expected, steps", [
    ("A[:, 0 : N : 2]", ("M", "N"), [("0", "M"), ("0", "ceildiv(N, 2)")], ["1", "2"]),
    ("A[::2]", ("N",), [("0", "ceildiv(N, 2)")], ["2"]),
    ("A[1::2]", ("N",), [("1", "N // 2")], ["2"]),
    ("A[0 : 7 : 2]", ("N",), [("0", "4")], ["2"]),
    ("A[: 9 : 3]", ("N",), [("0", "3")], ["3"]),
    ("A[i*64 : +64 : 2, 3]", ("M", "N"), [("i * 64", "64"), ("3", "1")], ["2", "1"]),
    ("A[0 : +4 : S]", ("N",), [("0", "4")], ["S"]),
])
def test_strided_slices_count_their_elements(text, dims, expected, steps):
    region = parse_region(text)
    resolved = resolve(region, shape(*dims))
    assert [(to_source(s), to_source(x)) for s, x in resolved] == expected
    assert [to_source(s) for s in region_steps(region)] == steps


def test_a_region_without_steps_is_dense():
    assert region_steps(parse_region("A[0 : 4, :]")) is None
    assert region_steps(parse_region("A")) is None


def test_a_step_keeps_its_offset():
    (piece,) = parse_region("A[0 : 8 : k + 1]").slices
    assert (to_source(piece.step), piece.step_offset) == ("k + 1", 10)


def shape(*texts: str):
    return [simplify(parse_expr(t)) for t in texts]


@pytest.mark.parametrize("text, dims, expected", [
    ("A", ("M", "K"), [("0", "M"), ("0", "K")]),
    ("A[by*64 : +64, k*32 : +32]", ("M", "K"), [("by * 64", "64"), ("k * 32", "32")]),
    ("A[0:64, :]", ("M", "K"), [("0", "64"), ("0", "K")]),
    ("A[row, :]", ("M", "K"), [("row", "1"), ("0", "K")]),
    ("A[4 :, : 8]", ("M", "K"), [("4", "M - 4"), ("0", "8")]),
    ("A[k*32 :]", ("K * 2",), [("k * 32", "K * 2 - k * 32")]),
    ("A[i : i + 64]", ("N",), [("i", "64")]),
    ("A[1 + 1 : +(2 * 8)]", ("N",), [("2", "16")]),
    ("A[:]", ("2 * M + M",), [("0", "M * 3")]),
])
def test_resolve(text, dims, expected):
    resolved = resolve(parse_region(text), shape(*dims))
    assert [(to_source(start), to_source(extent)) for start, extent in resolved] == expected
    for start, extent in resolved:
        assert start == simplify(start) and extent == simplify(extent)


@pytest.mark.parametrize("text, dims, message", [
    ("A[0:64]", ("M", "K"), "region 'A[0:64]' indexes 1 dimension but buffer 'A' has 2"),
    ("A[0, 1]", ("M",), "region 'A[0, 1]' indexes 2 dimensions but buffer 'A' has 1"),
    ("A[:, :, :]", (), "region 'A[:, :, :]' indexes 3 dimensions but buffer 'A' has 0"),
])
def test_resolve_rank_mismatch(text, dims, message):
    with pytest.raises(ValueError) as info:
        resolve(parse_region(text), shape(*dims))
    assert str(info.value) == message


def test_resolve_accepts_unsimplified_shapes():
    assert resolve(parse_region("A[2:]"), [BinOp("*", Var("M"), Const(2))]) == [
        (Const(2), simplify(parse_expr("M * 2 - 2")))]
