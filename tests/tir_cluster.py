"""Thread block clusters for tests/tir_eval.py, written from PTX's semantics: the blocks of a
cluster run together (tests/tir_run.py), each with its own shared memory, which the others reach
through `mapa` (the same place in the block of another rank); `barrier.cluster.arrive` /
`wait` meet every thread of the cluster that has not exited; a TMA load with a `cta_mask` lands
in the same tile of every block of the mask, its bytes completing on each one's mbarrier at the
same place; `cp.async.bulk.shared::cluster` copies between blocks (16-byte aligned, whole
16-byte units), completing on the destination's mbarrier; `mbarrier.complete_tx` and `arrive`
reach another block's mbarrier.

Reaching a rank outside the cluster, or the shared memory of a block whose threads have all
exited (undefined on a GPU: what the kernel's last cluster barrier is for), is an error.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tir_async import EAGER, InFlight

# the tlspec helpers (codegen/cuda/cluster.cuh) by the name their call_extern gives
MAP_SHARED, MAP = "tlspec_cluster_map_shared", "tlspec_cluster_map"
BULK_COPY, COMPLETE_TX, ARRIVE = ("tlspec_cluster_bulk_copy", "tlspec_cluster_complete_tx",
                                  "tlspec_cluster_arrive")
BULK_UNIT = 16                  # cp.async.bulk: addresses and sizes in whole 16-byte units


@dataclass(frozen=True)
class Pointer:
    """A generic pointer (mapa.u64's result): the bytes it points into and the offset in them."""
    memory: np.ndarray
    offset: int


class ClusterBarrier:
    """barrier.cluster: a phase completes when every thread of the cluster that has not exited
    has arrived."""

    def __init__(self, threads: int):
        self.live, self.arrived, self.generation = threads, 0, 0

    def arrive(self) -> int:
        """Arrive; the generation to wait past."""
        generation = self.generation
        self.arrived += 1
        self._settle()
        return generation

    def exit(self) -> None:
        self.live -= 1
        self._settle()

    def _settle(self) -> None:
        if self.arrived and self.arrived >= self.live:
            self.arrived, self.generation = 0, self.generation + 1


class Cluster:
    """The blocks of one cluster (a block alone without clusters): their shared memories by
    rank (x fastest), their mbarriers (one table, by host address: a mapped address finds the
    other block's), the cluster barrier, the ranks whose threads have all exited, and the
    asynchronous copies in flight (completing as `completion` says, tests/tir_async.py)."""

    def __init__(self, blocks: int, threads: int, barriers_key: str, completion: str = EAGER):
        self.barriers: dict = {}
        self.blocks = [{barriers_key: self.barriers} for _ in range(blocks)]
        self.barrier = ClusterBarrier(blocks * threads)
        self.exited: set[int] = set()
        self.in_flight = InFlight(completion)

    def mapped(self, block: dict, memory: np.ndarray, offset: int, rank: int
               ) -> tuple[np.ndarray, int]:
        """`mapa`: the place `offset` bytes into `memory` (this block's shared memory `block`)
        in the block of rank `rank`, as (its memory, the offset in it)."""
        if not 0 <= rank < len(self.blocks):
            raise RuntimeError(f"mapa to rank {rank} in a cluster of {len(self.blocks)} blocks")
        if rank in self.exited:
            raise RuntimeError(f"the shared memory of the block of rank {rank} reached after "
                               f"its threads exited")
        found = _holding(block, memory.__array_interface__["data"][0] + offset)
        if found is None:
            raise RuntimeError("mapa of an address outside the block's shared memory")
        key, at = found
        other = self.blocks[rank].setdefault(key, np.zeros_like(block[key]))     # not yet run
        return other.view(np.uint8), at

    def locate(self, memory: np.ndarray, offset: int = 0) -> tuple[int, int] | None:
        """The rank of the block whose shared memory holds the place `offset` bytes into
        `memory`, and the place's offset from the start of its allocation (an alignment's
        reference: the pool is aligned on a GPU); None outside shared memory."""
        host = memory.__array_interface__["data"][0] + offset
        for rank, block in enumerate(self.blocks):
            found = _holding(block, host)
            if found is not None:
                return rank, found[1]
        return None

    def rank_of(self, memory: np.ndarray) -> int | None:
        """The rank of the block whose shared memory `memory` starts in (None: global)."""
        found = self.locate(memory)
        return None if found is None else found[0]


def _holding(block: dict, host: int) -> tuple[str, int] | None:
    """The key of the allocation of a block's shared memory `block` that holds the host address
    `host`, and the address's offset in it (None: none holds it)."""
    for key, own in block.items():
        if isinstance(own, np.ndarray):
            base = own.__array_interface__["data"][0]
            if base <= host < base + own.nbytes:
                return key, host - base
    return None


def ranks(mask: int, size: int) -> list[int]:
    """The ranks of a cta_mask, checked against the cluster's size."""
    if mask >> size:
        raise RuntimeError(f"cta_mask {mask:#x} names ranks outside a cluster of {size} blocks")
    return [r for r in range(size) if mask >> r & 1]


def bulk_copy(cluster: Cluster, dst: tuple[np.ndarray, int], src: tuple[np.ndarray, int],
              nbytes: int) -> Callable[[], None]:
    """cp.async.bulk of `nbytes` from `src` to `dst` (each: memory, offset), its alignment and
    size checked as PTX requires: the move of its bytes."""
    for name, (memory, offset) in (("destination", dst), ("source", src)):
        place = cluster.locate(memory, offset)
        if place is None:
            raise RuntimeError(f"a bulk copy's {name} outside shared memory")
        if place[1] % BULK_UNIT:
            raise RuntimeError(f"a bulk copy's {name} is not {BULK_UNIT}-byte aligned")
    if nbytes % BULK_UNIT or nbytes <= 0:
        raise RuntimeError(f"a bulk copy of {nbytes} bytes (whole {BULK_UNIT}-byte units)")
    (to, at), (frm, start) = dst, src
    if at + nbytes > len(to) or start + nbytes > len(frm):
        raise RuntimeError(f"a bulk copy of {nbytes} bytes past the end of shared memory")

    def move():
        to[at:at + nbytes] = frm[start:start + nbytes]
    return move
