"""Why a copy cannot be one TMA copy: the spec or the kind of copy rules TMA out, the tensor
map of the global region would break a rule of the CUDA driver (`tlspec.tensormap_rules`), or TMA
would not place the elements where the shared tile's layout keeps them. InstructionAnnotation
asks this of every copy between global memory and a shared tile, and of the TMA gather4 /
scatter4 (whose box is one row of the table)."""
from __future__ import annotations

from math import prod

from ... import tensormap_rules
from ...layouts import TileStorage
from .. import ops
from ..analysis import (analyzer_for, base_ranges, divisible, dtype_bytes, loop_ranges,
                        region_parts, scope_kind, target_of)
from ..lower.common import const
from ..lower.pitched import declared, element_strides


class Side:
    """One region of a copy: its buffer, starts, extents and steps (a strided region's), and
    the buffer's scope and shape."""

    def __init__(self, region, steps: list[int] | None = None):
        self.buffer, self.starts, self.extents = region_parts(region)
        self.kind = scope_kind(self.buffer)
        self.shape = list(self.buffer.shape)
        self.steps = steps or [1] * len(self.extents)

    def span(self, d: int):
        """How many elements of dimension `d` the region spans, from its first to its last."""
        step = self.steps[d]
        return self.extents[d] if step == 1 else (self.extents[d] - 1) * step + 1

    def pitch(self):
        """Elements from one row to the next: the row's length, or a declared row stride."""
        return element_strides(self.buffer)[-2] if self.kind == "global" else self.shape[-1]

    def strided(self) -> str | None:
        """Why the region is not a dense box (its first step other than 1), or None."""
        for d, step in enumerate(self.steps):
            if step != 1:
                return f"'{self.buffer.name}' has step {step} in dimension {d}"
        return None

    def moved(self) -> list[int]:
        return [d for d, e in enumerate(self.extents) if const(e) != 1]


def copy_sides(call) -> tuple[Side, Side]:
    """(dst, src) of a copy, with their steps."""
    return Side(call.args[0], ops.steps_of(call, 0)), Side(call.args[1], ops.steps_of(call, 1))


def indexed_sides(call) -> tuple[Side, Side]:
    """(rows, table) of a gather (its args: rows, table) or a scatter (table, rows)."""
    rows, table = (0, 1) if ops.kind_of(call) == "gather" else (1, 0)
    return Side(call.args[rows]), Side(call.args[table])


def tma_ruled_out(func, config: dict, dst: Side, src: Side, layouts: dict) -> str | None:
    """Why TMA is no candidate for this copy at all, by the target, the kind of copy or the
    spec's own choice (no slow-path warning for these), else None."""
    kinds = (src.kind, dst.kind)
    if not target_of(func).has_tma:
        return f"target {target_of(func).name} has no TMA"
    if kinds not in (("global", "shared"), ("shared", "global")):
        return f"TMA copies global <-> shared, not {kinds[0]} -> {kinds[1]}"
    if config.get("disable_tma"):
        return "disable_tma is set"
    if "loop_layout.threads" in config:
        return "loop_layout describes a SIMT loop"
    tile = dst if dst.kind == "shared" else src
    if layouts.get(tile.buffer.name) == "padded":
        return f"'{tile.buffer.name}' is padded (TMA writes dense or swizzled tiles)"
    return None


def tma_blockers(func, config: dict, dst: Side, src: Side, layouts: dict,
                  rows: int = 0) -> list[str]:
    """Why this copy cannot be one TMA copy ([] when it can): the spec rules it out, the
    descriptor would break a rule of the driver, or TMA would not place the elements where the
    tile's layout has them. `rows` (4): a gather4 / scatter4, whose box is one row of the table
    (each of its `rows` coordinates names one) and which moves `rows` rows of the tile."""
    ruled_out = tma_ruled_out(func, config, dst, src, layouts)
    if ruled_out:
        return [ruled_out]
    tile, tensor = (dst, src) if dst.kind == "shared" else (src, dst)
    strided = _stride_problems(func, tensor, store=tensor is dst)
    if strided:
        return strided
    layout = layouts.get(tile.buffer.name)
    elem = dtype_bytes(tile.buffer.dtype)
    storage = TileStorage(layout, tuple(const(e) for e in tile.shape), elem)
    box = [const(e) for e in tensor.extents]
    if rows:
        box[0] = 1
    if None in box:
        return ["every TMA box extent must be a constant (the box is the region of "
                f"'{tensor.buffer.name}')"]
    problems = _descriptor_problems(func, tensor, box, elem, storage)
    if tensor is dst:           # a TMA store from a coordinate before the tensor faults on the GPU
        analyzer = analyzer_for({**loop_ranges(func), **base_ranges(func)})
        problems += [f"the region of '{tensor.buffer.name}' may start before the tensor in "
                     f"dimension {d} (at {start}), and a TMA store cannot"
                     for d, start in enumerate(tensor.starts) if not analyzer.can_prove(start >= 0)]
    return problems + _placement_problems(func, tile, [rows, *box[1:]] if rows else box, storage)


def _stride_problems(func, tensor: Side, store: bool) -> list[str]:
    """Why TMA cannot move a strided region of a global tensor ([] when it is not strided, or
    when TMA can): a TMA load traverses the tensor's outer dimensions by element strides (the
    steps; see `..lower.tma_strided`) into a dense box of shared memory (shared tiles have no
    steps), but never strides the innermost dimension; and it is not used for stores or from
    coordinates that may be negative (neither is established on the hardware: there a SIMT loop
    is exact)."""
    strided = tensor.strided()
    if strided is None:
        return []
    problem = tensormap_rules.strided_problem(tensor.steps[::-1], store)
    if problem:
        return [f"{strided}: {problem}"]
    analyzer = analyzer_for({**loop_ranges(func), **base_ranges(func)})
    return [f"{strided}, and its region may start before the tensor in dimension {d} (at "
            f"{start}): a strided TMA load is used only from coordinates proven not negative"
            for d, (start, step) in enumerate(zip(tensor.starts, tensor.steps))
            if step != 1 and not analyzer.can_prove(start >= 0)][:1]


def _descriptor_problems(func, tensor: Side, box: list[int], elem: int,
                         storage: TileStorage) -> list[str]:
    """The driver's rules (`tensormap_rules`) broken by the descriptor of `tensor`'s box."""
    problems, strides = [], []
    for stride in reversed(element_strides(tensor.buffer)[:-1]):
        strides.append(const(stride * elem) if const(stride) is not None else None)
        if strides[-1] is None and not divisible(func, stride * elem, tensormap_rules.ALIGN):
            problems.append(f"a row stride of '{tensor.buffer.name}' ({stride} elements) is not "
                            f"proven to be a multiple of {tensormap_rules.ALIGN} bytes")
    # the hardware's rule, not the driver's: an innermost coordinate whose address is not
    # 16-byte aligned faults at run time (illegal instruction)
    inner = tensor.starts[-1]
    if not divisible(func, inner * elem, tensormap_rules.ALIGN):
        problems.append(f"the region of '{tensor.buffer.name}' starts at element {inner} of its "
                        f"innermost dimension, not proven to be a multiple of "
                        f"{tensormap_rules.ALIGN} bytes (a TMA coordinate there must be)")
    # the innermost length must span whole 16-byte units too: a TMA store writes, and a load
    # reads, the rest of the last unit (the H200 wrote the gap after every row of a pitched
    # tensor 19 float32 wide); a row-major tensor's row stride is its length, checked above
    length = tensor.shape[-1]
    if ((len(tensor.shape) == 1 or declared(tensor.buffer))
            and not divisible(func, length * elem, tensormap_rules.ALIGN)):
        problems.append(f"the length of '{tensor.buffer.name}' ({length} elements) is not "
                        f"proven to span a multiple of {tensormap_rules.ALIGN} bytes")
    # a strided region's box is traversed by its steps (the element strides): count x step
    # elements along each dimension, of which the count are moved
    traversed = [extent * step for extent, step in zip(box, tensor.steps)]
    descriptor = tensormap_rules.TensorMap(
        elem, [const(e) for e in reversed(tensor.shape)], strides, traversed[::-1],
        tensor.steps[::-1], swizzle=storage.tensormap_swizzle)
    return problems + [str(v) for v in tensormap_rules.violations(descriptor)]


def _placement_problems(func, tile: Side, box: list[int], storage: TileStorage) -> list[str]:
    """Why TMA would not write (or read) the copied part of `tile` where its layout keeps it:
    TMA moves a dense box (a swizzled one as rows of the swizzle span) from a shared address
    that is a multiple of 128 bytes."""
    name = tile.buffer.name
    extents = [const(e) for e in tile.extents]
    moved = [d for d, e in enumerate(extents) if e != 1] or [len(extents) - 1]
    if any(extents[d] != storage.shape[d] for d in range(moved[0] + 1, len(extents))):
        return [f"the copy covers a part of the tile '{name}' that is not contiguous"]
    if storage.swizzle_bytes and (moved[-1] != len(extents) - 1 or
                                  (prod(box[:-1]) > 1 and box[-1] != storage.cols)):
        return [f"TMA moves the rows of the swizzled tile '{name}' whole: the copy's rows "
                f"({box[-1]} elements) are not the tile's ({storage.cols})"]
    row = 0
    for start, extent in zip(tile.starts[:-1], storage.shape[:-1]):
        row = row * extent + start
    offset = (row * storage.pitch + tile.starts[-1]) * storage.elem_bytes
    if not divisible(func, offset, tensormap_rules.SHARED_ALIGN):
        return [f"the copied part of '{name}' starts at byte {offset} of it, not a multiple of "
                f"{tensormap_rules.SHARED_ALIGN}"]
    return []
