"""What the asynchronous and synchronisation stages do to the running block (docs/interpreter.md,
"Asynchronous stages"): the copies move their data as `copy` does, when they run, and mark it
in flight (inflight.py) until the stage that closes them; the others move the block's
mbarriers (mbarriers.py) and group counters (inflight.Sync).
"""
from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING, Callable

from ..dtypes import DTYPE_BYTES
from ..limits import MAX_TX
from ..model import Stage
from .errors import Fault
from .inflight import Issued
from .memory import Tile
from . import stages
from .stages import copy, extents

if TYPE_CHECKING:
    from .machine import _Run


def barrier(run: _Run, stage: Stage, option: str = "barrier") -> int:
    """The number of the barrier the stage's `option` names."""
    ref = stage.barriers[option]
    numbers = run.sync.barriers.numbers[ref.name]
    i = run.value(ref.dims[0][0], ref.pointer) if ref.region.slices is not None else 0
    if not 0 <= i < len(numbers):
        raise Fault(ref.pointer, f"barrier index {i} at this call is outside '{ref.name}', an "
                                 f"array of {len(numbers)} barriers",
                    f"use an index from 0 to {len(numbers) - 1}")
    return numbers[i]


def pending(stage: Stage) -> int:
    return (stage.options or {}).get("pending", 0)


def alloc_barrier(run: _Run, stage: Stage) -> None:
    run.sync.barriers.allocate(stage.options["name"])


def barrier_arrive(run: _Run, stage: Stage) -> None:
    expect_tx = 0
    if "expect_tx" in stage.exprs:
        pointer = stage.pointer + "/expect_tx"
        expect_tx = run.value(stage.exprs["expect_tx"], pointer)
        if not 0 <= expect_tx <= MAX_TX:
            raise Fault(pointer, f"expect_tx is {expect_tx} at this call; an mbarrier counts 0 "
                                 f"to {MAX_TX} bytes per phase")
    run.sync.barriers.arrive(barrier(run, stage), expect_tx, stage.pointer)


def barrier_wait(run: _Run, stage: Stage) -> None:
    pointer = stage.pointer + "/parity"
    parity = run.value(stage.exprs["parity"], pointer)
    if parity not in (0, 1):
        raise Fault(pointer, f"parity is {parity} at this call; a phase parity is 0 or 1",
                    "for the n-th phase use n % 2")
    run.sync.barriers.wait(barrier(run, stage), parity, stage.pointer)


def tile_part(run: _Run, option: str, stage: Stage) -> tuple[Tile, tuple]:
    """The tile a stage's region option names, and the index of the region in it."""
    ref = stage.regions[option]
    tile = run.memory[ref.name]
    return tile, tile.index(run.box(ref), ref.pointer, ref.region.text)


def tma_copy(run: _Run, stage: Stage) -> None:
    """A load lands its whole box (zeros past the end of the tensor) on its barrier's phase in
    progress; a store writes global memory at once and reads its tile until it is retired."""
    with run.sync.issue(stage.written_kind):
        copy(run, stage)
    if "barrier" in stage.barriers:
        tile, index = tile_part(run, "dst", stage)
        size = prod(extents(run.box(stage.regions["dst"]))) * DTYPE_BYTES[tile.buffer.dtype]
        b = barrier(run, stage)
        tile.inflight.tma_load(index, b, run.sync.barriers.land(b, size),
                               Issued(stage.pointer, stage.written_kind))
    else:
        tile, index = tile_part(run, "src", stage)
        tile.inflight.tma_store(index, run.sync.start_store())


def gather4(run: _Run, stage: Stage) -> None:
    """The TMA gather4 form of a gather (`rows`): its rows land on its barrier's phase in
    progress, as a TMA load's box does."""
    with run.sync.issue(stage.written_kind):
        stages.gather(run, stage)
    tile, index = tile_part(run, "dst", stage)
    size = prod(extents(run.box(stage.regions["dst"]))) * DTYPE_BYTES[tile.buffer.dtype]
    b = barrier(run, stage)
    tile.inflight.tma_load(index, b, run.sync.barriers.land(b, size),
                           Issued(stage.pointer, stage.written_kind))


def scatter4(run: _Run, stage: Stage) -> None:
    """The TMA scatter4 form of a scatter (`rows`): a TMA store, which reads its rows until it is
    retired (tma_store_wait)."""
    with run.sync.issue(stage.written_kind):
        stages.scatter(run, stage)
    tile, index = tile_part(run, "src", stage)
    tile.inflight.tma_store(index, run.sync.start_store())


def async_copy(run: _Run, stage: Stage) -> None:
    with run.sync.issue(stage.written_kind):
        copy(run, stage)
    tile, index = tile_part(run, "dst", stage)
    tile.inflight.cp_async(index, run.sync.commit(Issued(stage.pointer, stage.written_kind)))


def async_commit(run: _Run, stage: Stage) -> None:
    run.sync.commit()


def async_wait(run: _Run, stage: Stage) -> None:
    run.sync.wait_groups(pending(stage))


def tma_store_wait(run: _Run, stage: Stage) -> None:
    run.sync.retire_stores(pending(stage))


def sync_threads(run: _Run, stage: Stage) -> None:
    run.sync.sync_threads()


ASYNC_STAGES: dict[str, Callable[[_Run, Stage], None]] = {
    "alloc_barrier": alloc_barrier, "barrier_arrive": barrier_arrive, "barrier_wait": barrier_wait,
    "tma_copy": tma_copy, "async_copy": async_copy, "async_commit": async_commit,
    "async_wait": async_wait, "tma_store_wait": tma_store_wait, "sync_threads": sync_threads,
}
# the TMA forms of the data stages, for a stage with `rows`
TMA_ROWS_FORMS: dict[str, Callable[[_Run, Stage], None]] = {"gather": gather4,
                                                             "scatter": scatter4}
