"""When the CPU evaluator's asynchronous copies (cp.async, TMA loads and stores, bulk copies
between blocks) complete: a copy's addresses are taken when it is issued, its bytes move when
it completes, which PTX allows at any moment up to what waits for it (its mbarrier's phase, or
a wait_group of its thread's commit groups).

Two runs between them bracket what a GPU may do:
- `EAGER`: a copy completes when issued. A thread still reading a tile's old contents after a
  new copy into it was issued sees the new ones (a missing wait for the readers' release).
- `LAZY`: a copy completes as late as it can: when its thread waits for its commit group, or
  when every thread of the cluster is stopped (all wait, the newest copy in flight completes,
  then they try again). A read before the copy's wait sees the tile's old contents, a source
  rewritten before the copy read it is read rewritten, a copy issued after another into the
  same place lands first, and bytes completing on the wrong phase leave a phase open (a
  missing or misplaced wait, or a wrong count of bytes). PTX orders no two copies in flight,
  so newest first is one order a GPU may take, and the one furthest from program order.
A copy still in flight when the threads of a block whose shared memory it reaches have all
exited is an error in both (undefined on a GPU).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

EAGER, LAZY = "eager", "lazy"


@dataclass(eq=False)
class Copy:
    """An issued asynchronous copy: `move` moves its bytes (its addresses bound at issue), then
    `nbytes` complete on `barrier` (an mbarrier; None for a copy a commit group tracks).
    `ranks`: the blocks of the cluster whose shared memory it reads or writes."""
    what: str
    move: Callable[[], None]
    ranks: frozenset[int]
    barrier: object | None = None
    nbytes: int = 0
    done: bool = field(default=False)

    def complete(self) -> None:
        if not self.done:
            self.done = True
            self.move()
            if self.barrier is not None:
                self.barrier.complete(self.nbytes)


class InFlight:
    """The copies a cluster (or a block alone) has issued and that have not completed."""

    def __init__(self, mode: str = EAGER):
        if mode not in (EAGER, LAZY):
            raise ValueError(f"completion {mode!r}: {EAGER} or {LAZY}")
        self.mode, self.copies = mode, []

    def issue(self, copy: Copy) -> None:
        if self.mode == EAGER:
            copy.complete()
        else:
            self.copies.append(copy)

    def complete_newest(self) -> bool:
        """Complete the newest copy in flight (False: none is)."""
        self.copies = [c for c in self.copies if not c.done]
        if not self.copies:
            return False
        self.copies.pop().complete()
        return True

    def check_exit(self, rank: int) -> None:
        """The threads of the block of rank `rank` have all exited: no copy in flight may reach
        its shared memory."""
        for copy in self.copies:
            if not copy.done and rank in copy.ranks:
                raise RuntimeError(f"{copy.what} still in flight when the threads of the block "
                                   f"of rank {rank}, whose shared memory it reaches, exited")


class Groups:
    """A thread's commit groups of one kind (cp.async, or bulk async: TMA stores)."""

    def __init__(self):
        self.open: list[Copy] = []
        self.committed: list[list[Copy]] = []

    def add(self, copy: Copy) -> None:
        self.open.append(copy)

    def commit(self) -> None:
        self.committed.append(self.open)
        self.open = []

    def wait(self, pending: int) -> None:
        """wait_group `pending`: every committed group but the newest `pending` completes."""
        while len(self.committed) > pending:
            for copy in self.committed.pop(0):
                copy.complete()
