"""ClusterPlanning: cluster barriers (`sync_cluster`) where blocks copy into each other's shared
memory: before the first copy_cluster, between a tile's use and a copy into it (peers may still
use theirs), before a stage that reads what a copy without remote_barrier stored, before a stage
that rewrites what a bulk copy may still read, and before exit where blocks copy block to block.
A multicast-only kernel needs none at exit; a kernel without copy_cluster none at all."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from tlspec.compiler import ops
from tlspec.compiler.errors import take_stage_error


def kernel(stages: list[str], cluster="[2]", tiles="[64, 64]", n="1024", extra=()) -> str:
    return f"""
tlspec: 1
name: k
target: sm_90a
dims: {{M: 1024, N: {n}}}
buffers:
  A: {{scope: global, shape: [M, N], dtype: float16, io: in}}
  B: {{scope: global, shape: [M, N], dtype: float16, io: out}}
  A_s: {{scope: shared, shape: {tiles}, dtype: float16}}
  R_s: {{scope: shared, shape: {tiles}, dtype: float16}}
""" + "".join(f"  {name}: {{scope: shared, shape: {tiles}, dtype: float16}}\n"
              for name in extra) + f"""launch:
  grid: {{bx: 16, by: 16}}
  threads: 128
  cluster: {cluster}
stages:
""" + "\n".join("  " + line for line in stages) + "\n"


def order(text: str) -> list[str]:
    """The kinds of the tile operations after ClusterPlanning, loops as '[' and ']'."""
    func = run_through(tile_ir(text), "ClusterPlanning")["main"]
    out = []

    def visit(stmt):
        if isinstance(stmt, tirx.SeqStmt):
            for s in stmt.seq:
                visit(s)
        elif isinstance(stmt, tirx.For):
            out.append("[")
            visit(stmt.body)
            out.append("]")
        elif isinstance(stmt, (tirx.AttrStmt,)):
            visit(stmt.body)
        elif isinstance(stmt, TilePrimitiveCall):
            out.append(ops.kind_of(stmt))

    visit(func.body)
    return [k for k in out if k is not None]


MULTICAST = "- copy_cluster: {src: 'A[bx // 2 * 64 : +64, by*64 : +64]', dst: A_s, cluster_mask: 3}"
STORE_A = "- copy: {src: A_s, dst: 'B[bx*64 : +64, by*64 : +64]'}"
LOAD_A = "- copy: {src: 'A[bx*64 : +64, by*64 : +64]', dst: A_s}"
STORE_R = "- copy: {src: R_s, dst: 'B[bx*64 : +64, by*64 : +64]'}"
ARRIVE = "- barrier_arrive: {barrier: bar, expect_tx: 8192}"
SEND = "- copy_cluster: {src: A_s, dst: R_s, dst_block: (bx + 1) % 2, remote_barrier: bar}"
WAIT = "- barrier_wait: {barrier: bar, parity: 0}"


def test_a_multicast_waits_for_the_cluster_to_start_and_needs_no_barrier_at_exit():
    assert order(kernel([MULTICAST, STORE_A])) == ["sync_cluster", "copy_cluster", "copy"]


def test_a_multicast_into_a_tile_a_stage_used_waits_for_the_peers():
    stages = [LOAD_A, STORE_A, MULTICAST, STORE_A]
    assert order(kernel(stages)) == ["copy", "copy", "sync_cluster", "copy_cluster", "copy"]


def test_a_loop_of_multicasts_meets_before_the_loop_and_at_the_end_of_each_round():
    loop = ["- for:", "    var: k", "    extent: 4", "    stages:",
            "      " + MULTICAST.replace("by*64", "k*64"), "      " + STORE_A.replace("by*64", "k*64")]
    assert order(kernel(loop)) == ["sync_cluster", "[", "copy_cluster", "copy", "sync_cluster",
                                   "]"]


def test_a_bulk_copy_is_waited_for_by_its_receiver_and_the_blocks_meet_before_exit():
    stages = ["- alloc_barrier: {name: bar}", ARRIVE, LOAD_A, SEND, WAIT, STORE_R]
    assert order(kernel(stages)) == ["barrier_arrive", "copy", "sync_cluster", "copy_cluster",
                                     "barrier_wait", "copy", "sync_cluster"]


def test_rewriting_the_source_of_a_bulk_copy_waits_for_the_cluster():
    stages = ["- alloc_barrier: {name: bar}", ARRIVE, LOAD_A, SEND, WAIT, STORE_R, LOAD_A]
    assert order(kernel(stages))[-4:] == ["copy", "sync_cluster", "copy", "sync_cluster"]


def test_a_bulk_copy_on_a_barrier_waited_on_since_the_last_cluster_barrier_waits_for_it():
    """The second copy on `bar` completes its next phase: its bytes may land at once, so every
    block must have seen the first phase complete (hunt_two_phases_one_barrier_f32 of
    tests/gpu/dsmem_hunt; without the barrier the evaluator's blocks read R_s before the first
    copy landed, or hang)."""
    stages = ["- alloc_barrier: {name: bar}", LOAD_A, ARRIVE, SEND, WAIT, STORE_R, ARRIVE,
              SEND.replace("dst: R_s", "dst: S_s"),
              WAIT.replace("parity: 0", "parity: 1"), STORE_R.replace("R_s", "S_s")]
    assert order(kernel(stages, extra=["S_s"])) == [
        "copy", "barrier_arrive", "sync_cluster", "copy_cluster", "barrier_wait", "copy",
        "barrier_arrive", "sync_cluster", "copy_cluster", "barrier_wait", "copy", "sync_cluster"]


def test_two_bulk_copies_of_one_phase_need_no_barrier_between_them():
    stages = ["- alloc_barrier: {name: bar}", LOAD_A, ARRIVE.replace("8192", "16384"), SEND,
              SEND.replace("dst: R_s", "dst: S_s"), WAIT, STORE_R]
    assert order(kernel(stages, extra=["S_s"])) == [
        "copy", "barrier_arrive", "sync_cluster", "copy_cluster", "copy_cluster",
        "barrier_wait", "copy", "sync_cluster"]


def test_after_a_loop_that_may_run_no_iteration_what_preceded_it_is_still_unordered():
    """The loop's own cluster barriers (its body reads what a copy without remote_barrier
    stored) do not order what came before it when it runs no iteration (N < 128):
    hunt_zero_trip_loop_f32 of tests/gpu/dsmem_hunt read R_s before its peer stored it."""
    loop = ["- for:", "    var: k", "    extent: N // 128", "    stages:",
            "      - copy: {src: 'A[bx*64 : +64, k*64 : +64]', dst: T_s}",
            "      - copy_cluster: {src: T_s, dst: U_s, dst_block: (bx + 1) % 2}",
            "      - copy: {src: U_s, dst: 'B[bx*64 : +64, k*64 : +64]'}"]
    stages = [LOAD_A, "- copy_cluster: {src: A_s, dst: R_s, dst_block: (bx + 1) % 2}", *loop,
              STORE_R]
    symbolic = "{symbolic: true, multiple_of: 64}"
    kinds = order(kernel(stages, n=symbolic, extra=["T_s", "U_s"]))
    assert kinds[kinds.index("]"):] == ["]", "sync_cluster", "copy", "sync_cluster"]
    assert order(kernel(stages, n="1024", extra=["T_s", "U_s"]))[-3:] == [
        "]", "copy", "sync_cluster"]        # 8 iterations: the body's barrier does


def test_what_a_copy_without_remote_barrier_stored_is_read_after_a_cluster_barrier():
    stages = [LOAD_A, "- copy_cluster: {src: A_s, dst: R_s, dst_block: (bx + 1) % 2}", STORE_R]
    assert order(kernel(stages)) == ["copy", "sync_cluster", "copy_cluster", "sync_cluster",
                                     "copy", "sync_cluster"]


def test_a_cluster_launch_without_copy_cluster_has_no_cluster_barrier():
    assert "sync_cluster" not in order(kernel([LOAD_A, STORE_A]))


def test_the_cluster_barrier_lowers_to_arrive_release_and_wait_acquire():
    func = run_through(tile_ir(kernel([MULTICAST, STORE_A])), "LowerTileOp")["main"]
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.Evaluate, lambda e: found.append(str(e.value))
                                        if "barrier" in str(e.value) and "cluster" in
                                        str(e.value) else None), order="pre")
    assert [("arrive" in f and "release" in f, "wait" in f and "acquire" in f) for f in found] \
        == [(True, False), (False, True)]


def test_a_multicast_pipeline_meets_once_before_its_prologue_and_never_per_round():
    pipeline = ["- pipeline:", "    var: k", "    extent: 8", "    num_stages: 2", "    stages:",
                "      - copy_cluster: {src: 'A[bx // 2 * 64 : +64, k*64 : +64]', "
                "dst: 'A_s[k % 2, :, :]', cluster_mask: 3}",
                "      - copy: {src: 'A_s[k % 2, :, :]', dst: 'B[bx*64 : +64, k*64 : +64]'}"]
    kinds = order(kernel(pipeline, tiles="[2, 64, 64]"))
    assert kinds[:2] == ["sync_cluster", "["] and kinds.count("sync_cluster") == 1


def test_a_cluster_copy_in_a_loop_whose_trips_differ_within_a_cluster_is_refused():
    """One block issues a multicast for all, and cluster barriers wait for every block: a loop
    of bx + 1 iterations in a cluster along bx would hang (block 1 waits for a second tile)."""
    loop = ["- for:", "    var: k", "    extent: bx % 4 + 1", "    stages:",
            "      " + MULTICAST.replace("by*64", "k*64"), "      " + STORE_A.replace("by*64", "k*64")]
    with pytest.raises(Exception) as raised:
        order(kernel(loop))
    error = take_stage_error(raised.value)
    assert error.message.startswith("this copy_cluster is in a loop whose iterations may differ "
                                    "between the blocks of a cluster (its bounds depend on 'bx')")


def test_a_loop_whose_trips_depend_on_the_cluster_position_only_is_fine():
    loop = ["- for:", "    var: k", "    extent: bx // 2 % 4 + 1", "    stages:",
            "      " + MULTICAST.replace("by*64", "k*64"), "      " + STORE_A.replace("by*64", "k*64")]
    assert "copy_cluster" in order(kernel(loop))
