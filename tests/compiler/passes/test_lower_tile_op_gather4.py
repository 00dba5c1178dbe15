"""LowerTileOp on the TMA forms of gather and scatter (tlspec/compiler/lower/tma_rows.py): thread
0 issues one TMA instruction per 4 indices, the box one row of the table region's columns, the 4
rows of the tile next in order; the row coordinates are the index values (int64 clamped to
[-1, V], -1 past the end of the index tensor); a gather4 completes on the spec's barrier, the
scatter4s are one bulk group (scatter4.DISPATCH, with the rows in its config)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm
import tvm_ffi
from copy_kernels import SCATTER4, gather4_kernel, gather4_stages
from pipeline_support import run_through, tile_ir
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from tlspec.compiler.analysis import region_parts, stage_kind
from tlspec.compiler.lower import scatter4


def lowered(text, kind):
    """The lowered stage of `kind` (its AttrStmt)."""
    body = run_through(tile_ir(text), "LowerTileOp", arch="sm_100a")["main"].body
    found = []
    tvm_ffi.structural_walk(body, (tirx.AttrStmt, lambda a: found.append(a) if (
        stage_kind(a) or "").startswith(kind + ":") else None), order="pre")
    return found[0]


def issues(stage):
    """(loop kind and extent, the copy_async call) of the stage's one issue loop."""
    loops, calls = [], []
    tvm_ffi.structural_walk(stage, (tirx.For, loops.append), order="pre")
    tvm_ffi.structural_walk(stage, (TilePrimitiveCall, calls.append), order="pre")
    [loop], [call] = loops, calls
    return (loop.kind, int(loop.extent)), call


def extents(region):
    buffer, starts, sizes = region_parts(region)
    return buffer.name, [str(s) for s in starts], [int(e) for e in sizes]


def test_a_gather4_issues_one_load_per_4_rows_from_thread_0():
    stage = lowered(gather4_kernel(gather4_stages(), out="out"), "gather")
    assert str(stage.value.value) == "gather:tma"
    assert isinstance(stage.body, tirx.IfThenElse) and str(stage.body.condition) == "tid == 0"
    (kind, extent), call = issues(stage)
    assert (kind, extent) == (tirx.ForKind.UNROLLED, 2)
    assert call.dispatch == "tma_explicit" and "mbar" in call.config
    assert extents(call.args[0]) == ("G_s", ["g * 4", "0"], [4, 64])
    assert extents(call.args[1]) == ("table", ["0", "64"], [1, 64])
    rows = [r.script() for r in call.config["gather4"]]     # idx's 64 rows hold every block's
    assert rows == [f'T.Cast("int32", idx[bx * 8 + {p}])'
                    for p in ("g * 4", "(g * 4 + 1)", "(g * 4 + 2)", "(g * 4 + 3)")]


def test_int64_indices_are_clamped_and_positions_past_the_end_are_row_minus_1():
    text = gather4_kernel(gather4_stages(), index="int64", r="{symbolic: true}", out="out")
    _, call = issues(lowered(text, "gather"))
    first = call.config["gather4"][0]
    assert first.op.name == "prim.if_then_else"
    assert str(first.args[0]) == "bx * 8 + g * 4 < R_1"          # R, the length of idx
    assert "T.max(T.min(idx[bx * 8 + g * 4], T.Cast(\"int64\", 1000)), T.int64(-1))" in \
        first.args[1].script()
    assert int(first.args[2]) == -1


def test_a_scatter4_is_the_tlspec_dispatch_then_one_commit():
    stage = lowered(gather4_kernel(SCATTER4), "scatter")
    assert str(stage.value.value) == "scatter:tma"
    _, call = issues(stage)
    assert call.dispatch == scatter4.DISPATCH
    assert extents(call.args[0]) == ("table", ["0", "64"], [1, 64])
    assert extents(call.args[1]) == ("G_s", ["g * 4", "0"], [1, 64])      # the first of 4 rows
    assert len(call.config[scatter4.ROWS]) == 4
    assert stage.body.then_case.seq[-1].value.script().count("commit_group") == 1


def test_an_eviction_policy_is_the_copies_cache_hint():
    stages = [s.replace("rows: 4,", "rows: 4, eviction_policy: evict_first,")
              for s in gather4_stages()]
    _, call = issues(lowered(gather4_kernel(stages, out="out"), "gather"))
    assert str(call.config["cache_hint"]) == "evict_first"


def test_constant_indices_are_the_rows_of_every_block():
    """An index region at a constant start (TileLang's tma_gather4 crashed on constant rows):
    the 4 coordinates are idx[0] to idx[3], the same in every block, read without a guard."""
    stages = [s.replace("idx[bx*8 : +8]", "idx[0 : +4]").replace("1024", "512")
              .replace("out[bx*8 : +8, 64 : +64]", "out[bx*4 : +4, 64 : +64]")
              for s in gather4_stages()]
    calls = []
    tvm_ffi.structural_walk(lowered(gather4_kernel(stages, tile="[4, 64]", out="out"), "gather"),
                            (TilePrimitiveCall, calls.append), order="pre")
    [call] = calls                              # one instruction: no loop
    assert extents(call.args[0])[2] == [4, 64]
    simplify = tvm.sym.Analyzer().simplify      # the group index is 0 (StmtSimplify folds it)
    assert [simplify(r).script() for r in call.config["gather4"]] == [
        f'idx[{i}]' for i in range(4)]
