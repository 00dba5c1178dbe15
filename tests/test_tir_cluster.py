"""tests/tir_cluster.py, the CPU evaluator's model of thread block clusters, on its own: mapa,
the cluster barrier's phases and exits, cta masks and bulk copies, each as PTX defines them."""
import numpy as np
import pytest
from tir_cluster import Cluster, ClusterBarrier, bulk_copy, ranks


def test_mapa_finds_the_same_place_in_the_block_of_another_rank():
    cluster = Cluster(4, 32, "mbarriers")
    for rank, block in enumerate(cluster.blocks):
        block["pool"] = np.full(64, rank, np.uint8)
    own = cluster.blocks[1]
    memory, at = cluster.mapped(own, own["pool"][8:], 5, 3)
    assert at == 13 and memory[at] == 3
    assert memory.__array_interface__["data"][0] == \
        cluster.blocks[3]["pool"].__array_interface__["data"][0]


def test_mapa_to_a_block_not_yet_run_gives_it_the_memory():
    cluster = Cluster(2, 32, "mbarriers")
    cluster.blocks[0]["pool"] = np.ones(32, np.uint8)
    memory, at = cluster.mapped(cluster.blocks[0], cluster.blocks[0]["pool"], 16, 1)
    assert at == 16 and len(memory) == 32 and "pool" in cluster.blocks[1]


@pytest.mark.parametrize("rank, error", [(2, "rank 2 in a cluster of 2"),
                                         (1, "after its threads exited")])
def test_mapa_outside_the_cluster_or_into_an_exited_block_is_an_error(rank, error):
    cluster = Cluster(2, 32, "mbarriers")
    for block in cluster.blocks:
        block["pool"] = np.zeros(32, np.uint8)
    cluster.exited.add(1)
    with pytest.raises(RuntimeError, match=error):
        cluster.mapped(cluster.blocks[0], cluster.blocks[0]["pool"], 0, rank)


def test_mapa_of_memory_outside_shared_memory_is_an_error():
    cluster = Cluster(2, 32, "mbarriers")
    with pytest.raises(RuntimeError, match="outside the block's shared memory"):
        cluster.mapped(cluster.blocks[0], np.zeros(8, np.uint8), 0, 1)


def test_the_cluster_barrier_opens_when_every_thread_still_running_arrived():
    barrier = ClusterBarrier(3)
    first = barrier.arrive()
    barrier.arrive()
    assert barrier.generation == first
    barrier.exit()                          # the third thread exits without arriving
    assert barrier.generation == first + 1
    second = barrier.arrive()
    barrier.arrive()
    assert second == first + 1 and barrier.generation == first + 2


def test_a_cta_mask_names_ranks_of_the_cluster():
    assert ranks(0b0110, 4) == [1, 2]
    with pytest.raises(RuntimeError, match="outside a cluster of 4"):
        ranks(0b10001, 4)


@pytest.mark.parametrize("dst, src, nbytes, error", [
    (8, 0, 16, "destination is not 16-byte aligned"), (0, 4, 16, "source is not"),
    (0, 0, 24, "whole 16-byte units"), (48, 0, 32, "past the end")])
def test_a_bulk_copy_is_aligned_and_of_whole_units(dst, src, nbytes, error):
    cluster = Cluster(2, 32, "mbarriers")
    for block in cluster.blocks:
        block["pool"] = np.zeros(64, np.uint8)
    with pytest.raises(RuntimeError, match=error):
        bulk_copy(cluster, (cluster.blocks[1]["pool"], dst), (cluster.blocks[0]["pool"], src),
                  nbytes)


def test_a_bulk_copy_moves_its_bytes():
    cluster = Cluster(2, 32, "mbarriers")
    cluster.blocks[0]["pool"] = np.arange(64, dtype=np.uint8)
    cluster.blocks[1]["pool"] = np.zeros(64, np.uint8)
    move = bulk_copy(cluster, (cluster.blocks[1]["pool"], 16), (cluster.blocks[0]["pool"], 32),
                     32)
    assert not cluster.blocks[1]["pool"].any()         # its bytes move when it completes
    move()
    assert list(cluster.blocks[1]["pool"][16:48]) == list(range(32, 64))
    assert not cluster.blocks[1]["pool"][:16].any() and not cluster.blocks[1]["pool"][48:].any()
