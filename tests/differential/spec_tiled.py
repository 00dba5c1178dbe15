"""The tiled family: tensors of rank 1 to 5 cut into tiles, one tile per block and loop
iteration, each tile moved from an input to an output along a route of copies (global ->
global, through shared tiles, slots of multi-slot tiles, register fragments, a transpose).

Every block writes only its own tiles of each output (the grid indices and loop variables
select disjoint tiles), and every tile element stored was written before: shared tiles and
fragments are filled whole (a copy from past a tensor's end reads zeros) before they are read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from spec_builder import (BLOCKS_CAP, ELEMENTS_CAP, Generated, Size, SpecBuilder, tma_fits)
from tlspec.dtypes import DTYPE_BYTES
from tlspec.layouts import TileStorage
from tlspec.tensormap_rules import SHARED_ALIGN as TMA_SHARED_ALIGN

INNER_TILES = [1, 2, 3, 4, 5, 7, 8, 16, 24, 32, 48, 64, 96, 128, 256]
FILL, HALO, CONVERT = 0.15, 0.12, 0.15    # chances: a fill on a global read, a halo, a conversion
OUTER_TILES = [1, 1, 2, 3, 4, 8, 16, 32, 64]
TILE_ELEMENTS = 4096
TILE_BYTES = 16 * 1024


@dataclass
class Axis:
    size: Size
    tile: int
    mode: str               # grid | loop | whole
    start: str = "0"        # the tile's first index, an expression
    single: bool = False    # written as one index (a tile of 1)

    def part(self) -> str:
        if self.single:
            return self.start
        if self.mode == "whole":
            return ":" if self.tile == self.size.value else f"0 : +{self.tile}"
        return f"{self.start} : +{self.tile}"


@dataclass
class Tiling:
    dtype: str
    axes: list[Axis]
    loops: list[tuple[str, str, int]] = field(default_factory=list)   # (var, extent, start)

    @property
    def tile(self) -> list[int]:
        return [a.tile for a in self.axes]

    @property
    def sizes(self) -> list[Size]:
        return [a.size for a in self.axes]

    def region(self, name: str, order: list[int] | None = None,
               shift: tuple[int, int] | None = None) -> str:
        """The tile's region of `name`, its axes in `order`; `shift` (axis, s) starts that axis
        s elements earlier (a halo: before the tensor's start for the first tile)."""
        order = order if order is not None else list(range(len(self.axes)))
        parts = [self.axes[i].part() for i in order]
        if shift is not None:
            axis, by = shift
            parts[order.index(axis)] = parts[order.index(axis)].replace(" : +", f" - {by} : +", 1)
        return f"{name}[{', '.join(parts)}]"


def _count_text(size: Size, tile: int) -> str:
    text = size.text if size.text.isidentifier() or size.text.isdigit() else f"({size.text})"
    if tile == 1:
        return size.text
    if size.multiple % tile == 0:
        return f"{text} // {tile}"
    return f"ceildiv({size.text}, {tile})"


def _tiles(b: SpecBuilder, rank: int, elem: int) -> list[int]:
    while True:
        inner = b.rng.choice([t for t in INNER_TILES if t * elem <= 1024])
        tiles = [b.rng.choice(OUTER_TILES) for _ in range(rank - 1)] + [inner]
        if prod(tiles) <= TILE_ELEMENTS and prod(tiles) * elem <= TILE_BYTES:
            return tiles


def tiling(b: SpecBuilder, *, looped: bool = False) -> Tiling | None:
    """A random tiling; with `looped`, one whose innermost loop (the last of `loops`) starts at 0
    (a pipeline's variable does), or None when every axis is one whole tile."""
    rank = b.pick({1: 3, 2: 4, 3: 2, 4: 1, 5: 1})
    dtype = b.dtype()
    elem = DTYPE_BYTES[dtype]
    tiles = _tiles(b, rank, elem)
    axes: list[Axis | None] = [None] * rank
    blocks, elements = 1, 1
    grid_names = ["bx", "by", "bz"]
    for i in b.rng.sample(range(rank), rank):
        tile = tiles[i]
        inner = i == rank - 1
        if tile > 1 and tile <= 64 and b.chance(0.15):
            axes[i] = Axis(Size(str(tile), tile, tile), tile, "whole")
            elements *= tile
            continue
        most = max(1, min(12, BLOCKS_CAP // blocks, ELEMENTS_CAP // (elements * tile)))
        count = b.rng.randint(1, most)
        size = b.affine(b.size(tile, count, inner=inner, elem=elem))
        mode = "grid" if grid_names and b.chance(0.65) else "loop"
        axes[i] = Axis(size, tile, mode)
        blocks *= count
        elements *= count * tile
    t = Tiling(dtype, axes)
    if looped and all(a.mode != "loop" for a in axes):
        tiled_axes = [a for a in axes if a.mode != "whole"]
        if not tiled_axes:
            return None
        b.rng.choice(tiled_axes).mode = "loop"
    loop_axes = [a for a in axes if a.mode == "loop"]
    for a in axes:
        if a.mode == "grid":
            if not grid_names:
                a.mode = "loop"
                loop_axes.append(a)
                continue
            name = grid_names.pop(0)
            b.grid[name] = _count_text(a.size, a.tile)
            a.start = name if a.tile == 1 else f"{name}*{a.tile}"
    for j, a in enumerate(b.rng.sample(loop_axes, len(loop_axes))):
        var = f"k{j}"
        start = 0 if looped and j == len(loop_axes) - 1 else b.rng.choice([0, 0, 0, 1, 3])
        index = var if not start else f"({var} - {start})"
        a.start = index if a.tile == 1 else f"{index}*{a.tile}"
        t.loops.append((var, _count_text(a.size, a.tile), start))
    for a in axes:
        a.single = a.tile == 1 and a.mode != "whole" and b.chance(0.5)
    return t


# -- tiles in shared memory and registers ----------------------------------------------------
def tile_shape(b: SpecBuilder, t: Tiling, keep_last: int = 1) -> list[int]:
    """The tile's extents, all of them or without (some of) its unit dimensions: a copy matches
    extents once dimensions of extent 1 are dropped."""
    tile = t.tile
    head, tail = tile[:-keep_last], tile[-keep_last:]
    if b.chance(0.5):
        head = [x for x in head if x != 1 or b.chance(0.3)]
    shape = head + tail
    if keep_last == 1 and shape[-1] == 1 and len(shape) > 1 and b.chance(0.5):
        shape = [x for x in shape if x != 1] or [1]
    return shape


def slot_choice(b: SpecBuilder, t: Tiling) -> tuple[int, str] | None:
    """Maybe a multi-slot tile: (slots, the index of this tile's slot), e.g. (2, 'k0 % 2')."""
    if not b.chance(0.25):
        return None
    slots = b.rng.choice([2, 3])
    if t.loops and b.chance(0.8):
        return slots, f"{b.rng.choice(t.loops)[0]} % {slots}"
    return slots, str(b.rng.randrange(slots))


def new_tile(b: SpecBuilder, t: Tiling, shape: list[int], *, tma: bool, slots: bool = True):
    """(buffer name, region) of a shared tile holding one tile of `t` (maybe in one slot of a
    multi-slot tile); None when it does not fit in shared memory."""
    slots = slot_choice(b, t) if slots else None
    declared = shape if slots is None else [slots[0]] + shape
    if not b.fits(declared, t.dtype):
        if slots is None or not b.fits(shape, t.dtype):
            return None
        declared, slots = shape, None
    name = b.shared_tile(declared, t.dtype, tma=tma)
    return name, name if slots is None else f"{name}[{slots[1]}{', :' * len(shape)}]"


def slot_aligned(b: SpecBuilder, name: str, region: str) -> bool:
    """Whether every slot of a multi-slot tile starts at a multiple of 128 bytes, as a TMA copy
    into or out of one needs (a whole tile always does)."""
    if region == name:
        return True
    buffer = b.buffers[name]
    storage = TileStorage(buffer.get("layout", "auto"), tuple(buffer["shape"]),
                          DTYPE_BYTES[buffer["dtype"]])
    return storage.nbytes // buffer["shape"][0] % TMA_SHARED_ALIGN == 0


# -- copies ----------------------------------------------------------------------------------
def _row(t: Tiling, sizes: list[Size]) -> Size | None:
    return sizes[-1] if len(sizes) > 1 else None


def copy_stage(b: SpecBuilder, dtype: str, src: str, dst: str, *, kind: str, src_rank: int,
               src_inner: int, legal: int, tma_ok: bool = False, extra: dict | None = None,
               dst_dtype: str | None = None) -> dict:
    """One copy, `kind` its direction (g2s, s2g, g2g, s2s; frag_g, frag_s: a fragment and global or
    shared memory), converting `dtype` to `dst_dtype` where that differs; options drawn at random
    among those the validator accepts for it (a fill where it reads global memory)."""
    options = {"src": src, "dst": dst}
    global_side = kind in ("g2s", "s2g", "g2g", "frag_g")
    converts = dst_dtype not in (None, dtype)
    prefer = None
    if kind in ("g2s", "s2g") and b.chance(0.55):
        choices = ["sync"] + (["tma", "tma"] if tma_ok and not converts else []) + (
            ["cp_async"] if kind == "g2s" and not converts else [])
        prefer = b.rng.choice(choices)
        options["prefer_instruction"] = prefer
    elif b.chance(0.08):
        options["prefer_instruction"] = prefer = "sync"
    if prefer != "tma" and kind in ("g2s", "s2g", "g2g") and b.chance(0.12):
        options["disable_tma"] = True
    if extra:
        options.update(extra)
    elif prefer != "tma":       # a converting copy's vectors are as wide as its wider type's
        wider = max(dtype, dst_dtype or dtype, key=DTYPE_BYTES.get)
        b.simt_options(options, wider, src_rank, src_inner, legal, global_side=global_side)
    elif b.chance(0.25):
        options["eviction_policy"] = b.rng.choice(["evict_first", "evict_last", "evict_normal"])
    reads_global = b.buffers[src.split("[", 1)[0]]["scope"] == "global"
    if reads_global and prefer not in ("tma", "cp_async") and b.chance(FILL):
        value = b.fill(dtype, dst_dtype or dtype)
        if value is not None:
            options["fill"] = value
    return {"copy": options}


def route(b: SpecBuilder, t: Tiling) -> list[dict]:
    """Stages that move one tile of a new input to a new output, along a random route."""
    rank = len(t.axes)
    kinds = {"g2g": 2, "shared": 5, "shared2": 1, "fragment": 2, "fanout": 1}
    if rank >= 2:
        kinds["transpose"] = 3
    kind = b.pick(kinds)
    src = b.global_buffer("A", t.sizes, t.dtype, "in")
    inner = t.tile[-1] if t.tile[-1] > 1 else 1
    legal = b.legal_width(t.dtype, inner, _row(t, t.sizes))
    a_region, legal = _maybe_halo(b, t, src, legal)
    out_dtype = b.converted(t.dtype) if b.chance(CONVERT) else t.dtype
    if kind == "transpose":
        stages = _transpose(b, t, a_region, legal, out_dtype)
        if stages:
            return stages
        kind = "g2g"
    outputs = 2 if kind == "fanout" else 1
    dst_regions = [t.region(b.global_buffer("B", t.sizes, out_dtype, b.pick({"out": 9, "inout": 1})))
                   for _ in range(outputs)]
    if kind == "g2g":
        return [copy_stage(b, t.dtype, a_region, dst_regions[0], kind="g2g", src_rank=rank,
                           src_inner=t.tile[-1], legal=legal, dst_dtype=out_dtype)]
    if kind == "fragment":
        return through_fragment(b, t, a_region, dst_regions[0], legal, out_dtype=out_dtype)
    tma = b.chance(0.4)
    made = new_tile(b, t, tile_shape(b, t), tma=tma)
    if made is None:
        return [copy_stage(b, t.dtype, a_region, d, kind="g2g", src_rank=rank, src_inner=t.tile[-1],
                           legal=legal, dst_dtype=out_dtype) for d in dst_regions]
    name, region = made
    shape = b.buffers[name]["shape"]
    tma_ok = tma_fits(b, t.sizes, t.tile, t.dtype, b.buffers[name].get("layout", "auto")) \
        and slot_aligned(b, name, region)
    stages = [copy_stage(b, t.dtype, a_region, region, kind="g2s", src_rank=rank, src_inner=t.tile[-1],
                         legal=legal, tma_ok=tma_ok)]
    if kind == "shared2":
        second = new_tile(b, t, tile_shape(b, t), tma=tma)
        if second is not None:
            stages.append(copy_stage(b, t.dtype, region, second[1], kind="s2s", src_rank=len(shape),
                                     src_inner=shape[-1], legal=legal))
            name, region = second
            shape = b.buffers[name]["shape"]
            tma_ok = tma_fits(b, t.sizes, t.tile, t.dtype, b.buffers[name].get("layout", "auto")) \
                and slot_aligned(b, name, region)
    for d in dst_regions:
        stages.append(copy_stage(b, t.dtype, region, d, kind="s2g", src_rank=len(shape),
                                 src_inner=shape[-1], legal=legal, tma_ok=tma_ok,
                                 dst_dtype=out_dtype))
    return stages


def _maybe_halo(b: SpecBuilder, t: Tiling, src: str, legal: int) -> tuple[str, int]:
    """The input's region, sometimes shifted back along a tiled axis (a halo: the first tile
    starts before the tensor, where its elements read the fill), and the widest vector left
    legal: a shift of the innermost axis by s keeps only vectors dividing s."""
    axes = [i for i, a in enumerate(t.axes) if a.mode != "whole" and not a.single]
    if not axes or not b.chance(HALO):
        return t.region(src), legal
    axis, by = b.rng.choice(axes), b.rng.choice([1, 1, 2, 3, 4, 8])
    if axis == len(t.axes) - 1:
        legal = min(legal, by & -by)
    return t.region(src, shift=(axis, by)), legal


def through_fragment(b: SpecBuilder, t: Tiling, a_region: str, b_region: str, legal: int, *,
                     src_global: bool = True, src_rank: int | None = None,
                     out_dtype: str | None = None) -> list[dict]:
    """Through a register fragment; both copies lay it out alike (same options). The source is
    global, or (`src_global` False) shared, and then its copy takes no eviction_policy;
    `src_rank` is the source region's rank where it may be below the tiling's (a shared tile
    declared without its unit dimensions): a loop_layout has at most as many thread factors as
    each copy's source has dimensions."""
    shape = tile_shape(b, t)
    frag = b.fragment(shape, t.dtype)
    shared: dict = {}
    rank = min(len(t.axes), len(shape), src_rank or len(t.axes))
    wider = max(t.dtype, out_dtype or t.dtype, key=DTYPE_BYTES.get)   # both copies' vector
    b.simt_options(shared, wider, rank, min(t.tile[-1], shape[-1]), legal, global_side=False)
    if "coalesced_width" in shared and shape[-1] % shared["coalesced_width"]:
        del shared["coalesced_width"]
    stages = []
    for src, dst in ((a_region, frag), (frag, b_region)):
        extra = dict(shared)
        global_side = src_global or src == frag
        if b.chance(0.2) and global_side:
            extra["eviction_policy"] = b.rng.choice(["evict_first", "evict_last"])
        stages.append(copy_stage(b, t.dtype, src, dst, kind="frag_g" if global_side else "frag_s",
                                 src_rank=rank, src_inner=1, legal=legal, extra=extra,
                                 dst_dtype=out_dtype if dst == b_region else None))
    return stages


def _transpose(b: SpecBuilder, t: Tiling, a_region: str, legal: int,
               out_dtype: str) -> list[dict] | None:
    """Load the tile, transpose its last two dimensions in shared memory, store it into an
    output (of `out_dtype`) whose last two dimensions are swapped."""
    first = tile_shape(b, t, keep_last=2)
    made = new_tile(b, t, first, tma=b.chance(0.3), slots=False)
    if made is None:
        return None
    s1, r1 = made
    store = transposed_store(b, t, r1, first, out_dtype=out_dtype)
    if store is None:
        return None
    a_tma = tma_fits(b, t.sizes, t.tile, t.dtype, b.buffers[s1].get("layout", "auto"))
    return [copy_stage(b, t.dtype, a_region, r1, kind="g2s", src_rank=len(t.axes),
                       src_inner=t.tile[-1], legal=legal, tma_ok=a_tma)] + store()


def transposed_store(b: SpecBuilder, t: Tiling, region: str, shape: list[int], *,
                     slot: bool = False, out_dtype: str | None = None):
    """Transpose the last two dimensions of `region` (a shared tile of `shape` holding one tile
    of `t`, or with `slot` one slot of such tiles) into a new tile, and store that into a new
    output whose last two dimensions are swapped: the buffers now, and a function making the
    two stages (their options drawn when called); None when the new tile does not fit."""
    rank = len(t.axes)
    # a transpose keeps the leading dimensions as written, the slot's 1 included
    swapped = [1] * slot + shape[:-2] + [shape[-1], shape[-2]]
    second = new_tile(b, t, swapped, tma=b.chance(0.5), slots=False)
    if second is None:
        return None
    order = list(range(rank - 2)) + [rank - 1, rank - 2]
    sizes = [t.sizes[i] for i in order]
    out = b.global_buffer("B", sizes, out_dtype or t.dtype, "out")
    s2, r2 = second
    box = [t.tile[i] for i in order]
    tma_ok = tma_fits(b, sizes, box, t.dtype, b.buffers[s2].get("layout", "auto"))
    out_inner = t.tile[-2] if t.tile[-2] > 1 else 1
    out_legal = b.legal_width(t.dtype, out_inner, sizes[-1])
    # the blocks form needs src rows that hold vectors of 2 or more elements
    form = {"form": "blocks"} if shape[-1] % 2 == 0 and b.chance(0.5) else {}
    return lambda: [{"transpose": {"src": region, "dst": r2, **form}},
                    copy_stage(b, t.dtype, r2, t.region(out, order), kind="s2g",
                               src_rank=len(swapped), src_inner=swapped[-1], legal=out_legal,
                               tma_ok=tma_ok, dst_dtype=out_dtype)]


def wrap_loops(b: SpecBuilder, t: Tiling, body: list[dict]) -> list[dict]:
    """`body` inside the tiling's loops (innermost last), a sync_threads beside some."""
    for var, extent, start in reversed(t.loops):
        body = [b.loop(var, extent, start, body)]
        if b.chance(0.15):
            body = b.sprinkle_syncs(body) if len(body) > 1 else body + [{"sync_threads": None}]
    return body


def tiled(b: SpecBuilder) -> Generated:
    b.pick_threads()
    t = tiling(b)
    body: list[dict] = []
    for _ in range(b.pick({1: 5, 2: 3, 3: 1})):
        body += route(b, t)
    b.stages = wrap_loops(b, t, b.sprinkle_syncs(body))
    shape = "x".join(str(x) for x in t.tile)
    return b.finish(f"Tiles of {shape} {t.dtype} moved by {len(t.loops)} loops and a grid of "
                    f"{len(b.grid) or 1}.")
