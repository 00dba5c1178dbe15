"""UnrollBudget: loops marked for unrolling stay marked under the code-size budget, and past it
become loops that NVRTC does not unroll either, but for those that index a register array."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm
import tvm_ffi
from conftest import ROOT
from pipeline_support import gathers, run_through, tile_ir
from tvm import tirx

from tlspec.compiler.passes import unroll_budget
from tlspec.compiler.passes.unroll_budget import NO_UNROLL, UnrollBudget, unrolled_size
from tlspec.compiler.tileir import build_tile_ir
from tlspec.validate import validate_paths

A = tirx.decl_buffer((64,), "float16", name="A")
REGS = tirx.decl_buffer((8,), "float16", name="regs", scope="local")


def marked(buffer: tirx.Buffer, kind=tirx.ForKind.UNROLLED) -> tirx.For:
    i = tirx.Var("i", "int32")
    return tirx.For(i, tirx.IntImm("int32", 0), tirx.IntImm("int32", 8), kind,
                    tirx.BufferStore(buffer, tirx.const(1, "float16"), [i]))


def loops(stmt) -> list[tirx.For]:
    found = []
    tvm_ffi.structural_walk(stmt, (tirx.For, found.append), order="pre")
    return found


def test_a_marked_loop_counts_its_body_once_per_trip():
    store = marked(A).body
    assert unrolled_size(marked(A)) == 1 + 8 * unrolled_size(store)
    assert unrolled_size(marked(A, tirx.ForKind.SERIAL)) == 1 + unrolled_size(store)


def test_under_the_budget_the_kernel_is_left_as_it_is():
    mod = run_through(tile_ir(gathers(2)), "VectorizeLoop")
    assert tvm_ffi.structural_equal(UnrollBudget(mod)["main"], mod["main"])
    assert {loop.kind for loop in loops(mod["main"].body)} == {tirx.ForKind.UNROLLED}


def test_past_the_budget_marked_loops_stay_loops_that_nvrtc_does_not_unroll():
    mod = UnrollBudget(run_through(tile_ir(gathers(30)), "VectorizeLoop"))
    rolled = loops(mod["main"].body)
    assert len(rolled) == 30
    assert all(loop.kind == tirx.ForKind.SERIAL and loop.annotations[NO_UNROLL] for loop in rolled)


def test_past_the_budget_a_loop_over_a_register_array_stays_unrolled(monkeypatch):
    monkeypatch.setattr(unroll_budget, "BUDGET", 0)
    mod = tvm.IRModule({"main": tirx.PrimFunc([], tirx.SeqStmt([marked(A), marked(REGS)]))})
    to_global, to_registers = loops(UnrollBudget(mod)["main"].body)
    assert to_global.kind == tirx.ForKind.SERIAL and NO_UNROLL in to_global.annotations
    assert to_registers.kind == tirx.ForKind.UNROLLED


def test_the_largest_kernel_of_the_gpu_matrix_is_far_under_the_budget():
    """The budget must leave the benchmarked kernels of specs/ and tests/gpu/matrix as they were
    (the largest has ~6,500 nodes)."""
    [kernel] = [k for k in validate_paths([str(ROOT / "tests/gpu/matrix/eviction.tlspec.yaml")])
                .kernels if k.name == "copy_evict_chunked_f32"]
    mod = run_through(build_tile_ir(kernel), "VectorizeLoop")
    assert unrolled_size(mod["main"].body) < unroll_budget.BUDGET / 2
