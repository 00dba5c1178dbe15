"""InstructionAnnotation with a `fill` and with halos (regions that start before a tensor):
a fill other than zero rules out TMA and cp.async unless the region is proven inside the tensor,
and a halo's misaligned start narrows the vector."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from copy_kernels import one_d_copy
from pipeline_support import run_through, tile_ir

from tlspec.compiler import ops
from tlspec.compiler.analysis import tile_calls
from tlspec.compiler.errors import take_stage_error
from tlspec.compiler.tileir import build_tile_ir
from tlspec.validate import validate_text


def decisions(text):
    mod = run_through(tile_ir(text), "InstructionAnnotation")
    return [ops.config_of(c) for c in tile_calls(mod["main"].body)]


def test_a_nonzero_fill_on_a_partial_tile_moves_through_a_simt_loop_and_says_why():
    load = decisions(one_d_copy(1000, fill="-inf", load=None))[0]
    assert load["tlspec.instruction"] == "sync"
    assert "fill -inf is not zero: TMA reads zeros outside a tensor" in load["tlspec.why"]
    assert int(load["tlspec.vector"]) == 4     # 1000 is a multiple of 4: no vector straddles


@pytest.mark.parametrize("fill", ["0", "0.0"])
def test_a_zero_fill_keeps_tma(fill):
    load = decisions(one_d_copy(1024, fill=fill, load=None))[0]
    assert load["tlspec.instruction"] == "tma"
    assert ops.FILL not in load


def test_a_fill_on_a_region_proven_inside_the_tensor_keeps_tma():
    load = decisions(one_d_copy(1024, fill="-99", load=None))[0]
    assert load["tlspec.instruction"] == "tma"


def test_a_halo_with_zero_fill_uses_tma_with_a_negative_coordinate():
    load = decisions(one_d_copy(1024, region="bx*256 - 4 : +256", load=None))[0]
    assert load["tlspec.instruction"] == "tma"


def test_a_halo_starting_off_16_bytes_is_not_tma():
    """An innermost TMA coordinate 4 bytes off 16 faults on the GPU (this test used to expect
    TMA for 'bx*256 - 1' in float32)."""
    load = decisions(one_d_copy(1024, region="bx*256 - 1 : +256", load=None))[0]
    assert load["tlspec.instruction"] == "sync"
    assert "starts at element bx * 256 - 1 of its innermost dimension" in load["tlspec.why"]


@pytest.mark.parametrize("start, width", [("bx*256 - 1", 1), ("bx*256 - 2", 2),
                                          ("bx*256 - 4", 4), ("bx*256 - 8", 4)])
def test_a_halo_start_narrows_the_vector_to_what_divides_it(start, width):
    load = decisions(one_d_copy(1024, region=f"{start} : +256"))[0]
    assert (load["tlspec.instruction"], int(load["tlspec.vector"])) == ("sync", width)


def refusal(prefer):
    """The pass's error for a fill -inf copy with `prefer_instruction: prefer` (validation
    refuses that spec, rules/fill.py; the pass refuses it too, for IR built otherwise)."""
    text = one_d_copy(1000, fill="-inf", load=None)
    assert not validate_text(text.replace("fill:", f"prefer_instruction: {prefer}, fill:", 1)).ok
    kernel = validate_text(text).kernels[0]
    kernel.stages[0].options["prefer_instruction"] = prefer
    with pytest.raises(Exception) as caught:
        run_through(build_tile_ir(kernel), "InstructionAnnotation")
    error = take_stage_error(caught.value)
    assert error.pointer == "/stages/0/copy/prefer_instruction"
    return error.message


@pytest.mark.parametrize("prefer, says", [("cp_async", "zero-fills"),
                                          ("tma", "fill -inf is not zero")])
def test_prefer_an_instruction_that_reads_zeros_with_a_fill_is_an_error_at_the_option(prefer,
                                                                                      says):
    assert says in refusal(prefer)
