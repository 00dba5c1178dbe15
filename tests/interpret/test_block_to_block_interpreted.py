"""Block-to-block copies (copy_cluster with dst_block), interpreted: the blocks of each cluster run
together, each copy landing in the block of rank dst_block (tlspec/interpret/clusters.py). The
dsmem kernels of tests/gpu/cluster against numpy (specs/'s swap_pairs_dsmem:
test_example_specs_interpreted.py) (each block's rows replaced by those
of the block that sent them), and what makes such a kernel undefined or hang, each a located
error. Where validation refuses a spec first, the kernel is run regardless (`anyway`) to check
the interpreter's own finding."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from conftest import ROOT
from interpret_support import assert_same, poisoned, random
from references import from_sender
import tlspec.interpret.machine as machine
from tlspec.interpret import InterpretError, Program
from tlspec.validate import validate_paths, validate_text

SPECS = ROOT / "tests" / "gpu" / "cluster" / "cluster.tlspec.yaml"
KERNELS = {k.name: k for k in validate_paths([str(SPECS)]).kernels}


@pytest.mark.parametrize("m", [128, 384])
def test_pairs_swap_through_bulk_copies(m):
    a, b = random((m, 256)), poisoned((m, 256))
    Program(KERNELS["dsmem_swap_bulk_f16"]).run({"A": a, "B": b})
    assert_same(b, from_sender(a, 64, 2))


@pytest.mark.parametrize("m", [128, 256])
def test_a_ring_of_8_over_three_rounds(m):
    a, b = random((3, m, 64), "float32"), poisoned((3, m, 64), "float32")
    Program(KERNELS["dsmem_ring8_bulk_f32"]).run({"A": a, "B": b})
    assert_same(b, np.stack([from_sender(a[r], 16, 8) for r in range(3)]))


@pytest.mark.parametrize("name, rows, cluster, m, n", [
    ("dsmem_row127_simt_f32", 1, 4, 12, 127), ("dsmem_rows31_simt_f32", 4, 4, 32, 31)])
def test_rows_sent_by_simt_stores(name, rows, cluster, m, n):
    a, b = random((m, n), "float32"), poisoned((m, n), "float32")
    Program(KERNELS[name]).run({"A": a, "B": b})
    assert_same(b, from_sender(a, rows, cluster))


def test_a_copy_without_remote_barrier_is_there_after_the_stage():
    a, b = random((192, 64), "bfloat16"), poisoned((192, 64), "bfloat16")
    Program(KERNELS["dsmem_no_barrier_bf16"]).run({"A": a, "B": b})
    assert_same(b, from_sender(a, 32, 2))


# -- small kernels: a row per block, sent to another block of a cluster of 4 ----------------------

def ring(dst_block: str = "(bx + 1) % 4", *, expect_tx: str = "128", wait: bool = True,
         src: str = "A_s", dst: str = "R_s", cluster: str = "[4]", around: str | None = None):
    """Spec text: each block loads its row of A into A_s, copies `src` into `dst` of block
    `dst_block` with remote_barrier bar, waits and stores R_s to its row of B; `around`: the
    copy inside that `for` loop header instead."""
    copy = (f"- copy_cluster: {{src: {src}, dst: {dst}, dst_block: \"{dst_block}\", "
            "remote_barrier: bar}")
    if around:
        copy = f"- for: {{{around}, stages: [{copy[2:]}]}}"
    stages = ["- alloc_barrier: {name: bar}",
              f"- barrier_arrive: {{barrier: bar, expect_tx: {expect_tx}}}",
              '- copy: {src: "A[bx, :]", dst: A_s}', copy]
    stages += ["- barrier_wait: {barrier: bar, parity: 0}"] if wait else []
    stages += ['- copy: {src: R_s, dst: "B[bx, :]"}']
    return textwrap.dedent(f"""\
        tlspec: 1
        name: ring
        target: sm_90a
        dims: {{M: {{symbolic: true, multiple_of: 4}}}}
        buffers:
          A:   {{scope: global, shape: [M, 32], dtype: float32, io: in}}
          B:   {{scope: global, shape: [M, 32], dtype: float32, io: out}}
          A_s: {{scope: shared, shape: [32], dtype: float32}}
          R_s: {{scope: shared, shape: [32], dtype: float32}}
        launch: {{grid: {{bx: M}}, threads: 32, cluster: {cluster}}}
        stages:
        """) + "\n".join("  " + s for s in stages) + "\n"


def anyway(text: str) -> Program:
    """The spec's kernel ready to interpret, even where validation refuses it."""
    result = validate_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(machine, "check_kernel", lambda kernel, diags: None)
        return Program(result.kernels[0])


def run(text: str, m: int = 8) -> tuple[np.ndarray, np.ndarray]:
    a, b = random((m, 32), "float32"), poisoned((m, 32), "float32")
    anyway(text).run({"A": a, "B": b})
    return a, b


def error(text: str, m: int = 8) -> str:
    with pytest.raises(InterpretError) as err:
        run(text, m)
    return str(err.value)


@pytest.mark.parametrize("shift", [1, 3])
def test_rings_in_both_directions(shift):
    a, b = run(ring(f"(bx + {shift}) % 4"))
    assert validate_text(ring(f"(bx + {shift}) % 4")).ok
    assert_same(b, from_sender(a, 1, 4, shift))


def test_ranks_count_x_fastest_in_a_2_by_2_cluster():
    text = ring("(bx % 2 + 2 * (by % 2) + 1) % 4", cluster="[2, 2]").replace(
        "grid: {bx: M}", "grid: {bx: 4, by: M // 4}").replace('"A[bx, :]"', '"A[by * 4 + bx, :]"') \
        .replace('"B[bx, :]"', '"B[by * 4 + bx, :]"')
    a, b = run(text, 8)
    want = np.empty_like(a)
    for by in range(2):
        for bx in range(4):
            rank = bx % 2 + 2 * (by % 2)
            peer = (rank + 1) % 4                   # where block (bx, by) sends its row
            tx, ty = bx - bx % 2 + peer % 2, by - by % 2 + peer // 2
            want[ty * 4 + tx] = a[by * 4 + bx]
    assert_same(b, want)


def test_reading_the_tile_before_the_wait():
    assert ("copy in block (bx=0): reads R_s[0], which a block-to-block copy completes on 'bar' "
            "in its phase 0, before a barrier_wait has seen that phase complete") \
        in error(ring(wait=False))


def test_announcing_more_bytes_than_land_hangs():
    assert "hangs: phase 0 of 'bar' (parity 0) never completes: 128 bytes announced with " \
           "expect_tx have not landed" in error(ring(expect_tx="256"))


def test_announcing_fewer_bytes_than_land():
    assert "the last 64 bytes of the copy count in phase 1 (expect_tx announced too few)" \
        in error(ring(expect_tx="64"))


def test_two_blocks_writing_one_tile():
    message = error(ring("0"))
    assert ("copy_cluster into block (bx=0) in block (bx=1): writes elements of 'R_s' that "
            "another block's copy of this stage writes too") in message


def test_a_copy_into_the_tile_the_receiver_sends_from():
    assert "copy_cluster into block (bx=1) in block (bx=0): writes elements of 'A_s' while that " \
           "block's own copy of this stage reads them" in error(ring(dst="A_s"))


def test_a_rank_outside_the_cluster():
    assert "copy_cluster in block (bx=3): dst_block is 4 at this call, outside the ranks 0 to 3 " \
           "of the cluster's 4 blocks" in error(ring("bx % 4 + 1"))


def test_blocks_running_different_copies():
    assert "copy_cluster in block (bx=1), k = 1: block (bx=0) of its cluster ends without " \
           "reaching it: every block of a cluster must run the same block-to-block copies" \
        in error(ring(around="var: k, extent: bx % 4 + 1"), m=4)


def test_a_grid_of_part_of_a_cluster():
    assert "the grid extent of 'bx' is 6 at this call, not a multiple of 4, the cluster's " \
           "extent on that axis" in error(ring().replace("{symbolic: true, multiple_of: 4}",
                                                         "symbolic"), m=6)


def test_blocks_reaching_different_copies():
    text = ring(around="var: k, extent: bx % 2").replace(
        "  - barrier_wait:", '  - copy_cluster: {src: A_s, dst: R_s, dst_block: "(bx + 1) % 4"}\n'
                             "  - barrier_wait:")
    assert "16:5: error: copy_cluster in block (bx=0): block (bx=1) of its cluster reaches the " \
           "copy_cluster of line 15 instead" in error(text, m=4)
