"""What the compiler decided for one kernel, read from the records its passes leave (never
decided again here): each tile operation's `tlspec.instruction` / `tlspec.why` / `tlspec.vector`
/ `tlspec.threads` (InstructionAnnotation), each pipeline loop's `tlspec.pipeline_plan`
(PipelinePlanning), the shared pool's tiles and mbarriers (MergeSharedMemoryAllocations), the
compile warnings (the passes' notes), and the registers the cubin records."""
from __future__ import annotations

from dataclasses import dataclass, field

import tvm_ffi
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from ..compiler import ops
from ..compiler.analysis import attr, dtype_bytes
from ..compiler.passes.merge_shared_memory_allocations import MBARRIERS, POOL
from ..compiler.passes.pipeline_planning import PLAN_ATTR
from ..compiler.tileir import PIPELINE_ATTR
from ..layouts import TileStorage
from ..model import Kernel

MBARRIER_BYTES = 8
# the passes whose output holds the records: the loops' plans are read before
# InjectSoftwarePipeline rewrites the loops, the rest once the pool is placed
PLANNED, PLACED = "PipelinePlanning", "MergeSharedMemoryAllocations"


@dataclass
class Decision:
    pointer: str                    # the stage's JSON pointer
    kind: str                       # copy, transpose, gather, ...
    instruction: str                # tma | bulk | cp_async | sync (a SIMT loop)
    why: str | None
    vector: int | None              # elements per access of a SIMT loop
    threads: list[int] | None       # a loop_layout's thread grid


@dataclass
class Plan:
    pointer: str                    # the pipeline loop's JSON pointer
    loads: list[int]                # positions in the body issued ahead
    why: str


@dataclass
class Tile:
    name: str
    shape: list[int]
    dtype_bytes: int
    layout: str                     # row_major | padded | swizzle_32B | ...
    swizzle_bytes: int
    bytes: int                      # storage, padding included
    offset: int                     # from the shared pool's base


@dataclass
class Records:
    decisions: list[Decision] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    tiles: list[Tile] = field(default_factory=list)
    mbarriers: int = 0
    mbarrier_offset: int | None = None
    shared_bytes: int = 0           # the pool: the kernel's dynamic shared memory


class Observer:
    """Keeps the modules after the passes that hold the records (codegen.lower's `observe`)."""

    def __init__(self) -> None:
        self.modules: dict[str, object] = {}

    def __call__(self, name: str, mod) -> None:
        if name in (PLANNED, PLACED):
            self.modules[name] = mod

    def records(self) -> Records:
        records = Records()
        for func in _functions(self.modules.get(PLACED)):
            records.decisions += _decisions(func)
            records.shared_bytes = max(records.shared_bytes, int(attr(func, "tlspec.shared_bytes", 0)))
            _pool(func, records)
        for func in _functions(self.modules.get(PLANNED)):
            records.plans += _plans(func)
        return records


def _functions(mod) -> list:
    if mod is None:
        return []
    return [f for f in mod.functions.values() if isinstance(f, tirx.PrimFunc)]


def _decisions(func) -> list[Decision]:
    found: list[Decision] = []

    def visit(call):
        config = ops.config_of(call)
        known = any(d.pointer == config.get(ops.STAGE) for d in found)
        if ops.STAGE in config and config.get("tlspec.instruction") is not None and not known:
            found.append(Decision(str(config[ops.STAGE]), ops.kind_of(call),
                                  config.get("tlspec.instruction"), config.get("tlspec.why"),
                                  config.get("tlspec.vector"), config.get("tlspec.threads")))

    # the synchronisation stages move no data and carry no instruction (nor do the compiler's
    # own operations, such as ClusterPlanning's cluster barriers, that carry a stage's pointer);
    # a pipelined load is issued in the prologue and in the steady loop: one decision, the first
    tvm_ffi.structural_walk(func.body, (TilePrimitiveCall, visit), order="pre")
    return found


def _plans(func) -> list[Plan]:
    found: list[Plan] = []

    def visit(loop):
        annotations = loop.annotations or {}
        if PLAN_ATTR in annotations and PIPELINE_ATTR in annotations:
            plan = annotations[PLAN_ATTR]
            found.append(Plan(str(annotations[PIPELINE_ATTR]["stage"]),
                              [int(i) for i in plan["loads"]], str(plan["why"])))

    tvm_ffi.structural_walk(func.body, (tirx.For, visit), order="pre")
    return found


def _pool(func, records: Records) -> None:
    """The tiles and mbarriers as MergeSharedMemoryAllocations placed them: each tile is a view
    of the pool declared at its byte offset."""
    layouts = {str(k): str(v) for k, v in attr(func, "tlspec.layouts", {}).items()}

    def visit(decl):
        buffer = decl.buffer
        if not buffer.scope().startswith("shared") or buffer.name == POOL:
            return
        offset = int(buffer.elem_offset) * dtype_bytes(buffer.dtype)
        if buffer.name == MBARRIERS:
            records.mbarriers, records.mbarrier_offset = int(buffer.shape[0]), offset
        elif buffer.name in layouts:
            shape = [int(e) for e in buffer.shape]
            storage = TileStorage(layouts[buffer.name], tuple(shape), dtype_bytes(buffer.dtype))
            records.tiles.append(Tile(buffer.name, shape, storage.elem_bytes, storage.kind,
                                      storage.swizzle_bytes, storage.nbytes, offset))

    tvm_ffi.structural_walk(func.body, (tirx.DeclBuffer, visit), order="pre")

