"""The TMA copies of tests/tir_eval.py, written from PTX's and the driver's definitions: a box of
a global tensor to or from a shared tile laid out as the hardware lays it (`tile_offset`: rows,
padding, swizzle), elements outside the tensor read as zeros or not written; TMA gather4 /
scatter4 moving 4 table rows. Each is made into a tests/tir_async.Copy: its addresses taken
now, at its issue, its bytes moved when it completes."""
from __future__ import annotations

from itertools import product

import numpy as np

from tir_async import Copy
from tir_expr import element_bytes

ROWS_VIEW = "_rows_"             # the prefix of tlspec's view of a swizzled tile's padded rows


def tma_load(m, dst, src, mbar, strides=None, rank: int | None = None) -> Copy:
    """A TMA load of the global region `src` (the box) into the shared tile region `dst` (of
    the block of rank `rank` of the cluster: a multicast's), its bytes completing on `mbar` (in
    that block)."""
    out, pairs, pool, size = _box(m, src, dst, strides, rank)

    def move():
        for at, frm in pairs:
            pool[frm:frm + size] = np.frombuffer(
                int(out[at]).to_bytes(size, "little") if at is not None else bytes(size), np.uint8)

    return Copy("a TMA load", move, m.ranks_of(pool), m.barrier_at(mbar, rank), len(pairs) * size)


def tma_store(m, dst, src, strides=None) -> Copy:
    """A TMA store of the shared tile region `src` into the global region `dst` (the box)."""
    out, pairs, pool, size = _box(m, dst, src, strides)

    def move():
        for at, frm in pairs:
            if at is not None:
                out[at] = int.from_bytes(pool[frm:frm + size], "little")

    return Copy("a TMA store", move, m.ranks_of(pool))


def tma_rows(m, tile_region, table_region, rows, load: bool, mbar=None) -> Copy:
    """TMA gather4 (`load`) or scatter4: 4 table rows, whose numbers are `rows`, of the table
    region's columns, to or from 4 consecutive rows of the tile from the tile region's first; a
    row outside the table reads zeros (gather4) or is not written (scatter4). A gather4's
    bytes, 4 rows in all, complete on `mbar`."""
    pool, at_element, size = _tile_bytes(m, tile_region.source)
    table, _ = m.view(table_region.source)
    height, width = [m.value(e) for e in table_region.source.shape]
    first_col = m.value(table_region.region[1].min)
    columns = m.value(table_region.region[1].extent)
    tile_row, tile_col = [m.value(r.min) for r in tile_region.region]
    pairs = []                  # (table element or None outside the table, tile byte offset)
    for i, row in enumerate(m.value(r) for r in rows):
        for k in range(columns):
            inside = 0 <= row < height and 0 <= first_col + k < width
            pairs.append((m.flat(table_region.source, [row, first_col + k]) if inside else None,
                          at_element([tile_row + i, tile_col + k])))

    def move():
        for flat, at in pairs:
            if load:
                value = int(table[flat]) if flat is not None else 0
                pool[at:at + size] = np.frombuffer(value.to_bytes(size, "little"), np.uint8)
            elif flat is not None:
                table[flat] = int.from_bytes(pool[at:at + size], "little")

    if load:
        return Copy("a TMA gather4", move, m.ranks_of(pool), m.barrier_at(mbar),
                    len(rows) * columns * size)
    return Copy("a TMA scatter4", move, m.ranks_of(pool))


def _tile_bytes(m, tile, rank: int | None = None):
    """A shared tile's pool bytes (in the block of rank `rank`), the byte offset of an element
    in them as the hardware lays the tile out (`tile_offset`), and its element size."""
    size = element_bytes(tile.dtype)
    pool = m.memory[m.memory.key(tile)].view(np.uint8)
    if rank is not None:
        remote, at = m.mapped((pool, 0), rank)
        pool = remote[at:]
    base = m.value(tile.elem_offset) * size
    shape = [m.value(e) for e in tile.shape]
    layout = m.layouts.get(tile.name.removeprefix(ROWS_VIEW), "row_major")
    return pool, lambda index: base + tile_offset(layout, shape, size, index), size


def _box(m, tensor, tile_region, strides=None, rank=None):
    """The elements of the box `tensor` (a global region; with `strides`, TMA's element
    strides, its extents count elements `strides` apart) and their places in `tile_region`, the
    tile laid out as the hardware does (`tile_offset`), in the block of rank `rank`: (the
    global view, pairs (flat index or None outside the tensor, tile byte offset), the tile's
    bytes, the element size). The regions' dims of extent other than 1 correspond in order (a
    tile's rows view may span the padded row: its last extent is not the box's)."""
    pool, at_element, size = _tile_bytes(m, tile_region.source, rank)
    out, _ = m.view(tensor.source)
    limits = [m.value(e) for e in tensor.source.shape]
    starts = [m.value(r.min) for r in tensor.region]
    extents = [m.value(r.extent) for r in tensor.region]
    firsts = [m.value(r.min) for r in tile_region.region]
    moved = [d for d, n in enumerate(extents) if n != 1]
    tile_moved = [d for d, r in enumerate(tile_region.region) if m.value(r.extent) != 1]
    if len(moved) != len(tile_moved):
        raise NotImplementedError(f"a TMA box {extents} of the tile {tile_region.source.name}")
    steps = [int(x) for x in strides] if strides is not None else [1] * len(extents)
    pairs = []
    for offsets in product(*[range(extents[d]) for d in moved]):
        at, index = list(starts), list(firsts)
        for d, t, o in zip(moved, tile_moved, offsets):
            at[d] += o * steps[d]
            index[t] += o
        inside = all(0 <= i < n for i, n in zip(at, limits))
        pairs.append((m.flat(tensor.source, at) if inside else None, at_element(index)))
    return out, pairs, pool, size


def tile_offset(layout: str, shape: list[int], elem: int, index: list[int]) -> int:
    """The byte offset of element `index` of a shared tile as the hardware's TMA and tlspec's
    layouts lay it out: rows of `shape[-1]` elements, padded by 16 bytes (`padded`), or rows
    filling whole S-byte spans whose 16-byte chunks are XORed with the span's row number modulo
    the chunks per span (CU_TENSOR_MAP_SWIZZLE_<S>B, the pattern repeating every 8 spans: chunk
    bits [4, 4 + log2(S / 16)) ^= address bits [7, ...))."""
    cols = shape[-1] * elem
    span = int(layout[len("swizzle_"):-1]) if layout.startswith("swizzle_") else 0
    pitch = cols + 16 if layout == "padded" else -(-cols // span) * span if span else cols
    row = 0
    for extent, i in zip(shape[:-1], index[:-1]):
        row = row * extent + i
    address = row * pitch + index[-1] * elem
    if span:
        address ^= ((address >> 7) % (span // 16)) << 4
    return address
