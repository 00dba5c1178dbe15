"""InstructionAnnotation on copies between dtypes: never TMA nor cp.async (they move bits), a
SIMT loop whose vector is at most 16 bytes of the wider dtype, the why saying so; a fragment
filled and drained by converting copies gets one width, the widest dtype of all its copies
bounding it."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from converting_copies import cast_kernel
from pipeline_support import run_through, tile_ir
from tvm.tirx.tile_primitive import TilePrimitiveCall

from tlspec.compiler import ops
from tlspec.compiler.analysis import tile_calls
from tlspec.compiler.errors import take_stage_error


def decisions(text: str) -> list[dict]:
    mod = run_through(tile_ir(text), "InstructionAnnotation")
    return [ops.config_of(c) for c in tile_calls(mod["main"].body)]


@pytest.mark.parametrize("src, mid, dst, vectors", [
    ("float32", "bfloat16", "float32", [4, 4]),       # 16-byte loads, 8-byte stores, and back
    ("float8_e4m3", "float16", "float8_e5m2", [8, 8]),
    ("int8", "int32", "int8", [4, 4]),
    ("int8", "float8_e4m3", "int8", [16, 16])])       # 1-byte both sides
def test_a_converting_copy_is_a_simt_loop_of_the_wider_dtypes_16_bytes(src, mid, dst, vectors):
    configs = decisions(cast_kernel(src, mid, dst))
    assert [c["tlspec.instruction"] for c in configs] == ["sync", "sync"]
    assert [int(c["tlspec.vector"]) for c in configs] == vectors


def test_the_why_names_the_conversion_and_the_access_sizes():
    load, store = decisions(cast_kernel("float32", "bfloat16", "float8_e4m3"))
    assert str(load["tlspec.why"]) == (
        "SIMT loop converting float32 -> bfloat16 (TMA and cp.async move bits): 4-element "
        "vectors, 16-byte loads and 8-byte stores")
    assert str(store["tlspec.why"]) == (
        "SIMT loop converting bfloat16 -> float8_e4m3 (TMA and cp.async move bits): 8-element "
        "vectors, 16-byte loads and 8-byte stores")


def test_a_fragment_between_converting_copies_gets_the_width_of_its_widest_copy():
    """fp32 -> bf16 fragment -> fp8: the load's 4 elements bound the store too (the threads
    must drain the registers they filled), and a same-dtype copy of the fragment alike."""
    text = cast_kernel("float32", "bfloat16", "float8_e4m3", scope="fragment")
    assert [int(c["tlspec.vector"]) for c in decisions(text)] == [4, 4]
    text = cast_kernel("bfloat16", "bfloat16", "float32", scope="fragment")
    assert [int(c["tlspec.vector"]) for c in decisions(text)] == [4, 4]


def test_a_fragment_copied_with_two_widths_is_refused():
    text = cast_kernel("float32", "bfloat16", "float8_e4m3", scope="fragment",
                       options=", coalesced_width: 4").replace(
        '+64]", coalesced_width: 4', '+64]", coalesced_width: 2')
    with pytest.raises(Exception) as caught:
        decisions(text)
    error = take_stage_error(caught.value)
    assert error.pointer == "/stages/1/copy"
    assert "fragment 'T' is copied here with a different thread layout or vector width" in \
        error.message


def test_a_converting_copy_asked_to_use_tma_is_refused_at_the_option():
    """Validation refuses it first; the pass refuses it too, never lowering TMA that would
    move bits."""
    mod = tile_ir(cast_kernel("float32", "bfloat16", "float32"))

    def prefer_tma(call):
        if ops.config_of(call).get(ops.STAGE) == "/stages/0/copy":
            return ops.with_config(call, prefer_instruction="tma")
        return call

    mod["main"] = mod["main"].with_body(tvm_ffi.structural_map(
        mod["main"].body, (TilePrimitiveCall, prefer_tma), order="post"))
    with pytest.raises(Exception) as caught:
        run_through(mod, "InstructionAnnotation")
    error = take_stage_error(caught.value)
    assert error.pointer == "/stages/0/copy/prefer_instruction"
    assert error.message == "this copy converts float32 -> bfloat16, and tma moves bits"
