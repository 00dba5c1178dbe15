"""AnnotateWarpGroupRegAlloc: a warp-specialized kernel whose producer is a warp group gives the
producer's registers to the consumers (setmaxnreg.dec / .inc at the start of each role) where
the block's pool (65536 registers over the blocks per SM that its shared memory allows) lets the
consumers rise above their count at entry; elsewhere nothing moves. The plan is checked against
the cubin's register count when the kernel is compiled."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm
import tvm_ffi
from copy_kernels import copy_kernel, loop_lines
from pipeline_support import run_through, tile_ir
from tvm import tirx

from tlspec.compiler.passes.annotate_warp_group_reg_alloc import PLAN_ATTR, plan

BODY = ['- copy: {src: "A[bx*256 : +256, k*64 : +64]", dst: "A_s[k % 4, :, :]"}',
        '- copy: {src: "A_s[k % 4, :, :]", dst: "B[bx*256 : +256, k*64 : +64]", '
        'prefer_instruction: sync}']


def annotated(rows: int, threads: int):
    tiles = {"A_s": ((4, rows, 64), "swizzle_128B")}
    body = [line.replace("256", str(rows)) for line in BODY]
    text = copy_kernel(tiles, loop_lines(body, num_stages=4, warp_specialize="true"),
                       threads=threads, grid=f"{{bx: {1024 // rows}}}").replace("scope: shared,", "scope: shared.dyn,")
    return run_through(tile_ir(text), "AnnotateWarpGroupRegAlloc")["main"]


def setmaxnreg(func) -> list[str]:
    found = []
    tvm_ffi.structural_walk(func.body, (tvm.ir.expr.Call, lambda c: found.append(
        f"{c.args[1].value} {int(c.args[0])}") if c.op.name == "tirx.ptx.setmaxnreg" else None),
                            order="pre")
    return found


@pytest.mark.parametrize("consumers, producers, shared, expected", [
    (256, 128, 128 * 1024, {"blocks_per_sm": 1, "entry": 168, "consumer": 232}),
    (256, 128, 60 * 1024, {"blocks_per_sm": 3, "entry": 56, "consumer": 64}),
    (128, 128, 24 * 1024, None),          # 8 blocks per SM: 32 registers each, nothing to move
    (128, 128, 128 * 1024, None),         # 248 at entry: more than the consumers would get
    (64, 32, 128 * 1024, None),           # a producer warp: setmaxnreg needs warp groups
])
def test_the_plan_fits_the_pool_of_the_blocks_the_shared_memory_allows(consumers, producers,
                                                                       shared, expected):
    found = plan(consumers, producers, shared)
    if expected is None:
        assert found is None
        return
    assert {k: found[k] for k in expected} == expected
    threads = consumers + producers
    assert found["consumer"] * consumers + found["producer"] * producers <= found["entry"] * threads


def test_the_producer_decreases_and_the_consumers_increase():
    func = annotated(rows=256, threads=256)           # 128 KB of slots: one block per SM
    assert setmaxnreg(func) == ["inc 232", "dec 40"]
    assert int(func.attrs[PLAN_ATTR]["blocks_per_sm"]) == 1


def test_nothing_moves_where_the_consumers_would_not_gain():
    func = annotated(rows=32, threads=128)
    assert setmaxnreg(func) == [] and PLAN_ATTR not in func.attrs


def test_a_kernel_without_specialization_is_left_alone():
    text = copy_kernel({"A_s": ((4, 32, 64), "swizzle_128B")},
                       loop_lines([line.replace("256", "32") for line in BODY], num_stages=4))
    func = run_through(tile_ir(text), "AnnotateWarpGroupRegAlloc")["main"]
    assert setmaxnreg(func) == []
    assert not isinstance(func.body, tirx.AttrStmt) or "launch_bounds" not in func.body.attr_key
