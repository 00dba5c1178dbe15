"""The interpreter proper: a kernel run block by block, the stages of each block in order.

`Program(kernel)` checks once that the interpreter runs every part of the kernel (InterpretError
otherwise); `Program.run(arrays)` binds the arrays, then runs every block of the grid, one after
the other in blockIdx order (x fastest), each on fresh tiles and barriers; in a kernel with
block-to-block copies, the blocks of each cluster together (`clusters.py`). A stage runs whole
before the next starts; the data movement of the synchronous stages is in `stages.py`, the
asynchronous stages and their synchronisation in `async_stages.py`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Iterator, Mapping

import numpy as np

from ..diagnostics import Diagnostics
from ..expr import Expr, ExprError, evaluate, to_source
from ..index_expr import loads
from ..model import Buffer, Kernel, RegionRef, Stage
from ..rules import check_kernel
from ..rules.declarations import MAX_GRID
from ..rules.stages import WRITTEN
from ..stages import STAGE_KINDS
from .binding import Signature
from .bits import bits_dtype
from .async_stages import ASYNC_STAGES, TMA_ROWS_FORMS
from .clusters import BlockState, is_block_to_block, run_clusters
from .errors import Fault, InterpretError
from .inflight import InFlight, Sync
from .memory import Box, GlobalTensor, Tile
from .stages import DATA_STAGES

LOOPS = ("for", "pipeline")
STAGES = {**DATA_STAGES, **ASYNC_STAGES}
RUNS = (*STAGES, *LOOPS)
ASYNC_COPIES = ("tma_copy", "async_copy")   # what makes tiles track elements in flight
MAX_BLOCKS = 2**31 - 1     # block numbers are kept in int32 arrays


@dataclass
class Execution:
    """What one run did: the dims' values, the blocks run, and how many elements of each output
    (out or inout argument) some block wrote."""

    dims: dict[str, int]
    grid: tuple[int, ...]
    written: dict[str, int] = field(default_factory=dict)

    @property
    def blocks(self) -> int:
        return prod(self.grid)


class Program:
    """A kernel ready to be interpreted."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        diags = Diagnostics()
        refuse_invalid(kernel, diags)
        if not diags.has_errors:
            refuse_unsupported(kernel, diags)
        if diags.has_errors:
            raise InterpretError(diags)
        self.signature = Signature(kernel)
        self.block_to_block = any(is_block_to_block(stage) for stage in kernel.walk())
        self.reads: set[str] = set()        # global buffers some stage reads
        self.writes: set[str] = set()       # ... writes
        self.same_stage: set[str] = set()   # ... reads and writes in one stage
        for stage in kernel.walk():
            read = {r.name for o, r in stage.regions.items() if o not in WRITTEN}
            read |= {r.buffer for e in stage.indices if e is not None for r in loads(e)}
            written = {r.name for o, r in stage.regions.items() if o in WRITTEN}
            self.reads |= read
            self.writes |= written
            self.same_stage |= read & written

    def run(self, arrays: Mapping[str, np.ndarray]) -> Execution:
        """Run the kernel on `arrays` (every global buffer by name, C-contiguous or with its
        declared strides, of the buffer's element size); outputs are written in place. Raises TypeError / ValueError for arrays
        that do not fit, InterpretError for a result the kernel leaves undefined."""
        values = check_arrays(self.signature, arrays)
        dims = self.signature.bind([a.shape for a in values],
                                   strides=[element_strides(a) for a in values])
        try:
            return _Run(self, dims, values).execute()
        except Fault as fault:
            diags = Diagnostics()
            diags.error(self.kernel.document.location(fault.pointer, key=fault.key),
                        fault.message, pointer=fault.pointer, hint=fault.hint)
            raise InterpretError(diags) from None


def refuse_invalid(kernel: Kernel, diags: Diagnostics) -> None:
    """Report what makes a kernel model invalid: the semantic rules' errors, and the parts that
    could not be read when it was built (a model from a spec `tlspec validate` refuses)."""
    check_kernel(kernel, diags)
    doc = kernel.document
    unread = [b.pointer for b in kernel.buffers.values() if not b.complete]
    unread += [i.pointer for i in kernel.launch.grid if i.extent is None]
    for stage in kernel.walk():
        kind = STAGE_KINDS[stage.written_kind]
        unread += [f"{stage.pointer}/{option}" for option in kind.regions + kind.exprs
                   if option in stage.options
                   and not (stage.regions[option].dims if option in stage.regions
                            else option in stage.exprs or stage.indices)]
        unread += [f"{stage.pointer}/index/{i}" for i, e in enumerate(stage.indices) if e is None]
        unread += [v.pointer for v in stage.each if v.start is None]
    for pointer in unread:
        diags.error(doc.location(pointer), "this could not be read: the kernel is not valid",
                    pointer=pointer, hint="fix the errors tlspec validate reports")


def refuse_unsupported(kernel: Kernel, diags: Diagnostics) -> None:
    """Report every part of the kernel the interpreter does not run."""
    doc = kernel.document
    runs = "it runs " + ", ".join(RUNS)
    for buffer in kernel.buffers.values():
        if buffer.scope == "local":
            pointer = buffer.pointer + "/scope"
            diags.error(doc.location(pointer),
                        "the interpreter does not run buffers of scope local yet", pointer=pointer,
                        hint="use scope fragment for a register tile shared by the block's threads")
    for stage in kernel.walk():
        if stage.kind not in RUNS:
            diags.error(doc.location(stage.pointer, key=True),
                        f"the interpreter does not run {stage.written_kind} yet",
                        pointer=stage.pointer, hint=runs)


def check_arrays(signature: Signature, arrays: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The arrays in argument order, each checked to be usable as its argument."""
    where = signature.where
    names = [b.name for b in signature.arguments]
    for name in arrays:
        if name not in names:
            raise TypeError(f"{where}: unexpected argument {name!r}; the arguments are "
                            + ", ".join(names))
    values = []
    for buffer in signature.arguments:
        if buffer.name not in arrays:
            raise TypeError(f"{where}: missing required argument {buffer.name!r}")
        values.append(check_array(where, buffer, arrays[buffer.name]))
    for i, (a, x) in enumerate(zip(signature.arguments, values)):
        for b, y in zip(signature.arguments[i + 1:], values[i + 1:]):
            if (a.io != "in" or b.io != "in") and np.may_share_memory(x, y):
                raise ValueError(f"{where}: arguments {a.name!r} and {b.name!r} overlap in memory; "
                                 "pass separate arrays")
    return values


def element_strides(x: np.ndarray) -> tuple[int, ...]:
    """An array's strides in elements (check_array checked they are whole elements)."""
    return tuple(s // x.itemsize for s in x.strides)


def check_array(where: str, buffer: Buffer, x: object) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: argument {buffer.name!r} is a {type(x).__name__}, not a numpy "
                        "array")
    if x.dtype.hasobject or x.dtype.itemsize != bits_dtype(buffer.dtype).itemsize:
        raise TypeError(f"{where}: argument {buffer.name!r} has dtype {x.dtype}; expected "
                        f"{buffer.dtype} (or any dtype of {bits_dtype(buffer.dtype).itemsize} "
                        "bytes: elements are moved as bits)")
    if buffer.strides is None and not x.flags.c_contiguous:
        raise ValueError(f"{where}: argument {buffer.name!r} is not C-contiguous; pass a "
                         "contiguous copy")
    if buffer.strides is not None and any(s <= 0 or s % x.itemsize for s in x.strides):
        raise ValueError(f"{where}: argument {buffer.name!r} has strides {x.strides} (in bytes); "
                         f"declared strides are positive multiples of its {x.itemsize}-byte "
                         "elements")
    if buffer.io != "in" and not x.flags.writeable:
        raise ValueError(f"{where}: argument {buffer.name!r} is read-only; the kernel writes it")
    return x


class _Run:
    """One run of a program: the memory, the block running and its loop variables."""

    def __init__(self, program: Program, dims: dict[str, int], arrays: list[np.ndarray]) -> None:
        self.program = program
        self.kernel = program.kernel
        self.dims = dims
        self.env: dict[str, int] = dict(dims)
        self.grid = [self.grid_extent(index) for index in self.kernel.launch.grid]
        if prod(self.grid) > MAX_BLOCKS:
            raise Fault("/launch/grid", f"the grid has {prod(self.grid)} blocks; the interpreter "
                                        f"runs at most {MAX_BLOCKS}", key=True)
        self.memory: dict[str, GlobalTensor | Tile] = {}
        for buffer, array in zip(program.signature.arguments, arrays):
            self.memory[buffer.name] = GlobalTensor(
                buffer, array, self.block_name, written=buffer.name in program.writes,
                read_and_written=buffer.name in program.reads & program.writes,
                same_stage=buffer.name in program.same_stage)
        self.tracking = any(stage.kind in ASYNC_COPIES or "rows" in stage.options  # TMA rows
                            or "remote_barrier" in stage.options for stage in self.kernel.walk())
        self.use(self.new_block())
        self.marked = [t for t in self.memory.values()
                       if isinstance(t, GlobalTensor) and t.stage_reads is not None]

    # -- the grid -------------------------------------------------------------------------------

    def grid_extent(self, index) -> int:
        value = self.value(index.extent, index.pointer)
        if value < 0:
            raise Fault(index.pointer, f"the grid extent of '{index.name}' is {value} at this "
                                       "call; it must not be negative")
        if value > MAX_GRID[index.axis]:
            raise Fault(index.pointer, f"the grid extent of '{index.name}' is {value} at this "
                                       f"call, above the limit {MAX_GRID[index.axis]} of "
                                       f"blockIdx.{index.axis}",
                        "list the largest extent first: it becomes blockIdx.x")
        position = self.kernel.launch.grid.index(index)
        cluster = (self.kernel.launch.cluster or ())[position:position + 1]
        if cluster and value % cluster[0]:
            raise Fault(index.pointer, f"the grid extent of '{index.name}' is {value} at this "
                                       f"call, not a multiple of {cluster[0]}, the cluster's "
                                       "extent on that axis: a grid is made of whole clusters")
        return value

    # -- the blocks -----------------------------------------------------------------------------

    def new_block(self) -> BlockState:
        """Tiles, barriers and loop variables for a block to run on."""
        tiles = [Tile(b, [evaluate(e, self.dims) for e in b.shape], bits_dtype(b.dtype))
                 for b in self.kernel.buffers.values() if not b.is_global]
        sync = Sync(self.kernel)
        if self.tracking:   # tiles asynchronous copies may write or read
            for tile in tiles:
                tile.inflight = InFlight(tile.name, tile.shape, sync)
        return BlockState(tiles, sync, dict(self.dims))

    def use(self, state: BlockState) -> None:
        """Make `state` the running block's: the stages run on its tiles, barriers and
        variables."""
        self.state, self.block, self.sync, self.env = state, state.block, state.sync, state.env
        self.memory.update((tile.name, tile) for tile in state.tiles)

    def start(self, state: BlockState, block: int) -> None:
        """`state` starts running block number `block`, on fresh tiles and barriers."""
        state.block = rest = block
        for index, extent in zip(self.kernel.launch.grid, self.grid):
            state.env[index.name], rest = rest % extent, rest // extent
        state.sync.start_block()
        for tile in state.tiles:
            tile.start_block()

    def end(self, state: BlockState) -> None:
        """The running block `state` ends: every asynchronous load must have been waited for."""
        try:
            for tile in state.tiles:
                if tile.inflight is not None:
                    tile.inflight.check_landed()
        except Fault as fault:
            raise self.in_block(fault) from None

    def block_name(self, block: int) -> str:
        """'block (bx=1, by=0)' for a block number."""
        coords = []
        for index, extent in zip(self.kernel.launch.grid, self.grid):
            coords.append(f"{index.name}={block % extent}")
            block //= extent
        return f"block ({', '.join(coords)})"

    def cluster_rank(self) -> int:
        """The running block's rank in its cluster: x fastest, as the hardware numbers it."""
        rank, scale = 0, 1
        for index, extent in zip(self.kernel.launch.grid, self.kernel.launch.cluster or ()):
            rank += self.env[index.name] % extent * scale
            scale *= extent
        return rank

    def execute(self) -> Execution:
        if self.program.block_to_block:
            run_clusters(self)
        else:
            for block in range(prod(self.grid)):
                self.start(self.state, block)
                self.use(self.state)
                for _ in self.run_stages(self.kernel.stages):
                    pass        # yields at block-to-block copies only, of which there are none
                self.end(self.state)
        written = {name: t.written() for name, t in self.memory.items()
                   if isinstance(t, GlobalTensor) and t.buffer.io != "in"}
        return Execution(self.dims, tuple(self.grid), written)

    def run_stages(self, stages: list[Stage]) -> Iterator[Stage]:
        """Run the stages in the running block; a block-to-block copy is yielded, for the
        cluster's blocks to run together (clusters.py)."""
        for stage in stages:
            if stage.kind in LOOPS:
                yield from self.run_loop(stage)
            elif is_block_to_block(stage):
                yield stage
            else:
                try:
                    execute = TMA_ROWS_FORMS[stage.kind] if "rows" in stage.options else \
                        STAGES[stage.kind]
                    execute(self, stage)
                except Fault as fault:
                    raise self.in_block(fault, f"{stage.written_kind} in ") from None
                finally:
                    for tensor in self.marked:
                        tensor.end_stage()

    def run_loop(self, loop: Stage) -> Iterator[Stage]:
        var = loop.options["var"]
        try:
            start = self.value(loop.exprs["start"], loop.pointer + "/start") \
                if "start" in loop.exprs else 0
            # an extent of 0 or less at a call runs no iteration, as the compiled loop does
            extent = self.value(loop.exprs["extent"], loop.pointer + "/extent")
        except Fault as fault:
            raise self.in_block(fault) from None
        self.state.loops.append(var)
        for value in range(start, start + extent):
            self.env[var] = value
            yield from self.run_stages(loop.body)
        self.state.loops.pop()
        self.env.pop(var, None)

    def in_block(self, fault: Fault, what: str = "") -> Fault:
        """The fault, its message saying where in the grid and the loops it happened."""
        where = self.block_name(self.block) + "".join(f", {v} = {self.env[v]}"
                                                      for v in self.state.loops)
        return Fault(fault.pointer, f"{what}{where}: {fault.message}", fault.hint, key=fault.key)

    # -- values and regions ---------------------------------------------------------------------

    def value(self, expr: Expr, pointer: str) -> int:
        try:
            return evaluate(expr, self.env)
        except ExprError as err:
            raise Fault(pointer, f"{err.message} in '{to_source(expr)}'", err.hint) from None

    def box(self, ref: RegionRef) -> Box:
        """The region's (start, extent) per dimension in this block. A region of a global tensor
        may lie partly or wholly outside it (a halo before its start, a partial tile past its
        end): what lies outside is read as the fill and not written."""
        box = [(self.value(start, ref.pointer), self.value(extent, ref.pointer))
               for start, extent in ref.dims]
        for i, (_, extent) in enumerate(box):
            if extent < 1:
                raise Fault(ref.pointer, f"region '{ref.region.text}' has extent {extent} in "
                                         f"dimension {i}; extents must be positive")
        return box

    def steps(self, ref: RegionRef) -> list[int] | None:
        """A strided region's steps (constants of at least 1, rules.regions.check_steps)."""
        return None if ref.steps is None else [self.value(step, ref.pointer) for step in ref.steps]

    def tensor(self, ref: RegionRef) -> GlobalTensor:
        return self.memory[ref.name]

    def load(self, ref: RegionRef, fill: int = 0) -> tuple[Box, np.ndarray, np.ndarray | None]:
        """The region's box, its elements (the `fill` bits outside a global tensor) and which of
        them are defined (None: all)."""
        box = self.box(ref)
        storage = self.memory[ref.name]
        if isinstance(storage, GlobalTensor):
            return box, storage.read_box(box, self.block, ref.pointer, fill, self.steps(ref)), None
        return (box, *storage.read_box(box, ref.pointer, ref.region.text))

    def store(self, ref: RegionRef, box: Box, values: np.ndarray, defined: np.ndarray | None,
              source: str) -> None:
        """Write box-shaped values (taken from `source`) into the region's `box`."""
        storage = self.memory[ref.name]
        if isinstance(storage, GlobalTensor):
            storage.write_box(box, values, defined, self.block, ref.pointer, source,
                              self.steps(ref))
        else:
            storage.write_box(box, values, defined, ref.pointer, ref.region.text)
