"""What running asynchronous copies to their latest completion (tests/tir_async.py's LAZY) finds
that completing them when issued does not: kernels of tests/gpu/async lowered by tlspec's
passes, one kind of wait taken out, run on the CPU both ways. Completing at issue hides every
missing wait; completing late shows each, as a wrong output, a phase completed by the wrong
arrivals, or a copy in flight when its block exits. The complete kernels pass both ways
(test_kernels_on_cpu.py)."""
import sys

import numpy as np
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from conftest import ROOT
from pipeline_support import run_through
from tir_async import EAGER, LAZY
from tir_expr import op_name
from tir_run import run_kernel
from tvm import tirx
from tvm.ir.expr import Call

sys.path.insert(0, str(ROOT / "tests" / "interpret"))
from example_kernels import async_kernels, fitted, inputs  # noqa: E402

from tlspec.compiler.tileir import build_tile_ir
from tlspec.interpret import Program

KERNELS = {k.name: k for k in async_kernels()}


def without(func, op: str):
    """`func` with every call of `op` taken out."""
    def drop(evaluate):
        call = evaluate.value
        return tirx.Evaluate(0) if isinstance(call, Call) and op_name(call) == op else evaluate

    return func.with_body(tvm_ffi.structural_map(func.body, (tirx.Evaluate, drop), order="post"))


def outcome(name: str, op: str, completion: str) -> str:
    """'right', 'wrong' (an output differs from the interpreter's) or the evaluator's error."""
    kernel = KERNELS[name]
    dims = fitted(kernel, {"M": 40, "N": 200})
    func = without(run_through(build_tile_ir(kernel), "ThreadSync", kernel.target.name)["main"],
                   op)
    arrays, expected = inputs(kernel, dims), inputs(kernel, dims)
    Program(kernel).run(expected)
    try:
        run_kernel(func, arrays, dims, completion=completion)
    except RuntimeError as e:
        return str(e)
    return "right" if all(np.array_equal(arrays[n], expected[n]) for n in arrays) else "wrong"


@pytest.mark.parametrize("name, op, found", [
    ("pipe_tma_s2_f16", "mbarrier_wait", "an arrival past the barrier's arrival count"),
    ("explicit_one_barrier_f16", "mbarrier_wait", "an arrival past"),
    ("pipe_cp_s2_f16", "cp_async_wait_group", "a cp.async still in flight when the threads"),
    ("explicit_cp_groups_f32", "cp_async_wait_group", "a cp.async still in flight"),
    ("pipe_tma_s2_f16", "cp_async_bulk_wait_group", "a TMA store still in flight"),
    ("explicit_one_barrier_f16", "cp_async_bulk_wait_group", "a TMA store still in flight")])
def test_a_missing_wait_shows_only_when_copies_complete_late(name, op, found):
    assert outcome(name, op, EAGER) == "right"
    assert found in outcome(name, op, LAZY)


def test_a_warp_specialized_consumer_that_does_not_wait_is_caught_both_ways():
    assert outcome("ws_s2_f16", "mbarrier_wait", EAGER) == "wrong"
    assert "an arrival past" in outcome("ws_s2_f16", "mbarrier_wait", LAZY)
