"""The barriers of block-to-block copies (tlspec/rules/cluster_phases.py), followed in each block
of the cluster: a block that no copy reaches but that announces bytes and waits hangs (refused
at the copy's dst_block); where the copies form a permutation of the ranks, a wait is checked
against the phase they complete as for TMA loads. Every correct way of sending is accepted (a
permutation along one or two cluster axes or moving with the loop, a gather whose receiver
alone announces bytes, two stages that together reach every block); where a block's
destination is not certain, nothing is said. sync_order.py keeps a receiver from reading the
tile before its wait, unless the tile is named with the sender's block index."""
import textwrap

import pytest
from test_barrier_phases import errors, only_error

HEAD = """\
tlspec: 1
name: ring
target: sm_90a
dims:
  M: {symbolic: true, multiple_of: 128}
buffers:
  A:   {scope: global, shape: [8, M, 64], dtype: float32, io: in}
  B:   {scope: global, shape: [8, M, 64], dtype: float32, io: out}
  A_s: {scope: shared, shape: [16, 64], dtype: float32}
  R_s: {scope: shared, shape: [2, 16, 64], dtype: float32}
  G_s: {scope: shared, shape: [4, 16, 64], dtype: float32}
launch:
  grid: {bx: M // 16, by: 4}
  threads: 128
  cluster: CLUSTER
stages:
"""

ARRIVE = "- barrier_arrive: {barrier: BAR, expect_tx: 4096}\n"
SEND = """\
- copy: {src: "A[K, bx*16 : +16, :]", dst: A_s}
- copy_cluster: {src: A_s, dst: "R_s[S, :, :]", dst_block: DST, remote_barrier: BAR}
"""
USE = """\
- barrier_wait: {barrier: BAR, parity: PARITY}
- copy: {src: "R_s[S, :, :]", dst: "B[K, bx*16 : +16, :]"}
"""


def body(dst: str = "(bx + 1) % 4", parity: str = "r % 2", bar: str = "bar", slot: str = "0",
         k: str = "r", send_bar: str | None = None) -> str:
    names = {"DST": dst, "PARITY": parity, "S": slot, "K": k}
    text = ARRIVE.replace("BAR", bar) + SEND.replace("BAR", send_bar or bar) + USE.replace(
        "BAR", bar)
    for name, value in names.items():
        text = text.replace(name, value)
    return text


def loop(stages: str, extent: str = "8") -> str:
    return "- for:\n    var: r\n    extent: " + extent + "\n    stages:\n" + textwrap.indent(
        stages, "      ")


def kernel(*parts: str, cluster: str = "[4]", alloc: str = "{name: bar}") -> str:
    stages = f"- alloc_barrier: {alloc}\n" + "".join(parts)
    return HEAD.replace("CLUSTER", cluster) + textwrap.indent(stages, "  ")


SLOTS = '"bar[r % 2]"'
GATHER = """\
- barrier_arrive: {barrier: bar, expect_tx: "16384 * (1 - min(bx % 4, 1))"}
- copy: {src: "A[r, bx*16 : +16, :]", dst: A_s}
- copy_cluster: {src: A_s, dst: "G_s[bx % 4, :, :]", dst_block: 0, remote_barrier: bar}
- barrier_wait: {barrier: bar, parity: r % 2}
- copy: {src: "G_s[r % 4, :, :]", dst: "B[r, bx*16 : +16, :]"}
"""


@pytest.mark.parametrize("text", [
    kernel(body(k="0", parity="0")),                        # a swap of tiles, once
    kernel(loop(body())),                                   # a ring, round after round
    kernel(loop(body(), extent="M // 128")),
    kernel(loop(body(dst="(bx + 3) % 4"))),
    kernel(loop(body(dst="(bx + r) % 4"))),                 # the permutation moves each round
    kernel(loop(body(dst="(bx + 1) % 2 + 2 * (by % 2)")), cluster="[2, 2]"),
    # two slots, each a phase every other round; the arrival after the copy
    kernel(loop(body(bar=SLOTS, slot="r % 2", parity="r // 2 % 2")),
           alloc="{name: bar, count: 2}"),
    kernel(loop(body().replace(ARRIVE.replace("BAR", "bar"), "").replace(
        "- barrier_wait", ARRIVE.replace("BAR", "bar") + "- barrier_wait"))),
    # every block sends to rank 0, which alone announces bytes (the others none: no phase to
    # wait for, their waits return at once)
    kernel(loop(GATHER)),
    # two stages that together give every block two copies
    kernel(loop(body(dst="bx % 4 // 2 * 2").replace("expect_tx: 4096", "expect_tx: 8192")
                .replace("- barrier_wait", '- copy_cluster: {src: A_s, dst: "R_s[1, :, :]", '
                         'dst_block: "bx % 4 // 2 * 2 + 1", remote_barrier: bar}\n'
                         "- barrier_wait"))),
    # not certain: a destination that depends on a block index outside the cluster, one rank
    # a round (rank 1 waits in round 0, and rank 0's copy of round 1 may complete its phase),
    # a loop whose trip count differs between the blocks
    kernel(loop(body(dst="(bx + by) % 4", parity="0"))),
    kernel(loop(body(dst="r % 4"))),
    kernel(loop(body(parity="0"), extent="bx % 4 + 1")),
])
def test_correct_or_uncertain_cluster_copies_are_accepted(text):
    assert not errors(text), [d.render() for d in errors(text)]


@pytest.mark.parametrize("dst, rank, receives", [
    ("0", 1, "rank 0 receives 4 copies, ranks 1, 2, 3 none"),
    ("bx % 2", 2, "ranks 0, 1 receive 2 copies each, ranks 2, 3 none"),
    ("3 - bx % 4 // 2", 0, "ranks 2, 3 receive 2 copies each, ranks 0, 1 none"),
])
def test_a_block_no_copy_reaches_hangs(dst, rank, receives):
    error = only_error(kernel(loop(body(dst=dst))))
    assert error.message.startswith(f"no copy_cluster on 'bar' ever lands in the block of "
                                    f"cluster rank {rank}, yet its arrivals announce 4096 bytes "
                                    "for phase 0 of 'bar' in the iteration r = 0: its wait")
    assert error.message.endswith(receives)
    assert error.pointer.endswith("/copy_cluster/dst_block")
    assert "'(bx + 1) % 4'" in error.hint


def test_a_block_no_copy_reaches_hangs_outside_loops():
    error = only_error(kernel(body(dst="0", k="0", parity="0"), cluster="[2]"))
    assert "rank 1, yet its arrivals announce 4096 bytes for phase 0 of 'bar': its" in \
        error.message


@pytest.mark.parametrize("parity, r, hint", [
    ("0", 1, "'r % 2'"), ("(r + 1) % 2", 0, "'r % 2'"),
])
def test_a_ring_waiting_for_the_wrong_phase(parity, r, hint):
    error = only_error(kernel(loop(body(parity=parity))))
    assert error.message.startswith(f"this wait names the wrong phase in the iteration r = {r} "
                                    "of the block of cluster rank 0")
    assert error.pointer.endswith("/barrier_wait/parity") and hint in error.hint


def test_two_slots_waited_for_as_one_barrier():
    error = only_error(kernel(loop(body(bar=SLOTS, slot="r % 2")),
                              alloc="{name: bar, count: 2}"))
    assert "phase 0 of 'bar[1]'" in error.message and "'r // 2 % 2'" in error.hint


def test_copies_on_one_slot_while_the_arrivals_go_to_two():
    error = only_error(kernel(loop(body(bar=SLOTS, slot="r % 2", parity="r // 2 % 2",
                                        send_bar='"bar[0]"')),
                              alloc="{name: bar, count: 2}"))
    assert error.message.startswith("this copy completes on 'bar[0]' in the iteration r = 1")
    assert error.pointer.endswith("/copy_cluster/remote_barrier")


def test_a_receiver_reading_the_tile_before_its_wait():
    early = body(k="0", parity="0").replace(USE.split("\n")[1].replace("S", "0").replace(
        "K", "0") + "\n", "")
    text = kernel(early.replace("- barrier_wait", '- copy: {src: "R_s[0, :, :]", dst: '
                                '"B[0, bx*16 : +16, :]"}\n- barrier_wait'))
    error = only_error(text)
    assert error.message.startswith("copy reads R_s[0, :, :], which a copy from another block "
                                    "of the cluster")


def test_a_tile_named_with_the_senders_block_index_is_not_followed():
    """The peer (rank 1 - e) writes G_s[1 - e] in block e; block e reads G_s[e] early."""
    text = kernel(ARRIVE.replace("BAR", "bar")
                  + '- copy: {src: "A[0, bx*16 : +16, :]", dst: A_s}\n'
                  + '- copy_cluster: {src: A_s, dst: "G_s[bx % 2, :, :]", dst_block: '
                    '(bx + 1) % 2, remote_barrier: bar}\n'
                  + '- copy: {src: "G_s[bx % 2, :, :]", dst: "B[1, bx*16 : +16, :]"}\n'
                  + "- barrier_wait: {barrier: bar, parity: 0}\n", cluster="[2]")
    assert not errors(text), [d.render() for d in errors(text)]
