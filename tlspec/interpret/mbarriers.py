"""The mbarriers of the running block, as the hardware keeps them (docs/interpreter.md,
"Asynchronous stages").

Each barrier has a phase number, the arrivals its current phase still waits for, and a
transaction count: `expect_tx` adds the bytes announced, a TMA load's bytes subtract as they
land (the count goes negative when bytes land before they are announced). A phase completes
when its arrivals are in and its count is 0; bytes that land after that count in the next
phase. `barrier_wait` returns once the phase of its parity has completed: in a block run alone
nothing else can complete it later, so a wait that would block hangs, and that is a Fault. A
phase whose arrivals announced bytes completes on the GPU when its copies have landed, which
only a wait tells: an arrival for the next phase before a wait has seen it complete may come
while they are still landing, one past the arrive_count, and that is a Fault too.
"""
from __future__ import annotations

import numpy as np

from ..model import Kernel
from .errors import Fault

NEVER = np.iinfo(np.int64).max


class Mbarriers:
    """Every barrier of the kernel, numbered in declaration order (an array's elements in a row),
    in the state the running block has put them in."""

    def __init__(self, kernel: Kernel) -> None:
        self.numbers: dict[str, range] = {}     # an array's name -> the numbers of its barriers
        self.names: list[str] = []          # per number, as a spec writes it: 'bar' or 'full[1]'
        self.arrive_count: list[int] = []
        for barrier in kernel.barriers.values():
            self.numbers[barrier.name] = range(len(self.names), len(self.names) + barrier.count)
            self.names += [barrier.name] if barrier.count == 1 else [
                f"{barrier.name}[{i}]" for i in range(barrier.count)]
            self.arrive_count += [barrier.arrive_count] * barrier.count
        count = len(self.names)
        self.phase = [0] * count            # the phase in progress
        self.pending = list(self.arrive_count)   # arrivals it still waits for
        self.tx = [0] * count               # bytes announced minus bytes landed in it
        self.told = [0] * count             # bytes announced in it
        self.landing = [False] * count      # the phase before it completed when bytes landed
        # barrier -> (a phase, bytes of a copy that began landing in the phase before it)
        self.spilled: dict[int, tuple[int, int]] = {}
        # per barrier, the phases before which a barrier_wait has seen everything land; the
        # extra last entry stands for "no barrier" (tiles index it with -1): always seen
        self.seen = np.zeros(count + 1, np.int64)
        self.seen[count] = NEVER

    def allocate(self, name: str) -> None:
        """alloc_barrier: the array's barriers start at phase 0 (as a new block's do)."""
        for b in self.numbers[name]:
            self.reset(b)

    def start_block(self) -> None:
        for b in range(len(self.names)):
            self.reset(b)

    def reset(self, b: int) -> None:
        self.phase[b], self.pending[b], self.tx[b], self.seen[b] = 0, self.arrive_count[b], 0, 0
        self.told[b], self.landing[b] = 0, False
        self.spilled.pop(b, None)

    def complete(self, b: int) -> None:
        self.landing[b] = self.told[b] > 0
        self.phase[b] += 1
        self.pending[b], self.tx[b], self.told[b] = self.arrive_count[b], 0, 0

    def arrive(self, b: int, expect_tx: int, pointer: str) -> None:
        """One arrival, announcing `expect_tx` bytes first."""
        if self.landing[b] and self.seen[b] < self.phase[b]:
            name, phase = self.names[b], self.phase[b]
            raise Fault(pointer, f"arrives on '{name}' for phase {phase} before a barrier_wait has "
                                 f"seen phase {phase - 1} complete: that phase completes when its "
                                 "copies have landed, which on the GPU may be after this arrival "
                                 f"(it would then be one past the arrive_count of phase "
                                 f"{phase - 1})",
                        f"wait for phase {phase - 1} (barrier_wait with parity {(phase - 1) % 2}) "
                        "before arriving for the next phase, or give each phase in flight its "
                        f"own barrier (an array indexed like '{name.split('[')[0]}[k % 2]')",
                        key=True)
        if self.pending[b] == 0:
            raise Fault(pointer, f"arrives on '{self.names[b]}' in phase {self.phase[b]}, which "
                                 f"has had all its {self.arrive_count[b]} arrivals and still "
                                 f"waits for {self.tx[b]} bytes: an extra arrival is undefined",
                        "arrive arrive_count times per phase, announcing every byte of the "
                        "phase's copies", key=True)
        self.tx[b] += expect_tx
        self.told[b] += expect_tx
        self.pending[b] -= 1
        if self.pending[b] == 0 and self.tx[b] == 0:
            self.complete(b)

    def land(self, b: int, size: int) -> int:
        """The `size` bytes of a TMA load land; returns the phase the last of them count in
        (the copy's data is in flight until a wait sees that phase complete)."""
        if self.pending[b] == 0 and 0 < self.tx[b] <= size:
            size -= self.tx[b]              # the bytes the phase waits for complete it ...
            self.complete(b)
            if size == 0:
                return self.phase[b] - 1
            self.spilled[b] = (self.phase[b], size)     # ... and the rest count in the next
        self.tx[b] -= size
        return self.phase[b]

    def wait(self, b: int, parity: int, pointer: str) -> None:
        """barrier_wait: returns when the phase of `parity` has completed; the data of every
        phase completed so far is then visible."""
        if self.phase[b] % 2 != parity:
            self.seen[b] = self.phase[b]
            return
        name, phase = self.names[b], self.phase[b]
        reason, hint = self.why_incomplete(b)
        raise Fault(pointer, f"hangs: phase {phase} of '{name}' (parity {parity}) never "
                             f"completes: {reason}", hint, key=True)

    def spill(self, b: int, phase: int) -> int:
        """How many bytes of a copy that completed phase - 1 of barrier b count in `phase`."""
        spilled, size = self.spilled.get(b, (None, 0))
        return size if spilled == phase else 0

    def why_incomplete(self, b: int) -> tuple[str, str]:
        """Why barrier b's phase in progress has not completed, and what to do about it."""
        name, phase, tx = self.names[b], self.phase[b], self.tx[b]
        arrived = self.arrive_count[b] - self.pending[b]
        if arrived == 0 and tx == 0:
            if phase == 0:
                return (f"nothing has arrived on '{name}'",
                        f"arrive on '{name}' (barrier_arrive) before waiting for it")
            return (f"it has not started (phase {phase - 1} has completed, and nothing has "
                    f"arrived on '{name}' since)",
                    f"phase n of a barrier has parity n % 2: wait with parity {1 - phase % 2} for "
                    f"phase {phase - 1}")
        if self.pending[b]:
            return (f"{arrived} of its {self.arrive_count[b]} arrivals have come",
                    f"arrive on '{name}' {self.arrive_count[b]} times (its arrive_count) in every "
                    "phase before waiting for it")
        if tx > 0:
            return (f"{tx} bytes announced with expect_tx have not landed",
                    f"announce only the bytes of the copies completing on '{name}' in this phase "
                    "(product of the box's extents x dtype size)")
        spilled = (f"; they spilled over from phase {phase - 1}, which completed when the bytes "
                   "it announced had landed" if self.spill(b, phase) else "")
        return (f"{-tx} bytes landed in it that no expect_tx announced{spilled}",
                "announce every byte of the copies completing on the barrier, each the product "
                "of its box's extents x dtype size")
