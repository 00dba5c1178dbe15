"""The blocks of a cluster run together, for a kernel with block-to-block copies (`copy_cluster`
with `dst_block`; docs/interpreter.md, "Block-to-block copies").

Each block of a cluster runs its stages in order, on its own tiles and barriers, up to its next
block-to-block copy; once every block of the cluster has reached it (the same stage: a loop
holding one must run the same iterations in every block), the copies of all of them run, and the
blocks go on. That is the language's meaning, which the compiler keeps with the cluster barriers
it places (docs/spec.md, copy_cluster): a copy never lands in a block before that block has done
what comes before the copy, nor after what the copy's completion makes visible. Each copy reads
its source in the sending block (its region and `dst_block` evaluated there) and writes the `dst`
tile of the block of rank `dst_block`: at once, visible after the stage; with `remote_barrier`,
landing its bytes on that barrier of the receiving block, which must wait for the phase before
touching the tile (inflight.py). Two copies writing one element of a block's tile, or a copy
writing the tile region a block's own copy reads, in one stage, are undefined: errors. A block
waiting on a barrier that only a later copy could complete would wait forever: the barrier's
wait faults, as in a block run alone, since no copy can land before the waiting block reaches it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..dtypes import DTYPE_BYTES
from ..model import Stage
from .async_stages import barrier
from .errors import Fault
from .inflight import Issued, Sync
from .memory import Box, Tile
from .stages import extents, moved

if TYPE_CHECKING:
    from .machine import _Run


@dataclass
class BlockState:
    """What a block runs on: its tiles, its barriers and groups, its variables (the dims, its
    grid indices and its loops' variables), its number in the grid and the loops it is in."""

    tiles: list[Tile]
    sync: Sync
    env: dict[str, int]
    block: int = 0
    loops: list[str] = field(default_factory=list)      # outermost first


@dataclass
class _Send:
    """One block's part of a block-to-block copy, read in the sending block."""

    sender: BlockState
    reads: tuple                    # the index of what it reads in its own src tile
    rank: int                       # of the receiving block
    box: Box                        # of dst, in the receiving block's tile
    values: np.ndarray
    defined: np.ndarray | None
    barrier: int | None             # the receiving block's barrier the bytes land on


def is_block_to_block(stage: Stage) -> bool:
    return stage.kind == "copy_cluster" and "dst_block" in stage.options


def run_clusters(run: _Run) -> None:
    """Run every cluster of the grid, in order, its blocks together."""
    grid = run.kernel.launch.grid
    shape = [*(run.kernel.launch.cluster or ())[:len(grid)]]
    shape += [1] * (len(grid) - len(shape))
    counts = [extent // size for extent, size in zip(run.grid, shape)]
    states = [run.new_block() for _ in range(prod(shape))]
    for cluster in range(prod(counts)):
        corner = [cluster // prod(counts[:axis]) % counts[axis] * shape[axis]
                  for axis in range(len(grid))]
        for rank, state in enumerate(states):
            coords = [c + rank // prod(shape[:axis]) % shape[axis]
                      for axis, c in enumerate(corner)]
            run.start(state, sum(c * prod(run.grid[:axis]) for axis, c in enumerate(coords)))
        _run_together(run, states)


def _run_together(run: _Run, states: list[BlockState]) -> None:
    # each block's stages, run up to its next block-to-block copy by each next() (after use)
    blocks: list[Iterator[Stage]] = [run.run_stages(run.kernel.stages) for _ in states]
    while True:
        reached = []            # per rank, the block-to-block copy it waits at; None: it ended
        for state, stages in zip(states, blocks):
            run.use(state)
            reached.append(next(stages, None))
        if all(stage is None for stage in reached):
            break
        _check_same_copy(run, states, reached)
        _copy(run, states, reached[0])
    for state in states:
        run.use(state)
        run.end(state)


def _check_same_copy(run: _Run, states: list[BlockState], reached: list[Stage | None]) -> None:
    """Every block of the cluster must reach the same block-to-block copy."""
    rank = next(r for r, stage in enumerate(reached) if stage is not None)
    stage = reached[rank]
    for other, there in zip(states, reached):
        if there is stage:
            continue
        does = "ends without reaching it" if there is None \
            else (f"reaches the copy_cluster of line "
                  f"{run.kernel.document.location(there.pointer, key=True).line} instead")
        run.use(states[rank])
        raise run.in_block(Fault(stage.pointer, f"{run.block_name(other.block)} of its cluster "
                                                f"{does}: every block of a cluster must run the "
                                                "same block-to-block copies",
                                 "give the loops around a copy_cluster bounds that are the same "
                                 "in every block of the cluster", key=True),
                           "copy_cluster in ")


def _copy(run: _Run, states: list[BlockState], stage: Stage) -> None:
    sends = [_read(run, state, stage, len(states)) for state in states]
    src, dst = stage.regions["src"], stage.regions["dst"]
    written: dict[int, np.ndarray] = {}     # per receiving rank, the elements written so far
    for send in sends:
        receiver = states[send.rank]
        run.use(receiver)
        tile = run.memory[dst.name]
        try:
            index = tile.index(send.box, dst.pointer, dst.region.text)
            _check_alone(dst.pointer, tile, index, written.setdefault(
                send.rank, np.zeros(tile.shape, bool)), sends[send.rank].reads
                if dst.name == src.name else None)
            run.store(dst, send.box, send.values, send.defined, src.name)
            if send.barrier is not None:
                size = prod(extents(send.box)) * DTYPE_BYTES[tile.buffer.dtype]
                tile.inflight.tma_load(index, send.barrier,
                                       receiver.sync.barriers.land(send.barrier, size),
                                       Issued(stage.pointer, "copy_cluster"))
        except Fault as fault:
            run.use(send.sender)
            raise run.in_block(fault, f"copy_cluster into {run.block_name(receiver.block)} "
                                      "in ") from None


def _read(run: _Run, state: BlockState, stage: Stage, size: int) -> _Send:
    """The sending block's part of the copy: where it goes and what it carries."""
    run.use(state)
    pointer = stage.pointer + "/dst_block"
    try:
        rank = run.value(stage.exprs["dst_block"], pointer)
        if not 0 <= rank < size:
            raise Fault(pointer, f"dst_block is {rank} at this call, outside the ranks 0 to "
                                 f"{size - 1} of the cluster's {size} blocks",
                        f"keep dst_block within the cluster, e.g. (rank + 1) % {size}")
        src = stage.regions["src"]
        reads = run.memory[src.name].index(run.box(src), src.pointer, src.region.text)
        with state.sync.issue("copy_cluster"):
            box, values, defined = moved(run, stage)
        landing = barrier(run, stage, "remote_barrier") \
            if "remote_barrier" in stage.barriers else None
    except Fault as fault:
        raise run.in_block(fault, "copy_cluster in ") from None
    return _Send(state, reads, rank, box, values, defined, landing)


def _check_alone(pointer: str, tile: Tile, index: tuple, written: np.ndarray,
                 read: tuple | None) -> None:
    """A copy must be the only access to the elements it writes in this stage: no other block's
    copy wrote them (`written`, of the receiving block's tile), and the receiving block's own copy
    does not read them (`read`)."""
    if written[index].any():
        raise Fault(pointer,
                    f"writes elements of '{tile.name}' that another block's copy of this stage "
                    "writes too: which one lands last is undefined",
                    "give every block of the cluster its own destination, e.g. dst_block: "
                    "(rank + 1) % size")
    written[index] = True
    if read is not None and all(a.start < b.stop and b.start < a.stop for a, b in zip(index, read)):
        raise Fault(pointer,
                    f"writes elements of '{tile.name}' while that block's own copy of this stage "
                    "reads them: the result is undefined",
                    "copy into a tile other than the source (dst: another shared tile)")
