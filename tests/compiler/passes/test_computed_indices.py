"""Gathers and scatters with computed indices through the passes that know them: the tile IR
(tileir's `_computed_indices`: the rows region's hull, the table, the int64 index values with
their reads guarded, the row offsets free in them), InstructionAnnotation (the vector of the
run) and LowerTileOp (`..lower.gather.lower_computed`: the indices bound once per vector, the
fill for a row out of range, nothing scattered for one)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm
import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx
from tvm.ir.expr import TensorLoad
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


# -- the debug mode (out_of_range: error): the fault record ------------------------------------
DEBUG_GATHER = GATHER.replace("fill: -99", "fill: -99\n      out_of_range: error")
DEBUG_SCATTER = SCATTER.replace("each: {t:", "out_of_range: error\n      each: {t:")
DEBUG_ROWS = """
tlspec: 1
name: rows
target: sm_90a
dims: {V: symbolic, R: symbolic}
buffers:
  table: {scope: global, shape: [V, 64], dtype: float16, io: in}
  idx:   {scope: global, shape: [R], dtype: int64, io: in}
  out:   {scope: global, shape: [R, 64], dtype: float16, io: out}
launch:
  grid: {bx: "ceildiv(R, 16)"}
  threads: 64
stages:
  - for:
      var: c
      extent: 2
      stages:
        - gather: {src: "table[:, c*32 : +32]", dst: "out[bx*16 : +16, c*32 : +32]",
                   index: "idx[bx*16 : +16]", out_of_range: error}
"""


def record_calls(stmt):
    """The calls of the fault record helper in `stmt`."""
    return [c for c in nodes(stmt, tvm.ir.Call) if getattr(c.op, "name", "") == "tirx.call_extern"
            and c.args[0].value == "tlspec_oob_record"]


def test_the_debug_mode_adds_the_record_parameter_and_each_rows_fault_operands():
    func = tile_ir(DEBUG_GATHER)["main"]
    [record] = [p for p in func.params if p.name == "_tlspec_oob"]
    assert [int(e) for e in record.shape] == [24] and str(record.dtype) == "int64"
    call = call_of(tile_ir(DEBUG_GATHER))
    # tables, 2 values, inside, the offset t; then site, 8 values, 3 rows; then 8 loop words
    assert len(call.args) == 2 + 2 + 1 + 1 + 12 + 8
    site = call.args[6].script()
    # site 0: the read of table (outside it); 1: index 0 outside NP; 2: index 1 outside 16
    assert "T.int64(0)" in site and "T.int64(1)" in site and "T.int64(2)" in site
    assert site.index("T.int64(0)") < site.index("T.int64(1)") < site.index("T.int64(2)")
    assert "T.int64(-1)" in site                      # a row in range: no site
    assert call.args[15].script() == 'T.Cast("int64", bx * 16 + t)'     # the row t
    assert all(a.script() == "T.int64(0)" for a in call.args[-8:])      # no loops
    assert all(p.name != "_tlspec_oob" for p in tile_ir(GATHER)["main"].params)


def test_a_debug_gather_records_where_it_fills_and_nowhere_else():
    stage = lowered(DEBUG_GATHER)
    [choice] = [s for s in nodes(stage, tirx.IfThenElse) if s.else_case is not None]
    assert not record_calls(choice.then_case)
    [call] = record_calls(choice.else_case)
    assert "T.uint16(54832)" in choice.else_case.script()          # the fill is still stored
    [guarded] = [s for s in nodes(choice.else_case, tirx.IfThenElse) if record_calls(s)]
    condition = guarded.condition.script()
    assert "T.int64(0) <=" in condition and "< T_1" in condition    # a site, inside the rows
    # helper, record, site, 3 rows, 8 values, 8 loops
    assert len(call.args) == 2 + 1 + 3 + 8 + 8 and "_tlspec_oob" in call.args[1].script()


def test_a_debug_scatter_records_where_it_skips():
    stage = lowered(DEBUG_SCATTER)
    [choice] = [s for s in nodes(stage, tirx.IfThenElse) if s.else_case is not None]
    assert not record_calls(choice.then_case) and record_calls(choice.else_case)
    assert not [s for s in nodes(choice.else_case, tirx.BufferStore)]   # nothing written


def test_a_debug_index_region_records_its_position_and_value_with_the_loop():
    stage = lowered(DEBUG_ROWS)
    [call] = record_calls(stage)
    script = stage.script()
    args = [a.script() for a in call.args]
    assert args[2] == "T.int64(0)"                                  # site 0
    assert "idx[bx * 16 +" in args[7]                               # the value ...
    assert args[6].startswith("T.Cast(\"int64\"")                   # ... at its position
    assert args[14] == 'T.Cast("int64", c)'                         # the loop's variable
    assert script.index("tlspec_oob_record") < script.index("T.vectorized")


# found by the differential generator (k26_948, k26_1054, k26_1206): the index tensor's reads
# ignored its declared strides (tirx addresses a global buffer row-major)
PITCHED_TABLE = GATHER.replace("dims: {B: symbolic,", "dims: {LD: symbolic, B: symbolic,").replace(
    "table: {scope: global, shape: [B, MAXP], dtype: int32,",
    "table: {scope: global, shape: [B, MAXP], strides: [LD, 1], dtype: int32,")


def test_a_strided_index_tensor_is_read_through_its_pitched_view():
    stage = lowered(PITCHED_TABLE)
    reads = [load for load in nodes(stage, TensorLoad) if load.source.name == "table"]
    assert reads and all([str(e) for e in load.source.shape] == ["B", "LD"]
                         and len(load.source.strides) == 0 for load in reads)
    flat = run_through(tile_ir(PITCHED_TABLE), "FlattenBuffer")["main"].body
    (index,) = {str(load.indices[0]) for load in nodes(flat, TensorLoad)
                if load.source.name.startswith("table")}
    assert "LD" in index and "MAXP" not in index
