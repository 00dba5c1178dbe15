"""rules/arithmetic.py and the integer bounds of the language (limits.py): division by zero,
values outside 64 bits and sizes above 2**62 are located errors, and no check of validation
blows up on a huge value."""
import pytest

from tlspec.limits import MAX_SIZE, int_text
from tlspec.validate import validate_text

from conftest import ROOT

BASE = (ROOT / "specs" / "copy_tiles.tlspec.yaml").read_text(encoding="utf-8")
SYMBOLIC = BASE.replace("  M: 16384", "  M: symbolic")
GRID_Y = 'by: "ceildiv(M, 64)"'
LOAD = 'src: "A[by*64 : +64, bx*128 : +128]"'
LOOP = '''  - for:
      var: k
      extent: 4
      stages:
        - copy: {src: "A[by*64 : +64, bx*128 : +128]", dst: A_s}
        - copy: {src: A_s, dst: "B[by*64 : +64, bx*128 : +128]"}
'''
LOOPED = BASE[:BASE.index("  - copy:")] + LOOP


def errors(text):
    return [d.message for d in validate_text(text, "k.tlspec.yaml").diagnostics.errors]


@pytest.mark.parametrize("text, message", [
    (BASE.replace(GRID_Y, 'by: "M // 0"'), "'M // 0' divides by zero"),
    (BASE.replace(GRID_Y, 'by: "M % (N - 16384)"'), "'M % (N - 16384)' divides by zero"),
    (BASE.replace(GRID_Y, 'by: "ceildiv(M, 0)"'), "'ceildiv(M, 0)' divides by zero"),
    (BASE.replace("[64, 128]", '["64 // (M - M)", 128]'), "'64 // 0' divides by zero"),
    (BASE.replace(LOAD, 'src: "A[by*64 : +64 // (bx - bx), bx*128 : +128]"'),
     "'64 // 0' divides by zero"),
    (SYMBOLIC.replace(GRID_Y, 'by: "16384 // M"'),
     "'16384 // M' may divide by zero: 'M' may be 0 for some sizes of 'M'"),
    (SYMBOLIC.replace(GRID_Y, 'by: "ceildiv(M, M - 64)"').replace(
        "  M: symbolic", "  M: {symbolic: true, min: 64}"),
     "'ceildiv(M, M - 64)' may divide by zero: 'M - 64' may be 0 for some sizes of 'M'"),
    (BASE.replace(LOAD, 'src: "A[by*64 // (bx - 3) : +64, bx*128 : +128]"'),
     "'by * 64 // (bx - 3)' may divide by zero: 'bx - 3' ranges over [-3, 124]"),
    (LOOPED.replace('"A[by*64 : +64', '"A[by*64 % (k - 1) : +64'),
     "'by * 64 % (k - 1)' may divide by zero: 'k - 1' ranges over [-1, 2]"),
])
def test_division_by_zero_is_refused_where_it_can_happen(text, message):
    """These validated and then divided by zero in the compiler (or at a call)."""
    assert errors(text) == [message]


@pytest.mark.parametrize("text", [
    SYMBOLIC.replace(GRID_Y, 'by: "16384 // M"').replace("  M: symbolic",
                                                          "  M: {symbolic: true, min: 1}"),
    BASE.replace(LOAD, 'src: "A[by*64 // (bx + 1) : +64, bx*128 : +128]"'),
    LOOPED.replace('"A[by*64 : +64', '"A[by*64 // (k + 1) : +64'),
])
def test_a_divisor_that_is_never_zero_is_accepted(text):
    assert errors(text) == []


@pytest.mark.parametrize("text, message", [
    (BASE.replace(GRID_Y, 'by: "ceildiv(M * M * M * M * M, 64)"'),
     "'ceildiv(M * M * M * M * M, 64)' can reach 18446744073709551616, outside the 64-bit range "
     "of spec integers"),
    (LOOPED.replace("extent: 4", "extent: 4611686018427387904").replace(
        '"A[by*64 : +64', '"A[by*64 + k * 4 : +64'),
     "'by * 64 + k * 4' can reach 18446744073709567932, outside the 64-bit range of spec "
     "integers"),
    (SYMBOLIC.replace(LOAD, 'src: "A[by*64 + 9223372036854775807 : +64, bx*128 : +128]"'),
     "'by * 64 + 9223372036854775807' can reach 9223372036858969983, outside the 64-bit "
     "range of spec integers"),
    (LOOPED.replace("extent: 4", "extent: 9223372036854775807"),
     "the size '9223372036854775807' can reach 2**63 - 1, above the largest size of the "
     "language, 2**62"),
    (BASE.replace("shape: [M, N], dtype: float16, io: in",
                  "shape: [M * 562949953421312, N], dtype: float16, io: in"),
     "'M * 562949953421312' can reach 9223372036854775808, outside the 64-bit range of spec "
     "integers"),
    (BASE.replace("  A_s:", "  C: {scope: global, shape: [N, N, N, N, N], dtype: float32, io: in}"
                            "\n  A_s:"),
     "buffer 'C' takes 4722366482869645213696 bytes, more than the largest size of the "
     "language, 2**62"),
])
def test_values_outside_64_bits_and_sizes_above_2_62_are_refused(text, message):
    assert message in errors(text)


@pytest.mark.parametrize("text", [
    # A static tile of 10**720 elements: OverflowError building the shared-memory message.
    BASE.replace("shape: [64, 128]", "shape: [" + ", ".join(["1" + "0" * 90] * 8) + "]").replace(
        "shared.dyn", "shared"),
    # cluster: [2**63] on a kernel with a cluster_mask: MemoryError from 1 << size.
    (ROOT / "specs" / "cluster_multicast.tlspec.yaml").read_text().replace(
        "cluster: [2", "cluster: [9223372036854775808"),
    # Dims of 2**63: validated, then tvm wanted an Expr and got a BigInt.
    BASE.replace("  M: 16384", "  M: 9223372036854775808"),
])
def test_huge_values_are_located_errors(text):
    result = validate_text(text, "k.tlspec.yaml")
    assert result.diagnostics.errors
    for diagnostic in result.diagnostics.errors:
        assert len(diagnostic.render()) < 2000, diagnostic.render()


def test_int_text_never_prints_a_huge_integer():
    assert int_text(MAX_SIZE) == "2**62"
    assert int_text(12345) == "12345"
    assert int_text(-(10**30)) == "-10000000... (31 digits)"
    assert int_text(2**100_000) == "a 100001-bit integer"


def test_a_loop_that_never_runs_says_how_to_fix_it():
    (error,) = validate_text(LOOPED.replace("extent: 4", "extent: 0"), "k.tlspec.yaml") \
        .diagnostics.errors
    assert error.message == "for loop runs 0 times; the extent must be positive"
    assert error.hint == ("this loop never runs for any size the dims allow: give it an extent "
                          "that is at least 1 for some sizes, or remove it")


def test_a_size_past_the_limit_says_why_sizes_are_bounded():
    (error,) = validate_text(BASE.replace("  M: 16384", f"  M: {2**63 - 1}"), "k.tlspec.yaml") \
        .diagnostics.errors
    assert error.message == "dim 'M' must be at most 2**62, got 2**63 - 1"
    assert error.hint == "sizes are at most 2**62, so that every offset and sum of sizes fits " \
                         "in 64 bits"


def test_a_division_by_the_number_zero_has_a_hint():
    """It had none (the spec fuzzer's list of errors without one); a divisor that is an
    expression always 0 says so."""
    (error,) = validate_text(BASE.replace(GRID_Y, 'by: "M // 0"'), "k").diagnostics.errors
    assert error.hint == "divide by a number other than 0"
    (error,) = validate_text(BASE.replace(GRID_Y, 'by: "M // (N - 16384)"'), "k").diagnostics.errors
    assert error.hint == "'N - 16384' is always 0"
