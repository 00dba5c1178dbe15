"""LowerTileOp on strided regions: the global side's index along a dimension of step s is
start + s * offset (the lane too, where a step is on the contiguous dimension), the tile side
stays dense."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from pipeline_support import run_through, tile_ir
from test_instruction_annotation_strided import strided_copy
from test_lower_tile_op import stages
from tvm import tirx
from tvm.ir.expr import TensorLoad


def loads_of(stmt, name: str) -> list[str]:
    found = []
    tvm_ffi.structural_walk(stmt, (TensorLoad, lambda l: found.append(
        ", ".join(str(i) for i in l.indices)) if l.source.name == name else None), order="pre")
    return found


def stores_of(stmt, name: str) -> list[str]:
    found = []
    tvm_ffi.structural_walk(stmt, (tirx.BufferStore, lambda s: found.append(
        ", ".join(str(i) for i in s.indices)) if s.buffer.name == name else None), order="pre")
    return found


def lowered(text):
    return stages(run_through(tile_ir(text), "LowerTileOp")["main"])


def test_a_step_on_the_contiguous_dimension_multiplies_the_offset_and_the_lane():
    load = lowered(strided_copy("A[by*16 : +16, bx*128 + 1 : +64 : 2]"))[0]
    (index,) = loads_of(load, "A")
    assert index.endswith("bx * 128 + 1 + tid % 64 * 2 + v * 2")
    (tile,) = stores_of(load, "_flat_T")
    assert tile == "(it * 2 + tid // 64) * 64 + tid % 64 + v"


def test_a_step_on_the_rows_multiplies_the_row_offset_only():
    load = lowered(strided_copy("A[by*32 : +16 : 2, bx*64 : +64]").replace(
        "dst: T}", "dst: T, disable_tma: true}", 1))[0]
    (index,) = loads_of(load, "A")
    assert index.startswith("by * 32 + (") and index.endswith(") * 2, bx * 64 + tid % 8 * 8 + v")


def test_a_strided_store_writes_every_other_element():
    text = strided_copy("A[by*16 : +16, bx*64 : +64]").replace(
        'dst: "B[by*16 : +16, bx*64 : +64]"', 'dst: "B[by*16 : +16, bx*128 : +64 : 2]"')
    store = lowered(text)[1]
    (index,) = stores_of(store, "B")
    assert index.split(", ")[1].endswith("* 2")
