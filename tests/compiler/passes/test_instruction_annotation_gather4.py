"""InstructionAnnotation on the TMA forms of gather and scatter (`rows: 4`, sm_100a): one TMA
instruction per 4 indices, the bytes one moves (`tlspec.box_bytes`: 4 x columns x dtype size, a
gather4's expect_tx per instruction) in the config, and a located error where TMA cannot do it
(the spec asked for the form: there is no SIMT fallback)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from copy_kernels import SCATTER4, gather4_kernel, gather4_stages
from pipeline_support import run_through, tile_ir

from tlspec.compiler import ops
from tlspec.compiler.analysis import tile_calls
from tlspec.compiler.errors import take_stage_error


def annotated(text, kind):
    mod = run_through(tile_ir(text), "InstructionAnnotation", arch="sm_100a")
    return next(ops.config_of(c) for c in tile_calls(mod["main"].body) if ops.kind_of(c) == kind)


def refusal(text):
    with pytest.raises(Exception) as caught:
        run_through(tile_ir(text), "InstructionAnnotation", arch="sm_100a")
    error = take_stage_error(caught.value)
    assert error is not None, caught.value
    return error.pointer, error.message


@pytest.mark.parametrize("dtype, size", [("float16", 2), ("float32", 4), ("int8", 1)])
def test_a_gather4_is_tma_and_names_its_bytes(dtype, size):
    config = annotated(gather4_kernel(gather4_stages(size), dtype=dtype, out="out"), "gather")
    assert config["tlspec.instruction"] == "tma"
    assert config["tlspec.box_bytes"] == 4 * 64 * size
    assert config["tlspec.why"] == (
        f"rows: 4: 2 TMA gather4 of 4 rows x 64 columns ({4 * 64 * size} bytes each) by one "
        f"thread; {8 * 64 * size} bytes in all complete on its barrier (announce them with "
        "barrier_arrive's expect_tx)")


def test_a_scatter4_is_tma_committed_as_a_bulk_group():
    config = annotated(gather4_kernel(SCATTER4), "scatter")
    assert config["tlspec.instruction"] == "tma"
    assert config["tlspec.box_bytes"] == 512
    assert config["tlspec.why"].endswith("committed as one bulk group; not waited for here "
                                         "(tma_store_wait)")


def test_a_padded_tile_is_refused_at_the_stage():
    pointer, message = refusal(gather4_kernel(gather4_stages(), layout="padded", out="out"))
    assert pointer == "/stages/2/gather"
    assert message == ("this gather cannot use TMA gather4: 'G_s' is padded (TMA writes dense or "
                       "swizzled tiles)")


def test_a_box_row_wider_than_the_swizzle_span_is_refused():
    """128 bytes of swizzle, rows of 64 halves (128 bytes) fit; of 64 floats (256) do not."""
    assert annotated(gather4_kernel(gather4_stages(), layout="swizzle_128B", out="out"),
                     "gather")["tlspec.instruction"] == "tma"
    pointer, message = refusal(gather4_kernel(SCATTER4, dtype="float32", layout="swizzle_128B"))
    assert pointer == "/stages/1/scatter"
    assert message.startswith("this scatter cannot use TMA scatter4: ") and "128" in message


def test_rows_of_a_wider_tile_are_not_dense_and_are_refused():
    """A 64-column region of a 128-column tile: the 4 rows TMA writes are not contiguous."""
    stages = [s.replace("dst: G_s", 'dst: "G_s[:, 0 : +64]"').replace(
        "src: G_s", 'src: "G_s[:, 0 : +64]"') for s in gather4_stages()]
    pointer, message = refusal(gather4_kernel(stages, tile="[8, 128]", out="out"))
    assert pointer == "/stages/2/gather"
    assert "not contiguous" in message
