"""InstructionAnnotation on copy_cluster: a multicast is one TMA copy (or an error at the stage
saying why it cannot be); a block-to-block copy is one bulk copy where it has a remote_barrier to
complete on and moves one contiguous, 16-byte aligned run of a multiple of 16 bytes between
row-major tiles, else a SIMT loop whose reason says which of these failed."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from pipeline_support import run_through, tile_ir
from test_cluster_planning import kernel
from tvm.tirx.tile_primitive import TilePrimitiveCall

from tlspec.compiler import ops
from tlspec.compiler.errors import take_stage_error


def decisions(stages, tiles="[64, 64]") -> list[tuple[str, str]]:
    """(instruction, why) of each copy_cluster, in program order."""
    func = run_through(tile_ir(kernel(stages, tiles=tiles)), "InstructionAnnotation")["main"]
    found = []
    tvm_ffi.structural_walk(func.body, (TilePrimitiveCall, lambda c: found.append(
        ops.config_of(c)) if ops.kind_of(c) == "copy_cluster" else None), order="pre")
    return [(c["tlspec.instruction"], c["tlspec.why"]) for c in found]


def decision(stages, tiles="[64, 64]"):
    return decisions(stages, tiles)[0]


def barrier(nbytes: int) -> list[str]:
    return ["- alloc_barrier: {name: bar}", f"- barrier_arrive: {{barrier: bar, expect_tx: {nbytes}}}"]


def send(src="A_s", dst="R_s", barrier=", remote_barrier: bar"):
    return f"- copy_cluster: {{src: '{src}', dst: '{dst}', dst_block: (bx + 1) % 2{barrier}}}"


def test_a_multicast_is_one_tma_copy_issued_by_the_masks_lowest_rank():
    instruction, why = decision(["- copy_cluster: {src: 'A[0 : +64, 0 : +64]', dst: A_s, "
                                 "cluster_mask: 2}"])
    assert instruction == "tma" and why.startswith("TMA multicast: the block of rank 1 loads")


def test_a_multicast_tma_cannot_do_is_an_error_at_the_stage():
    text = kernel(["- copy_cluster: {src: 'A[0 : +64, 0 : +64]', dst: A_s, cluster_mask: 3}"])
    with pytest.raises(Exception) as raised:
        run_through(tile_ir(text.replace("N: 1024", "N: {symbolic: true}")),
                    "InstructionAnnotation")
    error = take_stage_error(raised.value)
    assert error.message.startswith("this copy_cluster multicast cannot be one TMA copy: a row "
                                    "stride of 'A' (N elements) is not proven")


@pytest.mark.parametrize("src, cluster, mask", [
    ("A[bx*64 : +64, 0 : +64]", "[2]", 3),                # the ranks' bx differ
    ("A[(bx + by) % 4 * 64 : +64, 0 : +64]", "[2, 2]", 5),  # ranks 0 and 2 differ in by
])
def test_a_multicast_whose_source_differs_between_its_blocks_is_refused(src, cluster, mask):
    """One TMA load delivers one tile: the blocks of the mask must agree on it (a source
    indexed by bx in a cluster along bx used to compile, each block receiving rank 0's tile)."""
    text = kernel([f"- copy_cluster: {{src: '{src}', dst: A_s, cluster_mask: {mask}}}"],
                  cluster=cluster)
    with pytest.raises(Exception) as raised:
        run_through(tile_ir(text), "InstructionAnnotation")
    error = take_stage_error(raised.value)
    assert error.pointer.endswith("/copy_cluster/src")
    assert "source region may differ between the blocks of mask" in error.message


@pytest.mark.parametrize("src, cluster, mask", [
    ("A[bx // 2 * 64 : +64, by*64 : +64]", "[2]", 3),     # a pair shares bx // 2
    ("A[by*64 : +64, 0 : +64]", "[2, 2]", 3),             # ranks 0 and 1: same by
    ("A[(bx // 2 + by) % 16 * 64 : +64, 0 : +64]", "[2]", 3),
])
def test_a_multicast_whose_blocks_share_the_source_is_one_tma_copy(src, cluster, mask):
    text = kernel([f"- copy_cluster: {{src: '{src}', dst: A_s, cluster_mask: {mask}}}"],
                  cluster=cluster)
    func = run_through(tile_ir(text), "InstructionAnnotation")["main"]
    found = []
    tvm_ffi.structural_walk(func.body, (TilePrimitiveCall, lambda c: found.append(
        ops.config_of(c)) if ops.kind_of(c) == "copy_cluster" else None), order="pre")
    assert found[0]["tlspec.instruction"] == "tma"


def test_a_whole_tile_with_a_remote_barrier_is_one_bulk_copy():
    assert decision(barrier(8192) + [send()]) == (
        "bulk", "one cp.async.bulk of 8192 bytes into the destination block's shared memory, "
                "completing on its remote_barrier")


@pytest.mark.parametrize("stages, tiles, reason", [
    ([send(barrier="")], "[64, 64]", "no remote_barrier for a bulk copy to complete on"),
    (barrier(3968) + [send("A_s[:, 0:31]", "R_s[:, 0:31]")], "[64, 64]",
     "the copied part of 'A_s' is not contiguous"),
    (barrier(254) + [send()], "[127]", "the copied part of 'A_s' (254 bytes) is not 16-byte aligned "
                                  "and a multiple of 16 bytes long"),
    (barrier(16) + [send("A_s[1:3, :]", "R_s[1:3, :]")], "[4, 4]",
     "the copied part of 'A_s' (16 bytes) is not 16-byte aligned"),
])
def test_other_block_to_block_copies_are_simt_stores_and_say_why(stages, tiles, reason):
    instruction, why = decision(stages, tiles)
    assert instruction == "sync" and why.startswith(
        "SIMT stores into the destination block's shared memory (" + reason), why


LOAD = "- copy: {src: 'A[bx*64 : +64, by*64 : +64]', dst: A_s}"
WAIT = "- barrier_wait: {barrier: bar, parity: 0}"


def test_a_source_written_again_before_the_copy_is_waited_for_is_read_by_simt_stores():
    """A bulk copy completes only on the receiver's barrier: a stage that rewrites its source
    before a barrier_wait sees it land may overwrite what it has not read yet, which the
    interpreter reads at the copy (hunt_src_rewritten_f16 of tests/gpu/dsmem_hunt: the evaluator
    delivered the reloaded tile). The SIMT stores read it during the stage."""
    instruction, why = decision(barrier(8192) + [LOAD, send(), LOAD, WAIT])
    assert instruction == "sync" and why.startswith(
        "SIMT stores into the destination block's shared memory ('A_s' is written again at "
        "/stages/4/copy before a barrier_wait sees this copy land"), why
    assert decision(barrier(8192) + [LOAD, send(), WAIT, LOAD])[0] == "bulk"


def prefetch(slot: str) -> list[str]:
    """A copy of slot 0 before the loop; iteration k loads and sends slot `slot` of A_s (one of
    (k + 1) % 2) on full[(k + 1) % 2], then waits for the copy of iteration k - 1."""
    def send_slot(k):
        return (f"- copy_cluster: {{src: '{slot.format(k=k)}', dst: 'R_s[{k} % 2, :, :]', "
                f"dst_block: (bx + 1) % 2, remote_barrier: 'full[{k} % 2]'}}")

    def load(k):
        return f"- copy: {{src: 'A[bx*64 : +64, {k}*64 : +64]', dst: '{slot.format(k=k)}'}}"

    body = ["- barrier_arrive: {barrier: 'full[(k + 1) % 2]', expect_tx: 8192}",
            load("(k + 1)"), send_slot("(k + 1)"),
            "- barrier_wait: {barrier: 'full[k % 2]', parity: k // 2 % 2}"]
    return ["- alloc_barrier: {name: full, count: 2}",
            "- barrier_arrive: {barrier: 'full[0]', expect_tx: 8192}", load("0"), send_slot("0"),
            "- for:", "    var: k", "    extent: 4", "    stages:", *["      " + s for s in body],
            "- barrier_wait: {barrier: 'full[0]', parity: 0}"]


@pytest.mark.parametrize("slot, instruction", [
    ("A_s[{k} % 2, :, :]", "bulk"),     # the next load writes the other slot
    ("A_s[0, :, :]", "sync"),           # the next load rewrites it before the wait for it
])
def test_a_copy_waited_for_in_the_next_iteration_is_bulk_only_if_its_slot_waits(slot,
                                                                                instruction):
    """Prefetch: iteration k sends A_s's slot of k + 1 and waits for the copy of iteration
    k - 1; iteration k + 1 reloads a staging slot before it waits for iteration k's copy (the
    hunt's hunt_prefetch_next_f32 and hunt_prefetch_one_staging_f32)."""
    assert [d[0] for d in decisions(prefetch(slot), tiles="[2, 64, 64]")] == [instruction] * 2
