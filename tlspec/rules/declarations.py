"""Rules on declarations: dims, buffers, the launch shape, and the shared-memory budget."""
from __future__ import annotations

from math import prod

from ..dim_binding import dim_sources
from ..dtypes import DTYPE_BYTES
from ..expr import to_source
from ..layouts import TileStorage
from ..limits import MAX_SIZE, int_text
from ..model import Buffer
from ..source import pointer_join
from .context import Context

MAX_GRID = {"x": 2**31 - 1, "y": 65535, "z": 65535}
MBARRIER_BYTES = 8
STATIC_SHARED_BYTES = 48 * 1024  # __shared__ arrays; beyond this, dynamic shared memory


def check_dims(ctx: Context) -> None:
    kernel = ctx.kernel
    bound = dim_sources(kernel) if all(b.complete for b in kernel.buffers.values()) else None
    for dim in kernel.dims.values():
        if dim.symbolic and bound is not None and dim.name not in bound:
            ctx.error(dim.pointer, f"symbolic dim '{dim.name}' can never be known at a call: no "
                                   f"global buffer has an extent that is {dim.name} alone or "
                                   f"a * {dim.name} + b",
                      f"give a global buffer an extent '{dim.name}' (or one such as "
                      f"'{dim.name} * 64'), or make {dim.name} a constant")
        if dim.min is not None and dim.max is not None and dim.min > dim.max:
            ctx.error(dim.pointer + "/min", f"dim '{dim.name}' has min {dim.min} greater than its "
                                            f"max {dim.max}", "no size could satisfy both")
        if dim.multiple_of and dim.max is not None and dim.max < dim.multiple_of:
            ctx.error(dim.pointer + "/max", f"dim '{dim.name}' has max {dim.max}, below its "
                                            f"multiple_of {dim.multiple_of}",
                      "no positive size could satisfy both")


def check_buffers(ctx: Context) -> None:
    for buffer in ctx.kernel.buffers.values():
        if buffer.is_global and buffer.io is None:
            ctx.error(buffer.pointer, f"global buffer '{buffer.name}' needs 'io': in, out or inout",
                      "say whether the kernel reads it (in), writes it (out) or both (inout)")
        if not buffer.is_global and buffer.io is not None:
            ctx.error(buffer.pointer + "/io", f"'io' is only for global buffers; '{buffer.name}' is "
                                              f"{buffer.scope}", "remove 'io'", key=True)
        if buffer.layout != "auto" and not buffer.is_shared:
            ctx.error(buffer.pointer + "/layout", f"'layout' is only for shared-memory tiles; "
                                                  f"'{buffer.name}' is {buffer.scope}",
                      "remove 'layout'", key=True)
        size = buffer_size(buffer, ctx)
        if size is not None and size > MAX_SIZE:
            ctx.error(buffer.pointer + "/shape", f"buffer '{buffer.name}' takes {int_text(size)} "
                                                 "bytes, more than the largest size of the "
                                                 "language, 2**62", "use a smaller shape")
        for i, extent in enumerate(buffer.shape):
            pointer = pointer_join(buffer.pointer + "/shape", i)
            if buffer.complete and ctx.const(extent) is None and not buffer.is_global:
                derived = [d for axis, d in buffer.derived if axis == i]
                via = f" (derived dim{'s' * (len(derived) > 1)} {', '.join(derived)})" \
                    if derived else ""
                ctx.error(pointer, f"{buffer.scope} buffer '{buffer.name}' has the non-constant "
                                   f"extent '{to_source(extent)}'{via}",
                          "shared-memory and register tiles need constant shapes: use integers or "
                          "constant dims")


def check_launch(ctx: Context) -> None:
    launch = ctx.kernel.launch
    target = ctx.kernel.target
    for index in launch.grid:
        value = ctx.const(index.extent)
        if value is not None and value < 1:
            ctx.error(index.pointer, f"grid extent of '{index.name}' is {value}; it must be positive",
                      "a grid extent is the number of blocks along its axis, at least 1")
        elif value is not None and value > MAX_GRID[index.axis]:
            ctx.error(index.pointer, f"grid extent of '{index.name}' is {value}, above the limit "
                                     f"{MAX_GRID[index.axis]} of blockIdx.{index.axis}",
                      "list the largest extent first: it becomes blockIdx.x")
    if launch.cluster is None:
        return
    pointer = "/launch/cluster"
    if not target.has_clusters:
        ctx.error(pointer, f"thread block clusters need sm_90a or later; the target is {target.name}",
                  "remove 'cluster' or set 'target: sm_90a'", key=True)
        return
    size = prod(launch.cluster)
    if size > target.max_nonportable_cluster_size:
        ctx.error(pointer, f"cluster of {size} blocks; {target.name} allows at most "
                           f"{target.max_nonportable_cluster_size} "
                           f"({target.max_cluster_size} portably)",
                  f"use a cluster of at most {target.max_cluster_size} blocks")
    if len(launch.cluster) > len(launch.grid) and prod(launch.cluster[len(launch.grid):]) > 1:
        ctx.error(pointer, f"cluster has {len(launch.cluster)} dimensions but the grid has "
                           f"{len(launch.grid)}", "give the cluster at most one extent per grid index")
    for extent, index in zip(launch.cluster, launch.grid):
        value = ctx.const(index.extent)
        if value is not None and value % extent:
            ctx.error(index.pointer, f"grid extent {value} of '{index.name}' is not a multiple of the "
                                     f"cluster extent {extent}",
                      "a grid is made of whole clusters")


def storage(buffer: Buffer, ctx: Context) -> TileStorage | None:
    """How the buffer is stored (its layout's padding included), when its shape is known."""
    if not buffer.complete:
        return None
    extents = [ctx.const(e) for e in buffer.shape]
    if any(e is None or e < 1 for e in extents):
        return None
    return TileStorage(buffer.layout, tuple(extents), DTYPE_BYTES[buffer.dtype])


def buffer_size(buffer: Buffer, ctx: Context) -> int | None:
    """The bytes of `buffer` when its shape is constant, however large."""
    tile = storage(buffer, ctx)
    return None if tile is None else tile.nbytes


def buffer_bytes(buffer: Buffer, ctx: Context) -> int | None:
    """The bytes of `buffer` when its shape is constant and within the language's sizes."""
    size = buffer_size(buffer, ctx)
    return size if size is not None and size <= MAX_SIZE else None


def shared_bytes(ctx: Context) -> tuple[int, list[tuple[str, int]]]:
    """Bytes of shared memory the kernel needs (with alignment), and each buffer's share."""
    total = 0
    parts = []
    for buffer in ctx.kernel.buffers.values():
        if not buffer.is_shared:
            continue
        tile = storage(buffer, ctx)
        if tile is None or tile.nbytes > MAX_SIZE:     # refused by check_buffers
            continue
        total = -(-total // tile.alignment) * tile.alignment + tile.nbytes
        parts.append((buffer.name, tile.nbytes))
    for barrier in ctx.kernel.barriers.values():
        total = -(-total // MBARRIER_BYTES) * MBARRIER_BYTES + barrier.count * MBARRIER_BYTES
        parts.append((barrier.name, barrier.count * MBARRIER_BYTES))
    return total, parts


def check_shared_memory(ctx: Context) -> None:
    target = ctx.kernel.target
    static = sum(buffer_bytes(b, ctx) or 0 for b in ctx.kernel.buffers.values()
                 if b.scope == "shared")
    if static > STATIC_SHARED_BYTES:
        biggest = max((b for b in ctx.kernel.buffers.values() if b.scope == "shared"),
                      key=lambda b: buffer_bytes(b, ctx) or 0)
        ctx.error(biggest.pointer + "/scope", f"the static shared-memory tiles need {static} bytes "
                                              f"({static / 1024:.1f} KB); static shared memory is "
                                              "limited to 48 KB per block",
                  f"declare the large tiles with 'scope: shared.dyn', e.g. '{biggest.name}'")
    total, parts = shared_bytes(ctx)
    if total <= target.max_shared_bytes:
        return
    largest = ", ".join(f"{name} {size // 1024} KB" if size >= 1024 else f"{name} {size} B"
                        for name, size in sorted(parts, key=lambda p: -p[1])[:3])
    ctx.error("/buffers", f"the shared-memory tiles need {total} bytes ({total / 1024:.1f} KB); "
                          f"{target.name} allows {target.max_shared_kb} KB per block",
              f"largest: {largest}; use smaller tiles or fewer pipeline buffers", key=True)
