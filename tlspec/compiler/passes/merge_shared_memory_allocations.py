"""MergeSharedMemoryAllocations: place every shared tile, and the mbarriers of TMA loads, in one
dynamic shared-memory pool.

Each tile gets an offset aligned for its layout (1024 bytes for swizzled tiles, whose pattern
repeats every 8 rows of the span; 128 bytes otherwise) and storage of its layout's size (padding
included: `tlspec.layouts`). Its allocation becomes two views of the pool: the logical tile
(tirx's swizzle layout on it when swizzled, so that TMA encodes the same pattern) for the tile
operations, and a flat `_flat_<tile>` view that the lowered loops address through
`layouts.TileLayout.offset`. A swizzled tile whose rows are narrower than the span (stored at the
span's pitch, as TMA writes them) gets a third, `_rows_<tile>`: the storage as rows of the pitch,
which is what its TMA copies hand tirx (tirx wants the copied part of a view to be dense).
The mbarriers are `_tlspec_mbar`, 8 bytes each, after the tiles: first the slots of the
barrier arrays of the spec and of the pipelined loops (`tlspec.barriers`), then one for each TMA
load of a `copy` (its slot is its `tlspec.mbarrier`). The compiler's own names start
with `_`, which no spec name does. The pool's size is the kernel's
dynamic shared memory (`tlspec.shared_bytes`).

The offsets are from the pool's base, so the base itself must have the largest alignment of its
tiles (`tlspec.shared_alignment`: 1024 bytes with a 128-byte-swizzled tile). On sm_90 the dynamic
shared-memory window starts after the block's reserved 1 KB and any static `__shared__` data, so
its alignment is not a given: the pool is declared with that alignment
(`extern __shared__ __align__(1024) uchar tlspec_smem_ptr[]`), and ptxas then pads the static part
to it (at no cost when there is no static data, the usual case: tlspec allocates none). The
driver checks the result in the cubin (`cuda_compile.dynamic_shared_offset`): a kernel whose
pool would start misaligned is an internal compiler error, never a wrong swizzle at run time.

The pool must fit the target's shared memory per block (`Target.max_shared_bytes`, what a block
may opt in to): validation checks the tiles and barrier arrays the spec declares, but the pool
also holds what the compiler adds (an mbarrier for each TMA load, the pipelined loops' barrier
rings, the round-up to 16 bytes), so a spec whose tiles fill the budget exactly would compile into
a kernel that no launch accepts (cuFuncSetAttribute refuses its dynamic shared memory). Such a
pool is refused here, located at the spec's buffers.

tlspec places tiles before lowering (TileLang merges after it) because the lowered loops address
tiles by physical offset.
"""
from __future__ import annotations

import tvm_ffi
from tvm import tirx

from tvm.tirx.tile_primitive import TilePrimitiveCall

from .. import ops
from ..analysis import (attr, dtype_bytes, flat_view_name, rows_view_name, scope_kind, target_of,
                        tile_name)
from ..errors import StageError
from ..layouts import TileLayout
from ..lower.common import const

POOL = "tlspec_smem"
MBARRIERS = "_tlspec_mbar"   # leading "_": no spec name collides (see analysis.FLAT_VIEW)


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def tile_layout(func, buffer) -> TileLayout:
    """The layout LayoutInference chose for the logical tile `buffer`."""
    layouts = {str(k): str(v) for k, v in attr(func, "tlspec.layouts", {}).items()}
    return TileLayout(layouts[tile_name(buffer)], tuple(const(e) for e in buffer.shape),
                      dtype_bytes(buffer.dtype))


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.MergeSharedMemoryAllocations")
class MergeSharedMemoryAllocations:
    def transform_function(self, func, mod, ctx):
        tiles = []
        tvm_ffi.structural_walk(func.body, (tirx.AllocBuffer, lambda a: tiles.append(a.buffer)
                                            if a.buffer.scope().startswith("shared") else None),
                                order="pre")
        func, mbarriers = _number_mbarriers(func)
        if not tiles and not mbarriers:
            return func.with_attr("tlspec.shared_bytes", 0).with_attr("tlspec.shared_alignment", 0)
        offset, placed = 0, []
        for tile in tiles:
            layout = tile_layout(func, tile)
            offset = _align(offset, layout.alignment)
            placed.append((tile, layout, offset))
            offset += layout.size * layout.elem_bytes
        mbar_offset = _align(offset, 8)
        total = _align(mbar_offset + 8 * mbarriers, 16)
        _check_budget(func, offset, mbarriers, total)
        alignment = max([layout.alignment for _, layout, _ in placed], default=16)
        pool = tirx.decl_buffer((total,), "uint8", name=POOL, scope="shared.dyn",
                                data_alignment=max(alignment, 64))

        replace, declarations = {}, [tirx.AllocBuffer(pool)]
        for tile, layout, byte_offset in placed:
            dense = layout.storage_shape == layout.shape
            views = [(tile.name, tile.shape, dense), (flat_view_name(tile.name), (layout.size,), False)]
            if layout.swizzle_bytes and not dense:
                views.append((rows_view_name(tile.name), layout.storage_shape, True))
            for name, shape, swizzled in views:       # swizzled: carries tirx's swizzle layout
                view = tirx.decl_buffer(shape, tile.dtype, name=name, data=pool.data,
                                        elem_offset=byte_offset // layout.elem_bytes,
                                        scope="shared.dyn",
                                        layout=layout.tirx_layout() if swizzled else "default")
                declarations.append(tirx.DeclBuffer(view, data=pool.data))
                replace.setdefault(tile, view)
        if mbarriers:
            declarations.append(tirx.DeclBuffer(tirx.decl_buffer(
                (mbarriers,), "uint64", name=MBARRIERS, data=pool.data,
                elem_offset=mbar_offset // 8, scope="shared.dyn"), data=pool.data))

        def swap(buffer):
            return next((new for old, new in replace.items() if old.same_as(buffer)), buffer)

        body = tvm_ffi.structural_map(func.body, (tirx.Buffer, swap), order="post")
        body = _replace_allocations(body, declarations)
        return (func.with_body(body).with_attr("tlspec.shared_bytes", total)
                .with_attr("tlspec.shared_alignment", alignment))


def _check_budget(func, tiles: int, mbarriers: int, total: int) -> None:
    """StageError at the spec's buffers when the pool (`total` bytes: the tiles' `tiles` bytes,
    alignment included, then `mbarriers` mbarriers) is more than a block of the target may use."""
    target = target_of(func)
    if total <= target.max_shared_bytes:
        return
    declared = sum(int(b[1]) for b in attr(func, "tlspec.barriers", {}).values())
    added = mbarriers - declared
    parts = [f"the tiles {tiles} bytes"]
    if declared:
        parts.append(f"{declared} mbarrier{'s' * (declared > 1)} of the barrier arrays and "
                     f"pipeline loops {8 * declared} bytes")
    if added:
        parts.append(f"{added} mbarrier{'s' * (added > 1)} for the TMA loads {8 * added} bytes")
    raise StageError(
        "/buffers", f"the kernel's shared memory comes to {total} bytes once compiled "
        f"({', '.join(parts)}, rounded up to 16 bytes); {target.name} allows "
        f"{target.max_shared_kb} KB ({target.max_shared_bytes} bytes) per block, so no launch "
        "would be accepted",
        f"free at least {total - target.max_shared_bytes} bytes: use smaller tiles or fewer "
        "pipeline buffers (each TMA load of a copy takes an 8-byte mbarrier beside the tiles)")


def _number_mbarriers(func):
    """`func` with a `tlspec.mbarrier` slot on each TMA load of a `copy` or a `copy_cluster`
    multicast (after the barrier arrays' slots), and the number of mbarrier slots in all."""
    count = sum(int(b[1]) for b in attr(func, "tlspec.barriers", {}).values())

    def number(call):
        nonlocal count
        config = ops.config_of(call) if ops.kind_of(call) in ("copy", "copy_cluster") else {}
        if config.get("tlspec.instruction") != "tma" or scope_kind(call.args[0].source) != "shared":
            return call
        count += 1
        return ops.with_config(call, **{"tlspec.mbarrier": count - 1})

    body = tvm_ffi.structural_map(func.body, (TilePrimitiveCall, number), order="pre")
    return func.with_body(body), count


def _replace_allocations(body, declarations):
    """Drop the shared AllocBuffers; put the pool and its views where the first one was, or
    after the thread indices' definitions when there is none (mbarriers and no tile)."""
    done = []

    def on_seq(seq):
        out = []
        for stmt in seq.seq:
            if isinstance(stmt, tirx.AllocBuffer) and stmt.buffer.scope().startswith("shared"):
                if not done:
                    out += declarations
                    done.append(True)
                continue
            out.append(stmt)
        return tirx.SeqStmt(out)

    body = tvm_ffi.structural_map(body, (tirx.SeqStmt, on_seq), order="post")
    if done:
        return body

    def after_thread_indices(seq):          # where the tiles' AllocBuffers would have been
        ids = [i for i, stmt in enumerate(seq.seq) if isinstance(stmt, tirx.ScopeIdDefStmt)]
        if not ids:
            return seq
        at = ids[-1] + 1
        return tirx.SeqStmt([*seq.seq[:at], *declarations, *seq.seq[at:]])

    return tvm_ffi.structural_map(body, (tirx.SeqStmt, after_thread_indices), order="post")
