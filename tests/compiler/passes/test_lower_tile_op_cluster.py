"""LowerTileOp's block-to-block copies by SIMT stores (copy_cluster with dst_block, where
InstructionAnnotation chose no bulk copy): the copy loop stores through a pointer mapped into the
destination block, then every thread fences its stores for the async proxy
(`fence.proxy.async.shared::cluster`: a TMA store in the destination block reads the tile
through it), and with a remote_barrier the cluster meets and thread 0 completes the bytes on
the destination's barrier. (The bulk form: test_instruction_annotation_cluster.py; the cluster
barriers: test_cluster_planning.py.)"""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from conftest import ROOT
from pipeline_support import run_through
from test_lower_tile_op import stages

from tlspec.compiler.tileir import build_tile_ir
from tlspec.validate import validate_paths

KERNELS = {k.name: k for k in validate_paths(
    [str(ROOT / "tests" / "gpu" / "cluster" / "cluster.tlspec.yaml")]).kernels}
FENCE = 'T.ptx.fence("proxy", "async", "shared::cluster", "")'


def copy_stage(name: str, pointer: str) -> str:
    kernel = KERNELS[name]
    func = run_through(build_tile_ir(kernel), "LowerTileOp", kernel.target.name)["main"]
    return "\n".join(s.script() for s in stages(func) if s.node.value == pointer)


def test_the_stores_into_another_block_are_fenced_for_the_async_proxy():
    script = copy_stage("dsmem_no_barrier_bf16", "/stages/1/copy_cluster")
    assert "tlspec_cluster_map" in script and script.count(FENCE) == 1
    assert script.index(FENCE) > script.rindex("R_s_remote_1[")    # after the last store


def test_with_a_remote_barrier_the_fence_comes_before_the_cluster_barrier():
    script = copy_stage("dsmem_row127_simt_f32", "/stages/3/copy_cluster")
    fence = script.index(FENCE)
    assert fence < script.index('T.ptx.barrier("cluster", "arrive"', fence) \
        < script.index("tlspec_cluster_complete_tx")


def test_a_bulk_copy_needs_no_fence():
    assert FENCE not in copy_stage("dsmem_swap_bulk_f16", "/stages/3/copy_cluster")
