"""LowerTileOp moves bits: every buffer a SIMT stage reads or writes is addressed through a view
of the same memory in the bit type of its element size (declared at the start of the stage), so
that tvm's CUDA code generation has a vector type for every width; a gather's index is read as
its own type, since its value is used."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx
from tvm.ir.expr import TensorLoad

from tlspec.compiler.analysis import stage_kind

GATHER_INT16 = """
tlspec: 1
name: gather_int16
target: sm_90a
dims: {V: 999, R: 1000}
buffers:
  table: {scope: global, shape: [V, 64], dtype: int16, io: in}
  idx:   {scope: global, shape: [R], dtype: int64, io: in}
  out:   {scope: global, shape: [R, 64], dtype: int16, io: out}
  rows:  {scope: shared, shape: [16, 64], dtype: int16}
launch:
  grid: {bx: "ceildiv(R, 16)"}
  threads: 128
stages:
  - gather: {src: table, dst: rows, index: "idx[bx*16 : +16]"}
  - copy: {src: rows, dst: "out[bx*16 : +16, :]", prefer_instruction: sync}
"""


def stages(func):
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, lambda a: found.append(a)
                                        if stage_kind(a) else None), order="pre")
    return found


def accessed(stmt) -> dict[str, str]:
    """name -> dtype of every buffer the statement stores to or loads from."""
    names = {}
    tvm_ffi.structural_walk(stmt, (tirx.BufferStore, lambda s: names.update(
        {s.buffer.name: str(s.buffer.dtype)})), order="pre")
    tvm_ffi.structural_walk(stmt, (TensorLoad, lambda l: names.update(
        {l.source.name: str(l.source.dtype)})), order="pre")
    return names


def test_simt_stages_move_16_bit_integers_as_halves_and_read_the_index_as_int64():
    gather, copy = stages(run_through(tile_ir(GATHER_INT16), "LowerTileOp")["main"])
    assert accessed(gather) == {"rows_flat": "float16", "table": "float16", "idx": "int64"}
    assert accessed(copy) == {"rows_flat": "float16", "out": "float16"}


def test_the_bit_views_are_declared_where_the_stage_starts():
    gather, _ = stages(run_through(tile_ir(GATHER_INT16), "LowerTileOp")["main"])
    first = list(gather.body.seq)[:2]
    assert all(isinstance(s, tirx.DeclBuffer) for s in first)
    assert sorted(s.buffer.name for s in first) == ["rows_flat", "table"]
