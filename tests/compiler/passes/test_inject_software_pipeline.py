"""InjectSoftwarePipeline: a pipelined loop becomes a prologue issuing the loads of the first
num_stages - 1 iterations (each guarded by `j < extent`) and a steady loop that issues the loads
of iteration k + num_stages - 1, waits for iteration k's, then runs iteration k's consumers.

TMA loads are issued on the loop's own barrier array (after the spec's barriers), armed with the
bytes of the iteration's loads; iteration k waits for the parity of that barrier's phase, counted
across the loop's entries when it is nested in another loop. cp.async loads leave their commit to
one `async_commit` outside the guard (an empty group past the end), so that `async_wait` with
pending num_stages - 1 leaves exactly the later iterations' groups in flight (with a group of
each load's own as well, the wait would wait for the loads just issued)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from copy_kernels import copy_kernel, loop_lines
from pipeline_support import run_through, tile_ir
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from tlspec.compiler import ops
from tlspec.compiler.lower.common import const, simplify, substitute
from tlspec.compiler.passes.lower_tile_op import COMMIT
from tlspec.compiler.passes.pipeline_planning import PLAN_ATTR

REGION = "bx*64 : +64, k*64 : +64"
TMA_BODY = [f'- copy: {{src: "A[{REGION}]", dst: "A_s[k % 3, :, :]"}}',
            f'- copy: {{src: "A_s[k % 3, :, :]", dst: "B[{REGION}]"}}']
CP_ASYNC_BODY = [
    f'- copy: {{src: "A[{REGION}]", dst: "A_s[k % 3, :, :]", prefer_instruction: cp_async}}',
    f'- copy: {{src: "A_s[k % 3, :, :]", dst: "B[{REGION}]", prefer_instruction: sync}}']
# a spec barrier before the loop: the loop's barriers come after its slot
SPEC_BARRIER = ["- alloc_barrier: {name: bar, count: 2}",
                "- barrier_arrive: {barrier: 'bar[1]', expect_tx: 8192}",
                "- tma_copy: {src: 'A[bx*64 : +64, 0 : +64]', dst: C_s, barrier: 'bar[1]'}",
                "- barrier_wait: {barrier: 'bar[1]', parity: 0}",
                "- tma_copy: {src: C_s, dst: 'B[bx*64 : +64, 0 : +64]'}",
                "- tma_store_wait:"]
TILES = {"A_s": ((3, 64, 64), "swizzle_128B"), "C_s": ((64, 64), "swizzle_128B")}


def injected(stages, tiles=None):
    return run_through(tile_ir(copy_kernel(tiles or TILES, stages)), "InjectSoftwarePipeline")["main"]


def loops(func) -> dict[str, tirx.For]:
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.For, found.append), order="pre")
    return {f.loop_var.name: f for f in found}


def stmts(body) -> list:
    return list(body.seq) if isinstance(body, tirx.SeqStmt) else [body]


def kinds(stmt) -> list[str]:
    """The tile operations in `stmt`, in order."""
    found = []
    tvm_ffi.structural_walk(stmt, (TilePrimitiveCall, found.append), order="pre")
    return [ops.kind_of(c) for c in found]


def guarded(stmt, var: str, ahead: int, extent: int) -> list[str]:
    """The kinds of the issue `stmt`, checked to be guarded by `var + ahead < extent`."""
    assert isinstance(stmt, tirx.IfThenElse) and stmt.else_case is None
    cond = simplify(stmt.condition)
    assert str(cond) == (f"{var} < {extent - ahead}" if ahead else f"{var} < {extent}"), cond
    return kinds(stmt.then_case)


def at(expr, var, value: int) -> int:
    """`expr` with `var` = `value`, evaluated."""
    return int(simplify(substitute(expr, var, tirx.IntImm("int32", value))))


def test_a_tma_pipeline_gets_a_prologue_of_num_stages_minus_1_guarded_issues():
    func = injected(SPEC_BARRIER + loop_lines(TMA_BODY, extent=16))
    prologue = loops(func)["k_ahead"]
    assert const(prologue.min) == 0 and const(prologue.extent) == 2
    assert guarded(prologue.body, "k_ahead", 0, 16) == ["barrier_arrive", "tma_copy"]


def test_the_steady_loop_issues_ahead_then_waits_then_runs_the_consumers():
    func = injected(SPEC_BARRIER + loop_lines(TMA_BODY, extent=16))
    steady = loops(func)["k"]
    assert PLAN_ATTR in steady.annotations
    issue, wait, consumer = stmts(steady.body)
    assert guarded(issue, "k", 2, 16) == ["barrier_arrive", "tma_copy"]
    assert kinds(wait) == ["barrier_wait"] and kinds(consumer) == ["copy"]
    assert str(consumer.args[0].source.name) == "B"


def test_tma_loads_use_the_loops_own_barriers_after_the_specs():
    func = injected(SPEC_BARRIER + loop_lines(TMA_BODY, extent=16))
    barriers = {str(k): [int(x) for x in v] for k, v in func.attrs["tlspec.barriers"].items()}
    assert barriers == {"bar": [0, 2, 1], "_pipeline1": [2, 3, 1]}
    issue, wait, _ = stmts(loops(func)["k"].body)
    arrive, load = stmts(issue.then_case)
    k = loops(func)["k"].loop_var
    for value in range(14):
        assert at(arrive.args[0], k, value) == (value + 2) % 3 + 2 == at(load.args[2], k, value)
        assert at(wait.args[0], k, value) == value % 3 + 2
    assert int(arrive.args[1]) == 64 * 64 * 2      # the iteration's bytes


def test_a_nested_pipeline_waits_for_its_barriers_phase_across_entries():
    """Barrier k % 3 completes a phase per use, in every entry of the loop: the parity waited
    for is that of the uses before, counted over the enclosing loop's iterations."""
    extent, entries = 5, 4
    func = injected(loop_lines(loop_lines(TMA_BODY, extent=extent), kind="for", var="j",
                               extent=entries))
    steady, outer = loops(func)["k"], loops(func)["j"]
    _, wait, _ = stmts(steady.body)
    uses = [0, 0, 0]
    for j in range(entries):
        for k in range(extent):
            parity = substitute(wait.args[1], outer.loop_var, tirx.IntImm("int32", j))
            assert at(parity, steady.loop_var, k) == uses[k % 3] % 2, (j, k)
            uses[k % 3] += 1


def test_cp_async_loads_are_committed_once_per_iteration_outside_the_guard():
    func = injected(loop_lines(CP_ASYNC_BODY, extent=16), {"A_s": ((3, 64, 64), "auto")})
    prologue, steady = loops(func)["k_ahead"], loops(func)["k"]
    issue, commit = stmts(prologue.body)
    assert guarded(issue, "k_ahead", 0, 16) == ["async_copy"] and kinds(commit) == ["async_commit"]
    issue, commit, wait, consumer = stmts(steady.body)
    assert guarded(issue, "k", 2, 16) == ["async_copy"] and kinds(commit) == ["async_commit"]
    assert ops.config_of(issue.then_case)[COMMIT] is False   # the async_commit closes it
    assert kinds(wait) == ["async_wait"] and int(wait.args[0]) == 2
    assert kinds(consumer) == ["copy"]
    assert "tlspec.barriers" not in func.attrs or not dict(func.attrs["tlspec.barriers"])


def test_a_lowered_cp_async_iteration_commits_one_group():
    func = run_through(tile_ir(copy_kernel({"A_s": ((3, 64, 64), "auto")},
                                           loop_lines(CP_ASYNC_BODY, extent=16))),
                       "LowerTileOp")["main"]
    script = loops(func)["k"].body.script()
    assert script.count("commit_group") == 1 and script.count("wait_group") == 1


def test_a_loop_that_runs_as_written_is_left_alone():
    body = [TMA_BODY[0], "- sync_threads:", TMA_BODY[1]]
    func = injected(loop_lines(body, extent=16))
    assert "k_ahead" not in loops(func)
    assert kinds(loops(func)["k"].body) == ["copy", "copy"]


# -- a multicast pipeline: full slots in every block, release (empty) slots in the issuer -------

# the blocks of a pair share their multicast source
SHARED_REGION = "bx // 2 * 64 : +64, k*64 : +64"
MULTICAST_BODY = [f'- copy_cluster: {{src: "A[{SHARED_REGION}]", dst: "A_s[k % 3, :, :]", '
                  'cluster_mask: 3}', TMA_BODY[1]]


def multicast(stages):
    text = copy_kernel(TILES, stages, cluster="[2]")
    return run_through(tile_ir(text), "InjectSoftwarePipeline")["main"]


def test_a_multicast_pipeline_has_full_and_release_rings():
    func = multicast(loop_lines(MULTICAST_BODY, extent=16))
    barriers = {str(k): [int(x) for x in v] for k, v in func.attrs["tlspec.barriers"].items()}
    # one arrival per iteration on a full slot (the block's own), one per block of the mask on
    # a release slot
    assert barriers == {"_pipeline0": [0, 3, 1], "_pipeline1": [3, 3, 2]}


def test_the_issuer_waits_for_the_release_before_arming_and_issuing():
    func = multicast(loop_lines(MULTICAST_BODY, extent=16))
    issue = stmts(loops(func)["k"].body)[0]
    released, arrive, load = stmts(issue.then_case)
    assert isinstance(released, tirx.IfThenElse) and "bx % 2 == 0" in str(released.condition)
    assert kinds(released) == ["barrier_wait"] and kinds(arrive) == ["barrier_arrive"]
    assert kinds(load) == ["tma_copy"] and int(ops.config_of(load)["cluster_mask"]) == 3
    k = loops(func)["k"].loop_var
    wait = released.then_case
    uses = [1, 1, 0]                # the prologue filled slots 0 and 1
    for value in range(14):
        slot = (value + 2) % 3
        assert at(wait.args[0], k, value) == slot + 3
        # the previous use's release: parity 1 passes a fresh barrier at once
        assert at(wait.args[1], k, value) == (uses[slot] + 1) % 2
        uses[slot] += 1


def test_each_block_releases_its_slot_after_its_consumers_and_a_block_barrier():
    func = multicast(loop_lines(MULTICAST_BODY, extent=16))
    *_, consumer, barrier, release = stmts(loops(func)["k"].body)
    assert kinds(consumer) == ["copy"] and "cta_sync" in str(barrier)
    assert kinds(release) == ["barrier_arrive"]
    assert int(ops.config_of(release)["tlspec.remote_rank"]) == 0   # the issuer's slot
    assert at(release.args[0], loops(func)["k"].loop_var, 7) == 7 % 3 + 3


def test_the_issuer_waits_for_the_last_releases_after_the_loop():
    func = multicast(loop_lines(MULTICAST_BODY, extent=16))
    tail = loops(func)["k_last"]
    assert const(tail.min) == 16 and const(tail.extent) == 3
    assert kinds(tail.body) == ["barrier_wait"]
    for last in range(16, 19):      # slot s was used ceil((16 - s) / 3) times: wait for the last
        wait = tail.body.then_case
        uses = -(-(16 - last % 3) // 3)
        assert at(wait.args[0], tail.loop_var, last) == last % 3 + 3
        assert at(wait.args[1], tail.loop_var, last) == (uses + 1) % 2
