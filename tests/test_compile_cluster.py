"""Thread block clusters compile: every kernel of tests/gpu/cluster/ (multicast, bulk and SIMT
block-to-block copies, a 3-D cluster launch) to a cubin through NVRTC, with the cluster in its
launch manifest, the grid checks a symbolic grid needs, and the instructions each form lowers to
(the GPU tests run them: tests/gpu/test_cluster_gpu.py)."""
import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT

from tlspec.compiler.driver import compile_kernel
from tlspec.validate import validate_paths

SPECS = ROOT / "tests" / "gpu" / "cluster" / "cluster.tlspec.yaml"


@pytest.fixture(scope="module")
def artifacts():
    result = validate_paths([str(SPECS)])
    assert result.ok, result.diagnostics.render_text()
    return {k.name: compile_kernel(k) for k in result.kernels}


def test_every_kernel_carries_its_cluster(artifacts):
    clusters = {name: a.manifest["cluster"] for name, a in artifacts.items()}
    assert clusters["mc_pair_f16"] == [2, 1, 1] and clusters["dsmem_swap_bulk_f16"] == [2, 1, 1]
    assert clusters["mc_2x2_partial_mask_f16"] == [2, 2, 1]
    assert clusters["cluster_plain_copy_i8"] == [2, 2, 2]
    assert all(a.cubin[:4] == b"\x7fELF" for a in artifacts.values())


def test_a_symbolic_grid_is_checked_to_be_whole_clusters(artifacts):
    checks = [c for c in artifacts["dsmem_ring8_bulk_f32"].manifest["checks"]
              if "cluster" in c.get("message", "")]
    assert checks == [{"expr": {"op": "%", "args": [{"op": "//", "args": [{"dim": "M"}, 16]}, 8]},
                       "op": "==", "bound": 0,
                       "message": "grid index 'bx' (blockIdx.x) must have a multiple of 8 "
                                  "blocks, the cluster's extent on that axis"}]


def test_a_multicast_is_issued_by_the_masks_lowest_rank_into_every_receiver(artifacts):
    source = artifacts["mc_2x2_partial_mask_f16"].source
    assert "multicast__cluster" in source
    # receivers: ranks 1 and 2 of mask 0b0110, rank = bx % 2 + 2 * (by % 2); issuer: rank 1
    rank = "(((((int)blockIdx.y) & 1) * 2) + (((int)blockIdx.x) & 1))"
    assert f"if (((6 >> {rank}) & 1) == 1) {{" in source
    assert f"if ({rank} == 1) {{" in source


def test_block_to_block_copies_lower_to_a_bulk_copy_or_mapped_stores(artifacts):
    bulk = artifacts["dsmem_swap_bulk_f16"].source
    assert "tlspec_cluster_bulk_copy(tlspec_cluster_map_shared(" in bulk
    assert "__device__ __forceinline__ void tlspec_cluster_bulk_copy" in bulk   # the helpers
    simt = artifacts["dsmem_rows31_simt_f32"].source
    assert "tlspec_cluster_map((&" in simt and "tlspec_cluster_complete_tx(" in simt
    assert "tlspec_cluster_bulk_copy(" not in simt.split("__global__")[-1]
    plain = artifacts["cluster_plain_copy_i8"].source
    assert "tlspec_cluster" not in plain and "barrier_cluster" not in plain.split("__global__")[-1]


def test_a_multicast_pipeline_releases_slots_to_its_issuer_without_cluster_barriers(artifacts):
    kernel = artifacts["mc_pipe_f16"].source.split("__global__")[-1]
    assert kernel.count("multicast__cluster") == 2              # the prologue's and the loop's
    assert kernel.count("barrier_cluster_arrive") == 1          # once, before the prologue
    assert "tlspec_cluster_arrive(tlspec_cluster_map_shared(" in kernel
    assert "mbarrier.arrive.release.cluster.shared::cluster.b64" in artifacts["mc_pipe_f16"].source
