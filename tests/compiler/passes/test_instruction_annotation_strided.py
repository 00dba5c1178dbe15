"""InstructionAnnotation on strided regions (`A[:, 0 : N : 2]`): the steps reach the pass in the
copy's config (`tlspec.steps`, destination first). A load whose steps are on outer dimensions is
one TMA copy whose tensor map traverses the region by element strides (test_..._tma_stride.py);
every other strided copy is a SIMT loop, saying why, and a step on the contiguous dimension
means one element per access (also saying why), while a step on an outer dimension keeps the
vectors of the rows."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from pipeline_support import run_through, tile_ir

from tlspec.compiler import ops
from tlspec.compiler.analysis import tile_calls


def strided_copy(src: str, dst: str = "T", tile: str = "[16, 64]", dtype: str = "float16") -> str:
    return f"""
tlspec: 1
name: strided
target: sm_90a
dims: {{M: 2048, N: 1024}}
buffers:
  A: {{scope: global, shape: [M, N], dtype: {dtype}, io: in}}
  B: {{scope: global, shape: [M, N], dtype: {dtype}, io: out}}
  T: {{scope: shared, shape: {tile}, dtype: {dtype}}}
launch:
  grid: {{bx: 8, by: 64}}
  threads: 128
stages:
  - copy: {{src: "{src}", dst: {dst}}}
  - copy: {{src: T, dst: "B[by*16 : +16, bx*64 : +64]"}}
"""


def load_decision(text):
    mod = run_through(tile_ir(text), "InstructionAnnotation")
    return ops.config_of(next(tile_calls(mod["main"].body)))


def test_a_step_on_the_contiguous_dimension_moves_one_element_per_access_and_says_why():
    load = load_decision(strided_copy("A[by*16 : +16, bx*128 : +64 : 2]"))
    assert load[ops.STEPS] == [[1, 1], [1, 2]]
    assert (load["tlspec.instruction"], load["tlspec.vector"]) == ("sync", 1)
    assert "'A' has step 2 in dimension 1: TMA traverses the innermost (contiguous) dimension " \
        "with an element stride of 1" in load["tlspec.why"]
    assert "one element per access: 'A' has step 2 along its contiguous dimension" \
        in load["tlspec.why"]


def test_a_step_on_the_rows_keeps_16_byte_vectors_in_a_simt_loop():
    load = load_decision(strided_copy("A[by*32 : +16 : 2, bx*64 : +64]").replace(
        "dst: T}", "dst: T, disable_tma: true}", 1))
    assert load[ops.STEPS] == [[1, 1], [2, 1]]
    assert (load["tlspec.instruction"], load["tlspec.vector"]) == ("sync", 8)


def test_a_dense_copy_has_no_steps():
    load = load_decision(strided_copy("A[by*16 : +16, bx*64 : +64]"))
    assert ops.STEPS not in load and load["tlspec.instruction"] == "tma"


def test_prefer_tma_on_a_strided_copy_tma_cannot_move_is_an_error_at_the_option():
    """What the spec shows already (a step on the contiguous dimension, a strided store) is a
    validation error (tests/catalogue/invalid/45x_*); a start the compiler cannot prove inside
    the tensor is its error at the option."""
    from tlspec.compiler.errors import take_stage_error
    text = strided_copy("A[by*32 - 2 : +16 : 2, bx*64 : +64]").replace(
        "dst: T}", "dst: T, prefer_instruction: tma}", 1)
    with pytest.raises(Exception) as caught:
        load_decision(text)
    error = take_stage_error(caught.value)
    assert error.pointer == "/stages/0/copy/prefer_instruction"
    assert "a strided TMA load is used only from coordinates proven not negative" in error.message


def test_a_converting_strided_copy_says_why_it_moves_single_elements():
    text = strided_copy("A[by*16 : +16, bx*128 : +64 : 2]").replace(
        "T: {scope: shared, shape: [16, 64], dtype: float16}",
        "T: {scope: shared, shape: [16, 64], dtype: float32}").replace(
        "B: {scope: global, shape: [M, N], dtype: float16", "B: {scope: global, shape: [M, N], dtype: float32")
    load = load_decision(text)
    assert load["tlspec.vector"] == 1
    assert load["tlspec.why"].endswith("one element per access: 'A' has step 2 along its "
                                       "contiguous dimension")
