"""passes/fragment_layouts.py, through InstructionAnnotation: a fragment's registers are laid
out once for all the stages that move it (TileLang's layout inference does the same for
fragments): every thread must drain the registers it filled, so all its copies, gathers and
scatters share one vector width and thread grid. A stage that gives coalesced_width or
loop_layout fixes them; otherwise they are the narrowest vector every stage of the fragment
allows. Only two explicit, different choices (or an explicit width another stage cannot move)
are an error."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from fragment_kernels import GATHER, LOAD, SCATTER, STORE, fragment_kernel
from pipeline_support import run_through, tile_ir

from tlspec.compiler import ops
from tlspec.compiler.analysis import tile_calls
from tlspec.compiler.errors import take_stage_error


def configs(text: str) -> list[dict]:
    mod = run_through(tile_ir(text), "InstructionAnnotation")
    return [ops.config_of(c) for c in tile_calls(mod["main"].body)]


def annotation_error(text: str):
    with pytest.raises(Exception) as caught:
        run_through(tile_ir(text), "InstructionAnnotation")
    error = take_stage_error(caught.value)
    assert error is not None, caught.value
    return error


def load_scatter(load: str = "", scatter: str = "") -> str:
    return fragment_kernel(LOAD.format(load) + SCATTER.format(scatter))


def test_a_fragment_takes_the_narrowest_vector_of_its_stages():
    assert [int(c["tlspec.vector"]) for c in configs(load_scatter())] == [2, 2]


def test_a_stage_without_a_width_takes_the_one_another_stage_of_the_fragment_gives():
    text = fragment_kernel(GATHER.format(", coalesced_width: 4") + STORE.format(""))
    assert [int(c["tlspec.vector"]) for c in configs(text)] == [4, 4]


def test_a_copy_without_a_loop_layout_takes_the_thread_grid_another_copy_gives():
    stages = configs(fragment_kernel(LOAD.format(", loop_layout: {threads: [16, 8]}") +
                                     STORE.format("")))
    assert [[int(t) for t in c["tlspec.threads"]] for c in stages] == [[16, 8], [16, 8]]
    assert [int(c["tlspec.vector"]) for c in stages] == [2, 2]


def test_a_gather_or_scatter_of_a_fragment_laid_out_by_a_thread_grid_is_refused():
    """Their loop has no thread grid (no loop_layout), and it iterates the fragment's rows and
    columns where a copy's iterates its dims other than 1: the elements would land on other
    threads (differential seed 29's k29_360, a [2, 1] fragment)."""
    error = annotation_error(load_scatter(load=", loop_layout: {threads: [16, 8]}"))
    assert error.pointer == "/stages/1/scatter"
    assert error.message == ("fragment 'F' is laid out by the loop_layout.threads of a copy, "
                             "and a scatter moves a fragment only with consecutive threads on "
                             "consecutive vectors")
    assert error.hint == "remove loop_layout.threads from the copies of 'F'"


def test_a_width_that_another_stage_of_the_fragment_cannot_move_is_an_error_there():
    error = annotation_error(load_scatter(scatter=", coalesced_width: 8"))
    assert error.pointer == "/stages/0/copy"
    assert error.message.startswith(
        "fragment 'F' is moved 8 elements per access where a copy of it gives coalesced_width "
        "or loop_layout, and this stage cannot move 8: ")
    assert error.hint == "give that copy coalesced_width: 2"


def test_two_stages_that_give_different_widths_are_refused_at_the_second():
    error = annotation_error(fragment_kernel(GATHER.format(", coalesced_width: 4") +
                                             STORE.format(", coalesced_width: 8")))
    assert error.pointer == "/stages/1/copy"
    assert error.message.startswith("fragment 'F' is copied here with a different thread layout")
