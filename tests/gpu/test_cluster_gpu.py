"""Thread block clusters on the GPU (tests/gpu/cluster/, compiled by `tlspec compile
tests/gpu/cluster -o build/tlspec_cluster`): every kernel launched with its cluster
(cuLaunchKernelEx), its outputs poisoned and guarded, compared bit-exactly with torch.

- TMA multicast (`copy_cluster` with `cluster_mask`): pairs in every dtype with ragged tiles, a
  2 x 2 cluster whose mask reaches two of its four blocks (the others keep their own tile), a loop
  of multicasts into one tile (cluster barriers between rounds, each block's mbarrier phase),
  pipelined multicasts (1, 2 and many iterations, int8 to clusters of 8, a partial mask beside
  each block's own loads, a pipeline entered again);
- block to block (`dst_block`): a bulk copy between pairs, a ring of 8 over 3 rounds reusing its
  tiles, SIMT stores where a bulk copy cannot go (a row of 127 float32, rows of 31 inside a
  32-column tile), and a copy without remote_barrier (the compiler's cluster barrier);
- a 3-D cluster launch of a kernel whose blocks share nothing, and a non-portable cluster of 16
  (one multicast to all of it).

Imports only the compiled package, torch and pytest (TLSPEC_CLUSTER: the package directory).
"""
import pytest
from gpu_support import assert_guards, assert_same, compiled_package, guarded, random, torch

kernels = compiled_package("TLSPEC_CLUSTER", "tlspec_cluster", "tests/gpu/cluster")
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "i8": torch.int8}
VEC = {"f16": 8, "bf16": 8, "f32": 4, "i8": 16}


def check(out, want, what="output"):
    assert_same(out, want, what)
    assert_guards(out, what)


def peer_blocks(t, rows: int, cluster: int, shift: int):
    """`t` with each block of `rows` rows replaced by the block `shift` ranks before it in its
    cluster of `cluster` blocks (the block that sent it)."""
    blocks = t.reshape(-1, cluster, rows, *t.shape[1:])
    return torch.roll(blocks, shifts=shift, dims=1).reshape(t.shape)


@pytest.mark.parametrize("tag", list(DTYPES))
@pytest.mark.parametrize("b, m, n", [(2, 1, 8), (2, 32, 64), (8, 45, 200), (4, 100, 1000)])
def test_multicast_to_pairs(tag, b, m, n):
    n = -(-n // VEC[tag]) * VEC[tag]
    w, out = random((m, n), DTYPES[tag]), guarded((b, m, n), DTYPES[tag])
    getattr(kernels, f"mc_pair_{tag}")(w, out)
    torch.cuda.synchronize()
    check(out, w.expand(b, m, n))


def test_multicast_to_two_blocks_of_a_2x2_cluster():
    w, z = random((64, 64)), random((4, 4, 64, 64))
    out = guarded((4, 4, 64, 64))
    kernels.mc_2x2_partial_mask_f16(w, z, out)
    torch.cuda.synchronize()
    want = z.clone()
    for by in range(4):
        for bx in range(4):
            if (bx % 2 + 2 * (by % 2)) in (1, 2):             # cluster_mask 0b0110
                want[by, bx] = w
    check(out, want)


@pytest.mark.parametrize("b, m, n", [(4, 16, 64), (8, 40, 200), (4, 33, 1000)])
def test_a_loop_of_multicasts(b, m, n):
    w, out = random((m, n)), guarded((b, m, n))
    kernels.mc_loop_f16(w, out)
    torch.cuda.synchronize()
    check(out, w.expand(b, m, n))


@pytest.mark.parametrize("m, n", [(128, 128), (256, 384), (1024, 256)])
def test_bulk_copies_between_pairs(m, n):
    a, b = random((m, n)), guarded((m, n))
    kernels.dsmem_swap_bulk_f16(a, b)
    torch.cuda.synchronize()
    check(b, peer_blocks(a, 64, 2, 1))


@pytest.mark.parametrize("m", [128, 512])
def test_a_ring_of_8_over_three_rounds(m):
    a, b = random((3, m, 64), torch.float32), guarded((3, m, 64), torch.float32)
    kernels.dsmem_ring8_bulk_f32(a, b)
    torch.cuda.synchronize()
    check(b, torch.stack([peer_blocks(a[r], 16, 8, 1) for r in range(3)]))


@pytest.mark.parametrize("m", [4, 64, 1000])
def test_a_row_of_127_float32_by_simt_stores(m):
    a, b = random((m, 127), torch.float32), guarded((m, 127), torch.float32)
    kernels.dsmem_row127_simt_f32(a, b)
    torch.cuda.synchronize()
    check(b, peer_blocks(a, 1, 4, 1))


@pytest.mark.parametrize("m", [16, 64, 256])
def test_rows_of_31_float32_by_simt_stores(m):
    a, b = random((m, 31), torch.float32), guarded((m, 31), torch.float32)
    kernels.dsmem_rows31_simt_f32(a, b)
    torch.cuda.synchronize()
    check(b, peer_blocks(a, 4, 4, 1))


@pytest.mark.parametrize("m", [64, 320])
def test_a_copy_without_remote_barrier(m):
    a, b = random((m, 64), torch.bfloat16), guarded((m, 64), torch.bfloat16)
    kernels.dsmem_no_barrier_bf16(a, b)
    torch.cuda.synchronize()
    check(b, peer_blocks(a, 32, 2, 1))


@pytest.mark.parametrize("l, m", [(2, 16), (4, 48)])
def test_a_3d_cluster_launch(l, m):
    a, b = random((l, m, 256), torch.int8), guarded((l, m, 256), torch.int8)
    kernels.cluster_plain_copy_i8(a, b)
    torch.cuda.synchronize()
    check(b, a)


@pytest.mark.parametrize("b, m, n", [(16, 32, 32), (32, 70, 100)])
def test_a_non_portable_cluster_of_16(b, m, n):
    w, out = random((m, n), torch.float32), guarded((b, m, n), torch.float32)
    kernels.mc_16_f32(w, out)
    torch.cuda.synchronize()
    check(out, w.expand(b, m, n))


# -- pipelined multicasts: a ring of slots refilled once every block of the mask released it --

@pytest.mark.parametrize("b, m, n", [(4, 16, 64), (4, 16, 128), (8, 40, 200), (4, 33, 1000),
                                     (12, 100, 4096)])
def test_a_pipelined_multicast(b, m, n):
    """1, 2 and more iterations than the ring has slots, ragged rows and columns."""
    w, out = random((m, n)), guarded((b, m, n))
    kernels.mc_pipe_f16(w, out)
    torch.cuda.synchronize()
    check(out, w.expand(b, m, n))


def test_a_pipelined_multicast_of_int8_to_clusters_of_8():
    w, out = random((100, 1008), torch.int8), guarded((8, 100, 1008), torch.int8)
    for _ in range(3):              # the same launch again: nothing carries over
        kernels.mc_pipe_i8(w, out)
    torch.cuda.synchronize()
    check(out, w.expand(8, 100, 1008))


def test_a_pipelined_multicast_to_two_blocks_of_a_2x2_cluster_beside_own_loads():
    w, z = random((32, 5, 32), torch.float32), random((2, 4, 5, 32, 32), torch.float32)
    out_w, out_z = guarded((2, 4, 5, 32, 32), torch.float32), guarded((2, 4, 5, 32, 32),
                                                                      torch.float32)
    kernels.mc_pipe_2x2_partial_f32(w, z, out_w, out_z)
    torch.cuda.synchronize()
    check(out_z, z, "outZ")
    assert_guards(out_w, "outW")
    for by in range(2):
        for bx in range(4):
            if (bx % 2 + 2 * (by % 2)) in (1, 2):             # cluster_mask 0b0110
                assert_same(out_w[by, bx], w.permute(1, 0, 2), f"outW[{by}, {bx}]")


def test_a_multicast_pipeline_entered_again():
    w, out = random((3, 32, 320), torch.bfloat16), guarded((4, 3, 32, 320), torch.bfloat16)
    kernels.mc_pipe_reentered_bf16(w, out)
    torch.cuda.synchronize()
    check(out, w.expand(4, 3, 32, 320))
