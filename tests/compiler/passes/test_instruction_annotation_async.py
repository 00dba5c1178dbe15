"""InstructionAnnotation on the explicit asynchronous copies: a `tma_copy` is one TMA copy or a
located error at the stage saying why and to use `copy`; an `async_copy` is the cp.async loop,
or, when its rows cannot be moved 4 bytes at a time, an error at the stage saying to use `copy`
(not at a prefer_instruction the stage does not have)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from copy_kernels import copy_kernel
from pipeline_support import run_through, tile_ir
from test_instruction_annotation import annotation_error

from tlspec.compiler import ops
from tlspec.compiler.analysis import tile_calls


def tma_load(dims: str) -> str:
    return copy_kernel({"A_s": ((64, 64), "auto")}, [
        "- alloc_barrier: {name: bar}",
        "- barrier_arrive: {barrier: bar, expect_tx: 8192}",
        "- tma_copy: {src: 'A[0 : +64, 0 : +64]', dst: A_s, barrier: bar}",
        "- barrier_wait: {barrier: bar, parity: 0}",
        "- tma_copy: {src: A_s, dst: 'B[0 : +64, 0 : +64]'}"], grid="{bx: 1}", dims=dims)


def cp_async(cols: int) -> str:
    return copy_kernel({"A_s": ((64, cols), "auto")}, [
        f"- async_copy: {{src: 'A[bx*64 : +64, 0 : +{cols}]', dst: A_s}}",
        "- async_wait:", "- sync_threads:",
        f"- copy: {{src: A_s, dst: 'B[bx*64 : +64, 0 : +{cols}]'}}"])


def test_tma_copies_are_annotated_tma():
    mod = run_through(tile_ir(tma_load("{M: 1024, N: 1024}")), "InstructionAnnotation")
    calls = [c for c in tile_calls(mod["main"].body) if ops.kind_of(c) == "tma_copy"]
    assert [ops.config_of(c)["tlspec.instruction"] for c in calls] == ["tma", "tma"]
    assert [ops.config_of(c)["tlspec.why"].split(";")[0] for c in calls] == [
        "tma_copy: one TMA load that completes its bytes on the stage's barrier",
        "tma_copy: one TMA store, committed as a bulk group"]


def test_a_tma_copy_that_tma_cannot_do_is_an_error_at_the_stage():
    error = annotation_error(tma_load("{M: 1024, N: {symbolic: true, min: 64}}"))
    assert error.pointer == "/stages/2/tma_copy"
    assert error.message == ("this tma_copy cannot be one TMA copy: a row stride of 'A' (N "
                             "elements) is not proven to be a multiple of 16 bytes")
    assert error.hint == ("use copy, which falls back to a SIMT loop where TMA cannot express "
                          "the copy")


def test_an_async_copy_is_the_cp_async_loop():
    mod = run_through(tile_ir(cp_async(64)), "InstructionAnnotation")
    config = ops.config_of(next(tile_calls(mod["main"].body)))
    assert config["tlspec.instruction"] == "cp_async" and int(config["tlspec.vector"]) == 8
    assert "committed as one group; not waited for here" in config["tlspec.why"]


@pytest.mark.parametrize("cols, reason", [
    (1, "'A_s' is not moved along its contiguous dimension"),
    (3, "the innermost extent 3 is not a multiple of 2")])
def test_an_async_copy_of_2_byte_rows_is_an_error_at_the_stage(cols, reason):
    error = annotation_error(cp_async(cols))
    assert error.pointer == "/stages/0/async_copy"
    assert error.message == ("cp.async copies 4, 8 or 16 bytes per access; this copy cannot "
                             f"move 4: {reason}")
    assert error.hint == "use copy, or make the extents, starts and rows multiples of 2 elements"
