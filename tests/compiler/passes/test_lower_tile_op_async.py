"""LowerTileOp's explicit asynchronous stages: they issue and do not wait.

A `tma_copy` load is thread 0's TMA copy on the spec's barrier, with no wait; a store is thread
0's TMA copy and its bulk commit, with no wait; `barrier_arrive` is one arrival by thread 0
(with expect_tx when it announces bytes); `barrier_wait` a parity wait in every thread;
`async_copy` the cp.async loop and its commit, with no wait_group. Before the block exits it
waits for the TMA stores and cp.async groups still in flight. (LowerSharedBarrier initialises
the barriers: test_lower_shared_barrier.py.)"""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from copy_kernels import copy_kernel
from pipeline_support import run_through, tile_ir
from test_lower_tile_op import stages
from tvm import tirx

TILES = {"A_s": ((64, 64), "swizzle_128B"), "C_s": ((64, 64), "auto")}
EXPLICIT = [
    "- alloc_barrier: {name: bar, arrive_count: 2}",
    "- barrier_arrive: {barrier: bar, expect_tx: 8192}",
    "- tma_copy: {src: 'A[bx*64 : +64, 0 : +64]', dst: A_s, barrier: bar}",
    "- barrier_arrive: {barrier: bar}",
    "- barrier_wait: {barrier: bar, parity: 0}",
    "- tma_copy: {src: A_s, dst: 'B[bx*64 : +64, 0 : +64]'}",
    "- async_copy: {src: 'A[bx*64 : +64, 64 : +64]', dst: C_s}",
    "- async_wait: {pending: 0}",
    "- sync_threads:",
    "- copy: {src: C_s, dst: 'B[bx*64 : +64, 64 : +64]', prefer_instruction: sync}",
    "- copy: {src: 'A[bx*64 : +64, 128 : +64]', dst: C_s}"]


@pytest.fixture(scope="module")
def lowered():
    """(the kernel after LowerTileOp, {stage pointer: its lowered statement})."""
    func = run_through(tile_ir(copy_kernel(TILES, EXPLICIT)), "LowerTileOp")["main"]
    return func, {s.node.value: s for s in stages(func)}


def by_thread_0(stmt) -> str:
    """The script of the stage's body, checked to run in thread 0 only."""
    body = stmt.body
    assert isinstance(body, tirx.IfThenElse) and str(body.condition) == "tid == 0", body
    return body.then_case.script()


def test_a_tma_copy_load_completes_on_the_specs_barrier_and_is_not_waited_for(lowered):
    stage = lowered[1]["/stages/2/tma_copy"]
    assert stage.value.value == "tma_copy:tma"
    script = by_thread_0(stage)
    assert "copy_async" in script and "mbar=T.address_of(_tlspec_mbar[0])" in script
    assert "mbarrier_wait" not in stage.script() and "expect_tx" not in stage.script()


def test_a_tma_copy_store_is_committed_and_not_waited_for(lowered):
    script = by_thread_0(lowered[1]["/stages/5/tma_copy"])
    assert '"bulk", "commit_group"' in script and "wait_group" not in script


@pytest.mark.parametrize("pointer, expect_tx", [("/stages/1/barrier_arrive", True),
                                                ("/stages/3/barrier_arrive", False)])
def test_barrier_arrive_is_one_arrival_by_thread_0(lowered, pointer, expect_tx):
    script = by_thread_0(lowered[1][pointer])
    assert '"arrive"' in script and script.count("mbarrier(") == 1
    assert ("8192" in script and '"expect_tx"' in script) == expect_tx


def test_barrier_wait_waits_in_every_thread(lowered):
    stage = lowered[1]["/stages/4/barrier_wait"]
    assert isinstance(stage.body, tirx.Evaluate)
    assert "mbarrier_wait(T.address_of(_tlspec_mbar[0]), 0)" in stage.body.script()


def test_async_copy_commits_its_group_and_does_not_wait(lowered):
    script = lowered[1]["/stages/6/async_copy"].script()
    assert script.count('"commit_group"') == 1 and "wait_group" not in script


def test_the_block_waits_for_stores_and_cp_async_groups_in_flight_before_it_exits(lowered):
    body = lowered[0].body
    while isinstance(body, (tirx.AttrStmt, tirx.DeclBuffer, tirx.AllocBuffer)):
        body = body.body
    *_, store_drain, cp_async_drain = body.seq
    assert isinstance(store_drain, tirx.IfThenElse) and str(store_drain.condition) == "tid == 0"
    assert 'T.ptx.cp(0, "async", "bulk", "wait_group", "read", "")' in store_drain.script()
    assert 'T.ptx.cp(0, "async", "wait_group", "")' in cp_async_drain.script()


def test_a_kernel_without_explicit_stages_has_no_drain():
    text = copy_kernel(TILES, ["- copy: {src: 'A[bx*64 : +64, 0 : +64]', dst: A_s}",
                               "- copy: {src: A_s, dst: 'B[bx*64 : +64, 0 : +64]'}"])
    script = run_through(tile_ir(text), "LowerTileOp")["main"].body.script()
    assert 'bulk", "wait_group", "read"' in script                  # the copy's own wait
    assert script.rstrip().endswith('T.ptx.cp(0, "async", "bulk", "wait_group", "read", "")')
    assert script.count('"wait_group"') == 1
