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


def lowered(text, last="LowerTileOp"):
    """The stage of `text` after the pass `last`."""
    body = run_through(tile_ir(text), last)["main"].body
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


@pytest.mark.parametrize("text, loads, stores", [
    (GATHER.replace("fill: -99", "fill: -99\n      eviction_policy: evict_first"),
     "cache", "out"),
    (SCATTER.replace("each: {t:", "eviction_policy: evict_last\n      each: {t:"), "out", "cache")])
def test_an_eviction_policy_stages_the_rows_with_index_values_bound_per_phase(text, loads, stores):
    """ApplyEvictionHints stages the vectors through registers: a load phase, then a store
    phase, each binding the index values of its vectors anew (one variable bound twice is not
    valid TIR), and hints both global sides (ptx ld / st with the L2 policy)."""
    stage = lowered(text, "ApplyEvictionHints")
    binds = [b.var for b in nodes(stage, tirx.LetStmt)]
    assert [v.name for v in binds] == ["index0", "index1"] * 2
    assert not binds[0].same_as(binds[2]) and not binds[1].same_as(binds[3])
    script = stage.script()
    policy = "L1::evict_first" if loads == "cache" else "L1::evict_last"
    [load] = [line for line in script.splitlines() if "T.ptx.ld(" in line]
    [store] = {line.strip() for line in script.splitlines() if "T.ptx.st(" in line}
    assert f"T.address_of({loads}[" in load and "staged_w[" in load and policy in load
    assert f"T.address_of({stores}[" in store and "staged_w[" in store and policy in store
    assert script.index("T.ptx.ld(") < script.index("T.ptx.st(")
    if loads == "cache":     # the fill still goes to the rows out of range, through registers
        assert "T.uint16(54832)" in script
