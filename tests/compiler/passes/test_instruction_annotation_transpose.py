"""InstructionAnnotation's transpose forms: the column form by default; `form: blocks` as blocks
of H src rows x V src columns (V the widest vector of src rows, H the widest of dst rows up to
V and 128 bytes a block, halved while the blocks are fewer than the threads), and an error at
`form` where src rows hold no vector. tests/compiler/lower/test_transpose_on_cpu.py runs both
forms' loops."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from pipeline_support import run_through, tile_ir, transpose_kernel
from test_instruction_annotation import annotation_error

from tlspec.compiler import ops
from tlspec.compiler.analysis import tile_calls


def transpose(rows: int, cols: int, dtype: str = "float16", threads: int = 128,
              form: str = "") -> str:
    return transpose_kernel((rows, cols), dtype, threads=threads, options=form)


def decision(text: str) -> dict:
    mod = run_through(tile_ir(text), "InstructionAnnotation")
    (found,) = [ops.config_of(c) for c in tile_calls(mod["main"].body)
                if ops.kind_of(c) == "transpose"]
    return {k: v for k, v in found.items() if k in ("tlspec.vector", "tlspec.form",
                                                    "tlspec.block_rows", "tlspec.why")}


@pytest.mark.parametrize("form", ["", ", form: auto", ", form: columns"])
def test_the_column_form_is_the_default(form):
    assert decision(transpose(64, 64, form=form)) == {
        "tlspec.vector": 8, "tlspec.why": "SIMT: 8-element vector stores of dst rows from src "
                                          "columns"}


@pytest.mark.parametrize("rows, cols, dtype, threads, height, vector", [
    (64, 64, "float16", 32, 8, 8),       # 64 blocks of 8 x 8 for 32 threads
    (64, 64, "float16", 256, 2, 8),      # halved until 256 blocks
    (64, 128, "float16", 256, 4, 8),     # specs/transpose's tile
    (64, 64, "float32", 64, 4, 4),       # 16-byte vectors, 64-byte blocks
    (64, 64, "int8", 32, 8, 16),         # 16 columns, at most 128 bytes: 8 rows
    (32, 32, "float64", 32, 2, 2),
    (8, 8, "float16", 32, 1, 8),         # one block's rows, one element a store
    (64, 12, "float16", 32, 4, 4)])      # src rows of 12: vectors of 4
def test_blocks_take_the_widest_vectors_that_keep_the_threads_busy(rows, cols, dtype, threads,
                                                                  height, vector):
    found = decision(transpose(rows, cols, dtype, threads, ", form: blocks"))
    assert (found["tlspec.form"], found["tlspec.block_rows"], found["tlspec.vector"]) == (
        "blocks", height, vector)
    assert found["tlspec.why"] == (f"SIMT: blocks of {height} x {vector}, {vector}-element "
                                   f"vector loads of src rows and {height}-element stores of "
                                   "dst rows")


def test_blocks_of_src_rows_that_hold_no_vector_are_an_error_at_form():
    error = annotation_error(transpose(64, 7, form=", form: blocks"))
    assert error.pointer == "/stages/2/transpose/form"
    assert str(error) == ("this transpose cannot move blocks: the innermost extent 7 is not a "
                          "multiple of 8")
    assert error.hint == ("remove `form: blocks` for the column form, which reads src elements "
                          "one at a time")
