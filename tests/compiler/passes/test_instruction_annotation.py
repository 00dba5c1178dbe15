"""InstructionAnnotation's vector widths at the end of a global tensor.

The bounds guards keep or drop a vector whole, so a vector must never hold both the last
elements of a tensor and elements past them: a 1-D tensor whose length is not a multiple of the
width, in a region that may run past its end, gets a narrower vector (and an explicit
coalesced_width that would straddle the end is an error at that option). Before this, only the
rows of tensors of rank 2 and more were checked, and 1-D tensors lost their last elements."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from copy_kernels import one_d_copy
from pipeline_support import run_through, tile_ir

from tlspec.compiler import ops
from tlspec.compiler.analysis import tile_calls
from tlspec.compiler.errors import take_stage_error


def vectors(text):
    """The vector width of each stage, in stage order."""
    mod = run_through(tile_ir(text), "InstructionAnnotation")
    return [int(ops.config_of(c)["tlspec.vector"]) for c in tile_calls(mod["main"].body)]


def annotation_error(text):
    with pytest.raises(Exception) as caught:
        run_through(tile_ir(text), "InstructionAnnotation")
    error = take_stage_error(caught.value)
    assert error is not None, caught.value
    return error


@pytest.mark.parametrize("n, dtype, width", [
    (1001, "float32", 1), (1023, "float32", 1), (4100, "float32", 4), (4098, "float32", 2),
    (1024, "float32", 4), (1001, "int8", 1), (1004, "int8", 4), (1000, "int8", 8),
    (1024, "int8", 16), (1001, "float16", 1), (1002, "float16", 2)])
def test_a_1d_tensor_is_moved_in_vectors_that_divide_its_length(n, dtype, width):
    assert vectors(one_d_copy(n, dtype)) == [width, width]


@pytest.mark.parametrize("n", [1, 5, 7])
def test_a_tensor_shorter_than_a_vector_is_moved_element_by_element(n):
    assert vectors(one_d_copy(n, region="0 : +256")) == [1, 1]


def test_a_region_proven_inside_the_tensor_keeps_its_vectors():
    assert vectors(one_d_copy(1001, grid="3")) == [4, 4]


@pytest.mark.parametrize("dim, width", [("{symbolic: true}", 1),
                                        ("{symbolic: true, multiple_of: 2}", 2),
                                        ("{symbolic: true, multiple_of: 64}", 4)])
def test_a_symbolic_length_is_moved_in_vectors_that_its_multiple_of_divides(dim, width):
    assert vectors(one_d_copy(dim)) == [width, width]


def test_a_coalesced_width_that_would_straddle_the_end_is_an_error_at_the_option():
    error = annotation_error(one_d_copy(1001, options=", coalesced_width: 4"))
    assert error.pointer == "/stages/0/copy/coalesced_width"
    assert error.message == (
        "cannot move 4 elements per access: 'a' ends after 1001 elements, not a multiple of 4, "
        "and the region may run past that end (a vector would hold its last elements and "
        "elements past it); the widest legal vector here is 1")


def test_a_cp_async_copy_that_would_straddle_the_end_is_an_error_at_prefer_instruction():
    text = one_d_copy(1001, "int8").replace("dst: s, prefer_instruction: sync",
                                            "dst: s, prefer_instruction: cp_async")
    error = annotation_error(text)
    assert error.pointer == "/stages/0/copy/prefer_instruction"
    assert "cp.async copies 4, 8 or 16 bytes per access; this copy cannot move 4: 'a' ends " \
           "after 1001 elements" in error.message



def test_a_refused_coalesced_width_says_why_that_width_cannot_be_moved():
    """Not why the widest vector (16 bytes) cannot: rows of 999 uint8 rule out 8 elements; the
    extent of 200 rules out only 16 (the message said so)."""
    error = annotation_error("""
tlspec: 1
name: ragged_rows
dims: {M: 5, N: 999}
buffers:
  A: {scope: global, shape: [M, N], dtype: uint8, io: in}
  B: {scope: global, shape: [M, N], dtype: uint8, io: out}
launch:
  grid: {bx: "ceildiv(N, 200)", by: M}
  threads: 64
stages:
  - copy: {src: "A[by, bx*200 : +200]", dst: "B[by, bx*200 : +200]", coalesced_width: 8}
""")
    assert error.message.startswith("cannot move 8 elements per access: the rows of ")
    assert "(999 elements) are not a multiple of 8" in error.message
