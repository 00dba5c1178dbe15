"""Cluster kernels lowered by tlspec's passes and run whole on the CPU by tests/tir_run.py, the
blocks of a cluster together (tests/tir_cluster.py: mapa, the cluster barrier, multicast TMA
loads, bulk copies and remote mbarrier operations as PTX defines them): the multicasts of
tests/gpu/cluster against the interpreter, the block-to-block copies against numpy (the
interpreter's own tests check it on them: tests/interpret/test_block_to_block_interpreted.py;
specs/'s multicast runs with the other spec kernels in test_kernels_on_cpu.py). The GPU tests (tests/gpu/test_cluster_gpu.py) run the same kernels
compiled; this checks their lowering on every commit where no GPU is."""
import os
import sys

import numpy as np
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from conftest import ROOT
from pipeline_support import run_through
from tir_async import EAGER, LAZY
from tir_run import run_kernel
from tvm import tirx

sys.path.insert(0, str(ROOT / "tests" / "interpret"))
from example_kernels import fitted, inputs, small  # noqa: E402

from tlspec.compiler.analysis import STAGE_ATTR
from tlspec.compiler.tileir import build_tile_ir
from tlspec.interpret import Program
from tlspec.validate import validate_paths, validate_text

CLUSTER = ROOT / "tests" / "gpu" / "cluster" / "cluster.tlspec.yaml"
KERNELS = {k.name: k for k in validate_paths([str(CLUSTER)]).kernels}
SPECS = {k.name: k for k in validate_paths([str(ROOT / "specs" / "cluster_multicast.tlspec.yaml")
                                            ]).kernels}
SLOW = {"mc_pipe_i8"}           # 25 s in the evaluator: run when TLSPEC_CPU_ALL=1


def lowered(kernel):
    return run_through(build_tile_ir(kernel), "ThreadSync", kernel.target.name)["main"]


def bits(shape, dtype, seed):
    """Random bits of `dtype`'s width, never zero."""
    kind = {2: np.uint16, 4: np.uint32}[np.dtype(dtype).itemsize]
    return np.random.default_rng(seed).integers(1, np.iinfo(kind).max, shape, dtype=kind)


def peer_blocks(a: np.ndarray, rows: int, cluster: int) -> np.ndarray:
    """`a` with each block of `rows` rows replaced by the one a rank before it in its cluster of
    `cluster` blocks (the block that sent it)."""
    blocks = a.reshape(-1, cluster, rows, *a.shape[1:])
    return np.roll(blocks, 1, axis=1).reshape(a.shape)


@pytest.mark.parametrize("name, wanted", [
    ("mc_pair_f16", dict(B=4, M=40, N=72)), ("mc_pair_bf16", dict(B=2, M=1, N=8)),
    ("mc_pair_f32", dict(B=4, M=33, N=40)), ("mc_pair_i8", dict(B=2, M=40, N=80)),
    ("mc_2x2_partial_mask_f16", {}), ("mc_loop_f16", dict(B=4, M=40, N=72)),
    ("cluster_plain_copy_i8", dict(M=16, L=8)), ("mc_16_f32", dict(B=16, M=9, N=40)),
    ("mc_pipe_f16", dict(B=4, M=40, N=72)), ("mc_pipe_f16", dict(B=2, M=200, N=8)),
    ("mc_pipe_i8", {}), ("mc_pipe_reentered_bf16", {})])
@pytest.mark.parametrize("completion", [EAGER, LAZY])
def test_the_multicasts_leave_what_the_interpreter_does(name, wanted, completion):
    if name in SLOW and not os.environ.get("TLSPEC_CPU_ALL"):
        pytest.skip("seconds in the evaluator: TLSPEC_CPU_ALL=1 runs it")
    kernel = KERNELS[name]
    dims = fitted(kernel, wanted)
    arrays = inputs(kernel, dims, seed=3)
    expected = {n: a.copy() for n, a in arrays.items()}
    Program(kernel).run(expected)
    run_kernel(lowered(kernel), arrays, dims, completion=completion)
    for n in arrays:
        assert np.array_equal(arrays[n], expected[n]), n


@pytest.mark.parametrize("name, shape, dtype, rows, cluster", [
    ("dsmem_swap_bulk_f16", (256, 256), np.float16, 64, 2),
    ("dsmem_ring8_bulk_f32", (3, 128, 64), np.float32, 16, 8),
    ("dsmem_row127_simt_f32", (8, 127), np.float32, 1, 4),
    ("dsmem_rows31_simt_f32", (16, 31), np.float32, 4, 4),
    ("dsmem_no_barrier_bf16", (64, 64), np.float16, 32, 2)])
@pytest.mark.parametrize("completion", [EAGER, LAZY])
def test_a_block_to_block_copy_delivers_the_tile_of_the_rank_before(name, shape, dtype, rows,
                                                                   cluster, completion):
    a = bits(shape, dtype, 5)
    b = np.full(shape, 0x5A5A5A5A, np.uint32).astype(a.dtype)        # poisoned
    run_kernel(lowered(KERNELS[name]), {"A": a, "B": b}, completion=completion)
    want = np.stack([peer_blocks(x, rows, cluster) for x in a]) if len(shape) == 3 \
        else peer_blocks(a, rows, cluster)
    assert np.array_equal(b, want)


@pytest.mark.parametrize("completion", [EAGER, LAZY])
def test_the_spec_swap_through_distributed_shared_memory(completion):
    kernel = small_swap()
    a, b = bits((256, 256), np.float16, 6), np.full((256, 256), 0x5A5A, np.uint16)
    run_kernel(lowered(kernel), {"A": a, "B": b}, completion=completion)
    assert np.array_equal(b, peer_blocks(a, 64, 2))


def small_swap():
    """specs/'s swap_pairs_dsmem at 256 x 256."""
    text = (ROOT / "specs" / "cluster_multicast.tlspec.yaml").read_text()
    (document,) = [d for d in text.split("\n---\n") if "name: swap_pairs_dsmem" in d]
    return validate_text(document.replace("M: 8192", "M: 256").replace("N: 8192", "N: 256"),
                         "swap (small)").kernels[0]


def without_stage(func, pointer: str, part: str):
    """`func` without the part `part` of the stage at `pointer` (its AttrStmt)."""
    def drop(attr):
        if attr.attr_key == STAGE_ATTR and str(attr.node.value) == pointer and \
                str(attr.value.value) == part:
            return tirx.Evaluate(0)
        return attr

    return func.with_body(tvm_ffi.structural_map(func.body, (tirx.AttrStmt, drop), order="post"))


def test_the_cluster_barrier_before_reading_stores_of_another_block_is_needed():
    """Without the cluster barrier the compiler puts between a block's SIMT stores into its
    peer's tile and its reads of its own, a block reads its tile before its peer wrote it: the
    evaluator sees what a GPU may show."""
    func = without_stage(lowered(KERNELS["dsmem_no_barrier_bf16"]), "/stages/2/copy",
                         "sync_cluster:sync")
    a, b = bits((64, 64), np.float16, 5), np.full((64, 64), 0x5A5A, np.uint16)
    run_kernel(func, {"A": a, "B": b})
    assert not np.array_equal(b, peer_blocks(a, 32, 2))


def two_by_two(mask: int):
    """tests/gpu/cluster's mc_2x2_partial_mask_f16 with `cluster_mask: mask`."""
    text = CLUSTER.read_text()
    (document,) = [d for d in text.split("\n---\n") if "name: mc_2x2_partial_mask_f16" in d]
    return validate_text(document.replace("cluster_mask: 6", f"cluster_mask: {mask}"),
                         f"mc_2x2 (mask {mask})").kernels[0]


@pytest.mark.parametrize("mask", [3, 5])
def test_a_multicast_in_a_2x2_cluster_reaches_the_ranks_of_its_mask_x_fastest(mask):
    """A cluster's ranks run x fastest (%cluster_ctarank: rank = bx % 2 + 2 * (by % 2)). The
    2 x 2 kernel's own mask 6 (ranks 1 and 2) names the same blocks when y runs fastest; masks 3
    (ranks 0, 1: one row of the cluster) and 5 (ranks 0, 2: one column) do not, so a rank
    counted the other way round multicasts into blocks that never wait for it and leaves others
    waiting (a mutation test's find: cluster_rank with z fastest passed every other test)."""
    kernel = two_by_two(mask)
    w = bits((64, 64), np.float16, 7)
    z = bits((4, 4, 64, 64), np.float16, 8)
    out = np.full((4, 4, 64, 64), 0x5A5A, np.uint16)
    run_kernel(lowered(kernel), {"W": w, "Z": z, "out": out})
    for by in range(4):
        for bx in range(4):
            reached = mask >> (bx % 2 + 2 * (by % 2)) & 1
            assert np.array_equal(out[by, bx], w if reached else z[by, bx]), (by, bx)
