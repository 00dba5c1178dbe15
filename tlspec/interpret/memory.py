"""The memory a kernel runs on: global tensors (the caller's arrays, as bits) that watch for
races between blocks, and the shared and register tiles of the running block, which know which
of their elements a stage of this block wrote.

An index into a tensor is a tuple numpy indexes with: slices (a box), or an array of rows and a
slice of columns (gather / scatter), or one array per dimension (im2col's reads).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from ..model import Buffer
from .bits import as_bits
from .errors import Fault

if TYPE_CHECKING:
    from .inflight import InFlight

NOBODY = -1         # no block has accessed the element
SEVERAL = -2        # several blocks have read the element

Box = list[tuple[int, int]]       # per dimension (start, extent)
Steps = list[int] | None          # per dimension, a strided region's steps
Index = tuple


def element(index: Index, position: tuple[int, ...]) -> tuple[int, ...]:
    """The tensor coordinates of `position` in the array that `index` selects."""
    if all(isinstance(part, np.ndarray) for part in index):
        return tuple(int(part[position]) for part in index)
    return tuple(int(part[p]) if isinstance(part, np.ndarray) else part.start + p * (part.step or 1)
                 for part, p in zip(index, position))


def first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def coordinates(name: str, at: tuple[int, ...]) -> str:
    return f"{name}[{', '.join(str(i) for i in at)}]"


class GlobalTensor:
    """A global buffer: the caller's array seen as bits, with the blocks that wrote (and, for a
    tensor that is also read, read) each element, and the elements the running stage read."""

    def __init__(self, buffer: Buffer, array: np.ndarray, block_name: Callable[[int], str], *,
                 written: bool, read_and_written: bool, same_stage: bool) -> None:
        self.buffer = buffer
        self.name = buffer.name
        self.bits = as_bits(array)
        self.shape = self.bits.shape
        self.block_name = block_name
        self.writer = np.full(self.shape, NOBODY, np.int32) if written else None
        self.reader = np.full(self.shape, NOBODY, np.int32) if read_and_written else None
        # elements the running stage read, when a stage reads and writes this tensor
        self.stage_reads = np.zeros(self.shape, bool) if same_stage else None
        self.marked: list[Index] = []

    def clip(self, box: Box, steps: Steps = None) -> tuple[Index, Index] | None:
        """(index into the tensor, index into a box-shaped array) of the part of `box` inside the
        tensor; None when no element of it is. With `steps`, element k of the box along a
        dimension is start + k * step there (a strided region)."""
        inner, local = [], []
        for d, ((start, extent), size) in enumerate(zip(box, self.shape)):
            step = steps[d] if steps else 1
            # the box elements k with 0 <= start + k * step < size
            lo, hi = max(0, -(start // step)), min(extent, -((start - size) // step))
            if lo >= hi:
                return None
            inner.append(slice(start + lo * step, start + (hi - 1) * step + 1, step))
            local.append(slice(lo, hi))
        return tuple(inner), tuple(local)

    # -- reads --------------------------------------------------------------------------------

    def read_box(self, box: Box, block: int, pointer: str, fill: int = 0,
                 steps: Steps = None) -> np.ndarray:
        """The elements of `box` (strided by `steps`); the `fill` bits where it lies outside
        the tensor."""
        values = np.full([extent for _, extent in box], fill, self.bits.dtype)
        parts = self.clip(box, steps)
        if parts is not None:
            inner, local = parts
            self.note_read(inner, block, pointer)
            values[local] = self.bits[inner]
        return values

    def read(self, index: Index, block: int, pointer: str) -> np.ndarray:
        """The elements `index` selects (all inside the tensor)."""
        self.note_read(index, block, pointer)
        return self.bits[index]

    def take(self, positions: np.ndarray, block: int, pointer: str) -> np.ndarray:
        """The elements at C-order `positions` (all inside the tensor)."""
        if self.writer is not None or self.reader is not None or self.stage_reads is not None:
            self.note_read(np.unravel_index(positions, self.shape), block, pointer)
        return self.bits.reshape(-1).take(positions)

    def note_read(self, index: Index, block: int, pointer: str) -> None:
        if self.writer is not None:
            self.check_others(self.writer[index], index, block, pointer, "reads", "writes",
                              "blocks run in any order: a block may read only the elements of "
                              "an inout tensor that no other block writes")
        if self.reader is not None:
            reader = self.reader[index]
            self.reader[index] = np.where((reader == NOBODY) | (reader == block), block, SEVERAL)
        if self.stage_reads is not None:
            self.stage_reads[index] = True
            self.marked.append(index)

    def check_others(self, blocks: np.ndarray, index: Index, block: int, pointer: str, does: str,
                     they: str, hint: str) -> None:
        """Raise when another block than `block` is among `blocks` (those that accessed the
        elements `index` selects)."""
        other = (blocks != NOBODY) & (blocks != block)
        if other.any():
            at = first(other)
            who = "other blocks" if blocks[at] == SEVERAL else self.block_name(int(blocks[at]))
            raise Fault(pointer, f"{does} {coordinates(self.name, element(index, at))}, which "
                                 f"{who} {they}: the result depends on the order in which "
                                 "blocks run", hint)

    # -- writes -------------------------------------------------------------------------------

    def write_box(self, box: Box, values: np.ndarray, defined: np.ndarray | None, block: int,
                  pointer: str, source: str, steps: Steps = None) -> None:
        """Store box-shaped `values` into `box` (strided by `steps`); what lies outside the
        tensor is dropped. `defined` (None: all) says which values some stage of this block
        wrote into `source`."""
        parts = self.clip(box, steps)
        if parts is None:
            return
        inner, local = parts
        self.write(inner, values[local], None if defined is None else defined[local], block,
                   pointer, source)

    def write(self, index: Index, values: np.ndarray, defined: np.ndarray | None, block: int,
              pointer: str, source: str) -> None:
        if defined is not None and not defined.all():
            at, count = first(~defined), int(np.count_nonzero(~defined))
            raise Fault(pointer, f"stores {count} element{'s' * (count != 1)} of '{source}' that "
                                 "no stage of this block wrote, the first to "
                                 f"{coordinates(self.name, element(index, at))}",
                        "write the whole tile before storing it, or store only the part written")
        self.note_write(index, block, pointer)
        self.bits[index] = values

    def note_write(self, index: Index, block: int, pointer: str) -> None:
        if self.stage_reads is not None and self.stage_reads[index].any():
            at = first(self.stage_reads[index])
            raise Fault(pointer, f"writes {coordinates(self.name, element(index, at))}, which the "
                                 "same stage reads: the result depends on the order of the "
                                 "threads' accesses", "read and write different elements (or "
                                                      "different tensors) in one stage")
        if self.reader is not None:
            self.check_others(self.reader[index], index, block, pointer, "writes", "read",
                              "blocks run in any order: a block may write only the elements of "
                              "an inout tensor that no other block reads")
        self.check_others(self.writer[index], index, block, pointer, "writes", "also writes",
                          "give every element of an output to one block")
        self.writer[index] = block

    def end_stage(self) -> None:
        for index in self.marked:
            self.stage_reads[index] = False
        self.marked.clear()

    def written(self) -> int:
        """How many elements some block wrote."""
        return 0 if self.writer is None else int(np.count_nonzero(self.writer != NOBODY))


class Tile:
    """A shared or register tile of the running block, and which of its elements are defined
    (written by a stage of this block); in a kernel with asynchronous stages, which of them
    asynchronous copies are writing or reading (`inflight`, checked by every access)."""

    def __init__(self, buffer: Buffer, shape: list[int], dtype: np.dtype) -> None:
        self.buffer = buffer
        self.name = buffer.name
        self.shape = tuple(shape)
        self.bits = np.zeros(shape, dtype)
        self.defined = np.zeros(shape, bool)
        self.inflight: InFlight | None = None

    def start_block(self) -> None:
        self.defined.fill(False)
        if self.inflight is not None:
            self.inflight.start_block()

    def index(self, box: Box, pointer: str, text: str) -> Index:
        for i, ((start, extent), size) in enumerate(zip(box, self.shape)):
            if start < 0 or start + extent > size:
                raise Fault(pointer, f"region '{text}' covers [{start}, {start + extent}) in "
                                     f"dimension {i}, outside the {self.buffer.scope} tile "
                                     f"'{self.name}' (extent {size})",
                            "regions of shared and register tiles must lie inside them")
        return tuple(slice(start, start + extent) for start, extent in box)

    def read_box(self, box: Box, pointer: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        index = self.index(box, pointer, text)
        if self.inflight is not None:
            self.inflight.check_read(index, pointer)
        return self.bits[index].copy(), self.defined[index].copy()

    def write_box(self, box: Box, values: np.ndarray, defined: np.ndarray | None, pointer: str,
                  text: str) -> None:
        index = self.index(box, pointer, text)
        if self.inflight is not None:
            self.inflight.check_write(index, pointer)
        self.bits[index] = values
        self.defined[index] = True if defined is None else defined
