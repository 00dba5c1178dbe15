"""Sizes beyond the kernels' 32-bit indexing are refused at compile time, at the buffer's shape
or the dim, as "not compiled by this release" (they validate): a constant tensor of 2**31 or
more elements was a division by zero / int32 literal overflow inside the compiler, and a tensor
just below 2**31 elements whose partial tiles run past offset 2**31 - 1 compiled into a kernel
whose index arithmetic overflowed (its bounds guards were proven away)."""
import pytest
from conftest import ROOT

from tlspec.compiler.support import check_supported
from tlspec.diagnostics import Diagnostics
from tlspec.validate import validate_text


def spec(dims: str, loop: str = "", rows: int = 0) -> str:
    """Copy N int8 (or `rows` rows of N) from a to b in tiles of 1024."""
    shape, at = (f"[{rows}, N]", f"0 : +{rows}, ") if rows else ("[N]", "")
    stage = f'{{src: "a[{at}bx*1024 : +1024]", dst: "b[{at}bx*1024 : +1024]"}}'
    stages = f"  - copy: {stage}\n" if not loop else (
        f"  - for:\n      var: k\n      extent: {loop}\n      stages:\n        - copy: {stage}\n")
    return f"""tlspec: 1
name: big
target: sm_90a
dims: {dims}
buffers:
  a: {{scope: global, shape: {shape}, dtype: int8, io: in}}
  b: {{scope: global, shape: {shape}, dtype: int8, io: out}}
launch:
  grid: {{bx: "ceildiv(N, 1024)"}}
  threads: 128
stages:
{stages}"""


def refusals(text: str) -> list[tuple[str, str]]:
    result = validate_text(text)
    assert result.ok, [str(d) for d in result.diagnostics]
    diags = Diagnostics()
    check_supported(result.kernels[0], diags)
    return [(d.pointer, d.message) for d in diags]


LATER = "is not compiled by this release of tlspec (it validates; compilation arrives later)"


def test_a_constant_tensor_of_2_to_the_31_elements_is_refused_at_its_shape():
    assert refusals(spec("{N: 1073741824}", rows=2)) == [
        (f"/buffers/{b}/shape", f"a global tensor of 2147483648 elements ('{b}', above 2**31 - 1) "
                                f"{LATER}") for b in "ab"]


def test_a_symbolic_tensor_at_least_that_large_at_every_call_is_refused():
    assert refusals(spec("{N: {symbolic: true, min: 3000000000}}"))[0] == (
        "/buffers/a/shape",
        f"a global tensor of at least 3000000000 elements ('a', above 2**31 - 1) {LATER}")


def test_partial_tiles_that_end_past_offset_2_to_the_31_are_refused():
    assert refusals(spec("{N: 2147483647}"))[0] == (
        "/buffers/a/shape", "a global tensor of 2147483647 elements whose partial tiles end at "
                            f"offset 2147483648 ('a', past 2**31 - 1) {LATER}")


def test_a_tensor_whose_tiles_end_inside_int32_is_compiled():
    assert refusals(spec("{N: 2147482624}")) == []          # 2097151 whole tiles of 1024
    assert refusals(spec("{N: {symbolic: true}}")) == []    # held to 2**31 - 1 at the call


def test_a_constant_dim_above_2_to_the_31_is_refused_at_the_dim():
    assert refusals(spec("{N: 4096, K: 3000000000}", loop="K")) == [
        ("/dims/K", f"dim 'K' = 3000000000, above 2**31 - 1, {LATER}")]


def loop_spec(start: int, extent: int) -> str:
    """A loop over k (which no region uses) around a copy of 1024 int8."""
    return spec("{N: 4096}").replace(
        '  - copy: {src: "a[bx*1024 : +1024]", dst: "b[bx*1024 : +1024]"}\n',
        f"  - for:\n      var: k\n      start: {start}\n      extent: {extent}\n      stages:\n"
        '        - copy: {src: "a[bx*1024 : +1024]", dst: "b[bx*1024 : +1024]"}\n')


def test_a_loop_whose_bounds_leave_int32_is_refused_at_them():
    """A loop starting at 2**62 (found by the fuzzer) was an int32 literal overflow inside tvm:
    the loop variable is a 32-bit integer."""
    hint = ("the kernels of this release count loops with 32-bit integers: keep a loop's start "
            "and end within -2**31 .. 2**31 - 1")
    assert refusals(loop_spec(2**62, 4)) == [
        ("/stages/0/for/start", f"a loop over 'k' starting at {2**62} (outside the 32-bit "
                                f"range) {LATER}")]
    assert refusals(loop_spec(2**31 - 2, 4))[0][0] == "/stages/0/for/extent"
    assert refusals(loop_spec(-2**31, 4)) == [] and refusals(loop_spec(2**31 - 5, 4)) == []
    diags = Diagnostics()
    check_supported(validate_text(loop_spec(2**62, 4)).kernels[0], diags)
    assert [d.hint for d in diags] == [hint]


def test_a_loop_end_of_symbolic_dims_is_a_check_of_the_call():
    """A loop's end that depends on symbolic dims is checked by the wrapper (manifest `checks`)."""
    from tlspec.compiler.manifest import _loop_checks
    text = spec("{N: {symbolic: true}, K: symbolic}", loop="K")
    assert _loop_checks(validate_text(text).kernels[0]) == [
        {"expr": {"op": "+", "args": [0, {"dim": "K"}]}, "op": "<=", "bound": 2**31 - 1,
         "message": "the loop over 'k' counts with a 32-bit integer: its end must stay below "
                    "2**31"}]


def im2col_spec(pad: int) -> str:
    """A 3x3 im2col of a 4 x 28 x 28 x 64 int8 image into a shared tile, padded by `pad`."""
    return f"""tlspec: 1
name: windows
target: sm_90a
dims: {{N: 4, H: 28, W: 28, C: 64}}
buffers:
  img:   {{scope: global, shape: [N, H, W, C], dtype: int8, io: in}}
  col:   {{scope: global, shape: [3136, 576], dtype: int8, io: out}}
  col_s: {{scope: shared, shape: [64, 64], dtype: int8}}
launch:
  grid: {{bx: 49, by: 9}}
  threads: 256
stages:
  - im2col: {{img: img, col: col_s, nhw_step: bx, c_step: by, kernel: 3, pad: {pad}}}
  - copy: {{src: col_s, dst: "col[bx*64 : +64, by*64 : +64]"}}
"""


def test_an_im2col_window_beyond_int32_is_refused_at_its_pad():
    """pad 2**31 - 1 fits an int32, but H + 2*pad does not: it was an int32 literal overflow
    inside the compiler (found by the fuzzer, seed 6004 mutant 88)."""
    assert refusals(im2col_spec(2**31 - 1)) == [(
        "/stages/0/im2col/pad", "an im2col window along H (kernel 3, stride 1, dilation 1, pad "
        f"2147483647) whose positions leave the 32-bit range {LATER}")]
    assert refusals(im2col_spec(2**30 - 2))[0][1].startswith(   # H + 2*pad - 3 past 2**31 - 1
        "an im2col window along H (kernel 3, stride 1, dilation 1, pad 1073741822)")
    assert refusals(im2col_spec(2**29)) == [(
        "/stages/0/im2col/pad", f"an im2col of {4 * (2**30 + 26) ** 2} output pixels "
        f"(N*OH*OW, above 2**31 - 1) {LATER}")]
    assert refusals(im2col_spec(1000)) == []


@pytest.mark.parametrize("grid, pointer", [
    ('"ceildiv(N, 9223372036854775807)"', "/launch/grid/bx"),
    ('"ceildiv(N, 1024) + 0 * 4294967296"', None),            # folds away: no constant left
])
def test_a_constant_beyond_int32_in_a_grid_extent_is_refused_there(grid, pointer):
    """A grid extent or stage expression with a constant outside the 32-bit range was an int32
    literal overflow inside the compiler (found by the fuzzer, seed 6005)."""
    text = spec("{N: {symbolic: true}}").replace('"ceildiv(N, 1024)"', grid)
    found = refusals(text)
    assert [p for p, _ in found] == ([pointer] if pointer else [])
    if pointer:
        assert found[0][1] == ("the constant 2**63 - 1 of 'ceildiv(N, 9223372036854775807)' "
                               f"(outside the 32-bit range) {LATER}")


def test_im2col_pixels_in_images_past_int32_offsets_are_refused_at_nhw_step():
    """Tiles of output pixels far past N*OH*OW (nhw_step up to 599999, 64 pixels each) address
    images at offsets beyond 2**31 - 1: an int32 literal overflow inside the compiler (found by
    the fuzzer, seed 6007, with the whole column matrix as one block's tile)."""
    text = im2col_spec(1).replace("grid: {bx: 49, by: 9}", "grid: {bx: 600000, by: 9}").replace(
        "col: col_s, nhw_step: bx", 'col: "col[0 : +64, by*64 : +64]", nhw_step: bx').replace(
        '  - copy: {src: col_s, dst: "col[bx*64 : +64, by*64 : +64]"}\n', "")
    (found,) = refusals(text)
    assert found == ("/stages/0/im2col/nhw_step", "an im2col whose blocks compute output pixels "
                     "up to 38399999 (nhw_step up to 599999, tiles of 64 pixels) in images whose "
                     f"offsets leave the 32-bit range {LATER}")
    assert refusals(im2col_spec(1)) == []


@pytest.mark.parametrize("multiple", [2**30, 2**31 - 2, 2**31 - 1])
def test_a_multiple_of_near_2_to_the_31_compiles(tmp_path, multiple):
    """The passes' divisibility proofs wrote a dim of `multiple_of` m as q * m: multiplied by an
    element size, m near 2**31 became an int32 literal overflow inside the compiler (fuzz seed
    6008, docs/spec.md's pitched_copy with multiple_of 2147483647). They now use gcd(m, the
    divisor), which proves the same."""
    pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
    from conftest import compile_here
    from doc_examples import fenced_blocks

    (pitched,) = [b.text for b in fenced_blocks(ROOT / "docs" / "spec.md")
                  if "name: pitched_copy" in b.text]
    source = tmp_path / "pitched.tlspec.yaml"
    text = pitched.replace("N: {symbolic: true, multiple_of: 8}",
                           f"N: {{symbolic: true, multiple_of: {multiple}}}")
    assert text != pitched
    source.write_text(text)
    compile_here(tmp_path / "out", source)



def test_a_symbolic_tensor_larger_than_int32_at_its_least_size_is_refused():
    """A constant OH of 65536 makes the column matrix N*OH*OW x 9*C of at least 4227858432
    elements whatever N is: its bounds left the 64-bit range at N's largest value, which lost
    the least one too, and tvm folded the literal (fuzz seed 6011)."""
    text = (ROOT / "specs" / "im2col_strided.tlspec.yaml").read_text()
    text = text.replace("  OH: 28 ", "  OH: 65536 ")
    assert "OH: 65536" in text
    assert refusals(text) == [("/buffers/col/shape", "a global tensor of at least 4227858432 "
                               f"elements ('col', above 2**31 - 1) {LATER}")]


PAGED = """tlspec: 1
name: paged
dims: {B: symbolic, T: symbolic, NP: symbolic, MAXP: symbolic, P: 16, D: 128}
buffers:
  cache: {scope: global, shape: [NP, P, D], dtype: float16, io: in}
  block_table: {scope: global, shape: [B, MAXP], dtype: int32, io: in}
  out: {scope: global, shape: [B, T, D], dtype: float16, io: out}
launch:
  grid: {bx: BLOCKS, by: B}
  threads: 128
stages:
  - gather:
      src: cache
      dst: out[by, t, :]
      index: ['block_table[by, t // P]', t % P]
      each: {t: 'bx*16 : +16'}
"""


def test_regions_of_a_symbolic_tensor_that_a_constant_grid_takes_past_int32_are_refused():
    """2**20 blocks of 16 tokens of 128 elements: the `each` variable t reaches offset 2**31 in
    `out` for every T (tvm folded that literal: fuzz seed 6011); 2**20 - 1 blocks fit."""
    assert refusals(PAGED.replace("BLOCKS", "1048576")) == [
        ("/buffers/out/shape", "a global tensor ('out') whose regions end at offset 2147483648 "
                               f"(past 2**31 - 1, for every size of its symbolic dims) {LATER}")]
    assert refusals(PAGED.replace("BLOCKS", "1048575")) == []
