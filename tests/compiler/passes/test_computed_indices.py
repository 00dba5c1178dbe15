"""Gathers and scatters with computed indices through the passes that know them: the tile IR
(tileir's `_computed_indices`: the rows region's hull, the table, the int64 index values with
their reads guarded, the row offsets free in them), InstructionAnnotation (the vector of the
run) and LowerTileOp (`..lower.gather.lower_computed`: the indices bound once per vector, the
fill for a row out of range, nothing scattered for one)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from tlspec.compiler import ops
from tlspec.compiler.analysis import region_parts, stage_kind


def paged(stage: str, dtype: str = "float16", d: int = 64) -> str:
    return f"""
tlspec: 1
name: paged
target: sm_90a
dims: {{B: symbolic, T: symbolic, MAXP: symbolic, NP: symbolic, P: 16, D: {d}}}
buffers:
  cache: {{scope: global, shape: [NP, P, D], dtype: {dtype}, io: inout}}
  table: {{scope: global, shape: [B, MAXP], dtype: int32, io: in}}
  out:   {{scope: global, shape: [B, T, D], dtype: {dtype}, io: inout}}
launch:
  grid: {{bx: "ceildiv(T, 16)", by: B}}
  threads: 64
stages:
{stage}"""


GATHER = paged("""  - gather:
      src: cache
      dst: "out[by, t, :]"
      index: ["table[by, t // P]", "t % P"]
      each: {t: "bx*16 : +16"}
      fill: -99
""")
SCATTER = paged("""  - scatter:
      src: "out[by, t, :]"
      dst: cache
      index: ["table[by, t // P]", "t % P"]
      each: {t: "bx*16 : +16"}
""")


def call_of(mod):
    calls = []
    tvm_ffi.structural_walk(mod["main"].body, (TilePrimitiveCall, calls.append), order="pre")
    [call] = calls
    return call


def parts(region):
    buffer, starts, extents = region_parts(region)
    return buffer.name, [str(s) for s in starts], [str(e) for e in extents]


def test_the_tile_ir_carries_the_rows_hull_and_the_index_values():
    call = call_of(tile_ir(GATHER))
    assert parts(call.args[0]) == ("out", ["by", "bx * 16", "0"], ["1", "16", "64"])
    assert parts(call.args[1]) == ("cache", ["0", "0", "0"], ["NP", "16", "64"])
    assert int(call.config[ops.INDICES]) == 2 and [int(d) for d in call.config[ops.ROW_DIMS]] == [1]
    page, slot, inside, offset = call.args[2:]
    assert isinstance(offset, tirx.Var) and offset.name == "t"
    assert "table[by, (bx * 16 + t) // 16]" in page.script()
    assert 'T.Cast("int64"' in page.script() and "T.if_then_else" in page.script()
    assert slot.script() == "(bx * 16 + t) % 16"
    assert "(bx * 16 + t) // 16 < MAXP" in inside.script()


def test_the_vector_is_16_bytes_of_the_run():
    config = ops.config_of(call_of(run_through(tile_ir(GATHER), "InstructionAnnotation")))
    assert config["tlspec.instruction"] == "sync" and config["tlspec.vector"] == 8


def lowered(text):
    body = run_through(tile_ir(text), "LowerTileOp")["main"].body
    found = []
    tvm_ffi.structural_walk(body, (tirx.AttrStmt, lambda a: found.append(a)
                                   if stage_kind(a) else None), order="pre")
    [stage] = found
    return stage


def nodes(stmt, kind):
    found = []
    tvm_ffi.structural_walk(stmt, (kind, found.append), order="pre")
    return found


def test_a_gather_binds_the_indices_once_per_vector_and_fills_a_row_out_of_range():
    stage = lowered(GATHER)
    binds = nodes(stage, tirx.LetStmt)
    assert [b.var.name for b in binds] == ["index0", "index1"]
    assert all("int64" in b.value.script() for b in binds)
    [choice] = [s for s in nodes(stage, tirx.IfThenElse) if s.else_case is not None]
    condition = choice.condition.script()
    assert "index0 < T.Cast(\"int64\", NP)" in condition and "T.int64(0) <= index1" in condition
    assert "T.uint16(54832)" in choice.else_case.script()       # -99 in float16: 0xd630
    loops = [f for f in nodes(stage, tirx.For) if f.kind == tirx.ForKind.VECTORIZED]
    assert {int(f.extent) for f in loops} == {8}


def test_a_scatter_writes_nothing_for_a_row_out_of_range_or_past_the_rows_tensor():
    stage = lowered(SCATTER)
    assert all(s.else_case is None for s in nodes(stage, tirx.IfThenElse))
    guards = " ".join(s.condition.script() for s in nodes(stage, tirx.IfThenElse))
    assert "< T" in guards and "index0 < T.Cast(\"int64\", NP)" in guards
