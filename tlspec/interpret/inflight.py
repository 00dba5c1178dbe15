"""Which elements of the running block's tiles asynchronous copies are still writing or
reading (docs/interpreter.md, "Asynchronous stages").

An asynchronous copy moves its data when it runs, but the block may not touch what it wrote
until the stage that closes it has run: a barrier_wait that sees its mbarrier phase complete
(a TMA load), or async_wait then sync_threads (cp.async); nor overwrite what a TMA store reads
until tma_store_wait retires it. Per tile, an int array per kind of transfer holds the last
one that touched each element (the barrier and phase, the cp.async group, the store group);
the block's counters say which of them are closed, so a stage's check is a few comparisons
over its region, and closing a transfer costs nothing per element.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..model import Kernel
from .errors import Fault
from .mbarriers import Mbarriers
from .memory import Index, coordinates, element, first


@dataclass
class Issued:
    """The stage that issued an asynchronous load, for the error when a block ends before it is
    waited for."""

    pointer: str
    kind: str


class Sync:
    """The asynchronous state of the running block: its mbarriers, and its cp.async and TMA
    store groups, numbered from 0 in the order they are committed."""

    def __init__(self, kernel: Kernel) -> None:
        self.barriers = Mbarriers(kernel)
        self.start_block()

    def start_block(self) -> None:
        self.barriers.start_block()
        self.committed = 0      # cp.async groups committed
        self.completed = 0      # ... of which async_wait has completed the first ones
        self.synced = 0         # ... and sync_threads made visible to the whole block
        self.epoch = 0          # sync_threads run
        self.issuing: str | None = None     # the asynchronous copy moving data, if one is
        self.stores = 0         # TMA store groups started
        self.retired = 0        # ... of which tma_store_wait has retired the first ones
        self.issued: dict[tuple[int, ...], Issued] = {}

    def commit(self, issued: Issued | None = None) -> int:
        """A cp.async group committed (with the copy of `issued`, if any); its number."""
        if issued is not None:
            self.issued[(self.committed,)] = issued
        self.committed += 1
        return self.committed - 1

    def wait_groups(self, pending: int) -> None:
        self.completed = max(self.completed, self.committed - pending)

    def sync_threads(self) -> None:
        self.synced = self.completed
        self.epoch += 1

    @contextmanager
    def issue(self, kind: str) -> Iterator[None]:
        """While an asynchronous copy moves its data: its tile accesses are not the threads'."""
        self.issuing = kind
        try:
            yield
        finally:
            self.issuing = None

    def start_store(self) -> int:
        self.stores += 1
        return self.stores - 1

    def retire_stores(self, pending: int) -> None:
        self.retired = max(self.retired, self.stores - pending)


class InFlight:
    """A tile's elements that asynchronous copies of the running block are writing or reading."""

    def __init__(self, name: str, shape: tuple[int, ...], sync: Sync) -> None:
        self.name = name
        self.sync = sync
        self.barrier = np.full(shape, -1, np.int32)    # a TMA load completes on it ...
        self.phase = np.zeros(shape, np.int64)         # ... in this phase
        self.group = np.full(shape, -1, np.int64)      # a cp.async group wrote it
        self.store = np.full(shape, -1, np.int64)      # the newest TMA store group reading it
        self.read = np.full(shape, -1, np.int64)       # the threads read it in this epoch

    def start_block(self) -> None:
        for array in (self.barrier, self.group, self.store, self.read):
            array.fill(-1)

    # -- marking ------------------------------------------------------------------------------

    def tma_load(self, index: Index, barrier: int, phase: int, issued: Issued) -> None:
        self.barrier[index], self.phase[index] = barrier, phase
        self.sync.issued[(barrier, phase)] = issued

    def cp_async(self, index: Index, group: int) -> None:
        self.group[index] = group

    def tma_store(self, index: Index, group: int) -> None:
        self.store[index] = group

    # -- checks -------------------------------------------------------------------------------

    def check_read(self, index: Index, pointer: str) -> None:
        self.check(index, pointer, "reads")
        if self.sync.issuing is None:
            self.read[index] = self.sync.epoch

    def check_write(self, index: Index, pointer: str) -> None:
        self.check(index, pointer, "overwrites")
        if self.sync.issuing is not None:
            read = self.read[index] == self.sync.epoch
            if read.any():
                raise Fault(pointer, f"overwrites {self.at(index, read)}, which a stage of this "
                                     "block read since the last sync_threads: other threads may "
                                     f"still be reading it when the {self.sync.issuing} lands",
                            "add sync_threads before this stage")
        store = self.store[index]
        reading = store >= self.sync.retired
        if reading.any():
            pending = self.sync.stores - 1 - int(store[first(reading)])
            raise Fault(pointer, f"overwrites {self.at(index, reading)}, which a TMA store "
                                 "(a tma_copy to global, or a scatter4) may still be reading",
                        "tma_store_wait before overwriting the tile: add '- tma_store_wait: "
                        f"{{pending: {pending}}}' before this stage")

    def check(self, index: Index, pointer: str, does: str) -> None:
        barriers = self.sync.barriers
        loading = self.phase[index] >= barriers.seen[self.barrier[index]]
        if loading.any():
            at = first(loading)
            b, phase = int(self.barrier[index][at]), int(self.phase[index][at])
            name = barriers.names[b]
            load = "a block-to-block copy" \
                if self.sync.issued[(b, phase)].kind == "copy_cluster" else "a TMA load"
            message = (f"{does} {self.at(index, loading)}, which {load} completes on "
                       f"'{name}' in its phase {phase}, before a barrier_wait has seen that "
                       "phase complete")
            spilled = barriers.spill(b, phase)
            if spilled:
                raise Fault(pointer, f"{message}: phase {phase - 1} completed once the bytes "
                                     f"announced for it had landed, and the last {spilled} bytes "
                                     f"of the copy count in phase {phase} (expect_tx announced "
                                     "too few)",
                            "announce every byte of the box with expect_tx: a TMA load counts "
                            "the whole box, the zeros past the tensor's end included")
            raise Fault(pointer, message, f"barrier_wait on {name} first: add '- barrier_wait: "
                                          f"{{barrier: \"{name}\", parity: {phase % 2}}}' before "
                                          "this stage")
        group = self.group[index]
        landing = group >= self.sync.completed
        if landing.any():
            pending = self.sync.committed - 1 - int(group[first(landing)])
            raise Fault(pointer, f"{does} {self.at(index, landing)}, which an async_copy is "
                                 "still writing: no async_wait has completed its group",
                        f"async_wait + sync_threads first: add '- async_wait: {{pending: "
                        f"{pending}}}' and '- sync_threads:' before this stage")
        unsynced = group >= self.sync.synced
        if unsynced.any():
            raise Fault(pointer, f"{does} {self.at(index, unsynced)}, which an async_copy wrote: "
                                 "async_wait has completed its group in each thread, but other "
                                 "threads copied parts of it",
                        "add sync_threads after async_wait, before this stage")

    def check_landed(self) -> None:
        """At the block's end: raise for an asynchronous load that no stage waited for."""
        barriers = self.sync.barriers
        loading = self.phase >= barriers.seen[self.barrier]
        if loading.any():
            at = first(loading)
            b, phase = int(self.barrier[at]), int(self.phase[at])
            self.ends_early(self.sync.issued[(b, phase)], at,
                            f"no barrier_wait on '{barriers.names[b]}' saw its phase {phase} "
                            "complete", f"add '- barrier_wait: {{barrier: \"{barriers.names[b]}\", "
                                        f"parity: {phase % 2}}}'")
        landing = self.group >= self.sync.completed
        if landing.any():
            at = first(landing)
            self.ends_early(self.sync.issued[(int(self.group[at]),)], at,
                            "no async_wait completed its group", "add '- async_wait: {pending: 0}'")

    def ends_early(self, issued: Issued, at: tuple[int, ...], why: str, wait: str) -> None:
        raise Fault(issued.pointer, f"the block ends while this {issued.kind} may still be "
                                    f"writing {coordinates(self.name, at)}: {why}",
                    f"wait for every load before the block ends: {wait} after it", key=True)

    def at(self, index: Index, mask: np.ndarray) -> str:
        return coordinates(self.name, element(index, first(mask)))
