"""The row families: gather and scatter of table rows through an index tensor, and im2col of an
NHWC or NCHW image (its output sizes sometimes derived dims). Each block handles its own rows (and column tile) of the output; scatter indices
are distinct (the batch fills them so: spec_features.index_fills), and the table has at least as many
rows as there are indices.
"""
from __future__ import annotations

from math import prod

from spec_builder import BLOCKS_CAP, ELEMENTS_CAP, Generated, Size, SpecBuilder
from spec_tiled import copy_stage
from tlspec.dtypes import DTYPE_BYTES, INDEX_DTYPES

# the kind of copy (spec_tiled.copy_stage) between a staging tile and global memory
COPY_KIND = {("shared", "in"): "g2s", ("shared", "out"): "s2g",
             ("fragment", "in"): "frag_g", ("fragment", "out"): "frag_g"}
ROW_TILES = [1, 2, 4, 8, 16, 32]
COL_TILES = [1, 2, 3, 4, 8, 16, 32, 64, 100, 128, 256]


def columns(b: SpecBuilder, elem: int, rows_cap: int):
    """(size of the column dim, column tile, how the tile is chosen: whole | grid | loop)."""
    tile = b.rng.choice([t for t in COL_TILES if t * elem <= 1024])
    mode = b.pick({"whole": 3, "grid": 4, "loop": 2})
    most = max(1, min(8, ELEMENTS_CAP // (rows_cap * tile)))
    if mode == "whole":
        return Size(str(tile), tile, tile), tile, mode
    return b.size(tile, b.rng.randint(1, most), inner=True, elem=elem), tile, mode


def _rows_tiling(b: SpecBuilder):
    """(rows size, row tile, row count of the grid): the rows of the index tensor."""
    tile = b.rng.choice(ROW_TILES)
    count = b.rng.randint(1, max(1, min(64, BLOCKS_CAP // 8 // tile * 4)))
    return b.size(tile, count), tile


def _col_part(b: SpecBuilder, cols: Size, tile: int, mode: str, start: int) -> str:
    """The column range of the block's tile: the whole table, or tile `by`, or tile `c` of a
    loop starting at `start`."""
    if mode == "whole":
        return b.rng.choice([":", f"0 : +{tile}"])
    if mode == "grid":
        b.grid["by"] = f"ceildiv({cols.text}, {tile})"
        return f"by*{tile} : +{tile}"
    return f"{'c' if not start else f'(c - {start})'}*{tile} : +{tile}"


def _wrap_columns(b: SpecBuilder, cols: Size, tile: int, mode: str, start: int,
                  body: list) -> list:
    body = b.sprinkle_syncs(body)
    if mode != "loop":
        return body
    return [b.loop("c", f"ceildiv({cols.text}, {tile})", start, body)]


def staged(b: SpecBuilder, dtype: str, shape: list[int], *, fragment: bool = True):
    """(buffer, its copy's kind) of a shared tile or fragment the rows pass through, or
    (None, None) to use global memory directly."""
    roll = b.rng.random()
    if roll < 0.45 or not b.fits(shape, dtype):
        return None, None
    if roll < 0.85 or not fragment:      # gather/scatter with a fragment
        return b.shared_tile(shape, dtype), "shared"
    return b.fragment(shape, dtype), "fragment"


def _index(b: SpecBuilder, rows: Size, tile: int) -> str:
    """The region of a new index tensor that selects the rows of block bx."""
    idx = b.global_buffer("I", [rows], b.rng.choice(INDEX_DTYPES), "in")
    return f"{idx}[bx*{tile} : +{tile}]"


def _table_region(b: SpecBuilder, table: str, col: str) -> str:
    if col == ":" and b.chance(0.5):
        return table
    return f"{table}[:, {col}]"


def _indexed(b: SpecBuilder, kind: str) -> list[dict]:
    """A gather (table rows -> the block's rows of an output) or a scatter (the block's rows of
    an input -> table rows), maybe through a shared tile or fragment; the stages."""
    b.pick_threads()
    dtype = b.dtype()
    elem = DTYPE_BYTES[dtype]
    rows, rtile = _rows_tiling(b)
    rows_cap = rows.value or b.plans[rows.text].cap
    cols, ctile, mode = columns(b, elem, rows_cap)
    if kind == "gather":
        table_rows = b.size(1, b.rng.randint(1, max(1, ELEMENTS_CAP // 4 // ctile // 8)))
    elif b.chance(0.5):              # a scatter's indices are distinct: at least as many rows
        value = rows_cap + b.rng.randint(0, rows_cap)
        table_rows = Size(str(value), value, value)
    else:
        table_rows = b.symbolic(1, 2 * rows_cap, inner=False, elem=elem, min_value=rows_cap)
    gathering = kind == "gather"
    table = b.global_buffer("T", [table_rows, cols], dtype, "in" if gathering else "inout")
    moved = b.global_buffer("B" if gathering else "A", [rows, cols], dtype,
                            "out" if gathering else "in")
    b.grid["bx"] = f"ceildiv({rows.text}, {rtile})"
    start = b.rng.choice([0, 0, 2])
    col = _col_part(b, cols, ctile, mode, start)
    index = _index(b, rows, rtile)
    region = f"{moved}[bx*{rtile} : +{rtile}, {col}]"
    legal = b.legal_width(dtype, ctile, cols)
    via, scope = staged(b, dtype, [rtile, ctile])
    table_side, rows_side = _table_region(b, table, col), via or region
    options = {"src": table_side if gathering else rows_side,
               "dst": rows_side if gathering else table_side, "index": index}
    b.simt_options(options, dtype, 2, ctile, legal, global_side=True)
    options.pop("loop_layout", None)
    stages = [{kind: options}]
    if via:
        ends = (via, region) if gathering else (region, via)
        move = copy_stage(b, dtype, *ends, kind=COPY_KIND[scope, "out" if gathering else "in"],
                          src_rank=2, src_inner=ctile, legal=legal)
        stages = stages + [move] if gathering else [move] + stages
    return _wrap_columns(b, cols, ctile, mode, start, stages)


def gather(b: SpecBuilder) -> Generated:
    b.stages = _indexed(b, "gather")
    return b.finish("Gather rows of a table through an index tensor.")


def scatter(b: SpecBuilder) -> Generated:
    b.stages = _indexed(b, "scatter")
    return b.finish("Scatter rows into a table through distinct indices.")


def im2col(b: SpecBuilder) -> Generated:
    b.pick_threads()
    dtype = b.dtype()
    elem = DTYPE_BYTES[dtype]
    windows = [_window(b)]
    windows.append(_window(b) if b.chance(0.3) else windows[0])   # per axis: [h, w] options
    k, stride, dilation, pad = zip(*windows)
    shifts = [2 * p - d * (kk - 1) - 1 for kk, _, d, p in windows]
    n = b.size(1, b.rng.randint(1, 3), symbolic=0.4)
    reach = [max(1, -shift) for shift in shifts]         # H and W at least this: OH, OW >= 1
    hw = [b.size(1, b.rng.randint(r, r + 12), symbolic=0.4, min_value=r) for r in reach]
    c = b.size(1, b.rng.choice([1, 2, 3, 4, 8, 16]), inner=True, elem=elem, symbolic=0.3)
    layout = b.pick({"nhwc": 3, "nchw": 2})
    shape = [n, hw[0], hw[1], c] if layout == "nhwc" else [n, c, hw[0], hw[1]]
    img = b.global_buffer("X", shape, dtype, "in")
    outs = [_derived(b, "OH" if axis == 0 else "OW", f"({s.text} + {shift}) // {step} + 1")
            if s.symbolic or b.chance(0.2) else str((s.value + shift) // step + 1)
            for axis, (s, shift, step) in enumerate(zip(hw, shifts, stride))]
    out_values = [None if s.symbolic else (s.value + shift) // step + 1
                  for s, shift, step in zip(hw, shifts, stride)]
    rows = _product([n.value] + out_values, f"{n.text} * {outs[0]} * {outs[1]}")
    taps = k[0] * k[1]
    cols = _product([taps, c.value], _derived(b, "T", f"{taps} * {c.text}"))
    rows_cap = b.cap(n) * prod(_out_cap(b, s, shift, step)
                                 for s, shift, step in zip(hw, shifts, stride))
    cols_cap = taps * b.cap(c)
    rtile = b.rng.choice([t for t in [1, 4, 8, 16, 32, 64] if -(-rows_cap // t) <= BLOCKS_CAP])
    ctile = b.rng.choice([t for t in [1, 2, 4, 8, 16, 32, 64]
                          if -(-rows_cap // rtile) * -(-cols_cap // t) <= BLOCKS_CAP]
                         or [64])
    col = b.global_buffer("C", [rows, cols], dtype, "out")
    b.grid["bx"] = f"ceildiv({rows.text}, {rtile})"
    loop = b.chance(0.3)
    if not loop:
        b.grid["by"] = f"ceildiv({cols.text}, {ctile})"
    c_step = "c" if loop else "by"
    region = f"{col}[bx*{rtile} : +{rtile}, {c_step}*{ctile} : +{ctile}]"
    via, _ = staged(b, dtype, [rtile, ctile], fragment=False)   # col: global or shared
    options = {"img": img, "col": via or region, "nhw_step": "bx", "c_step": c_step,
               "kernel": _option(k)}
    for key, value, default in (("stride", stride, 1), ("dilation", dilation, 1),
                                ("pad", pad, 0)):
        if value != (default, default) or b.chance(0.3):
            options[key] = _option(value)
    if layout == "nchw" or b.chance(0.1):
        options["layout"] = layout
    if b.chance(0.2):
        value = b.fill(dtype)
        if value is not None:
            options["fill"] = value
    if b.chance(0.25) and (layout == "nhwc" or elem >= 2):  # NCHW: hinted accesses of 1 element
        options["eviction_policy"] = b.rng.choice(["evict_first", "evict_last"])
    body = [{"im2col": options}]
    if via:
        legal = b.legal_width(dtype, ctile, None)
        body.append(copy_stage(b, dtype, via, region, kind="s2g", src_rank=2,
                               src_inner=ctile, legal=legal))
    body = b.sprinkle_syncs(body)
    if loop:
        body = [b.loop("c", f"ceildiv({cols.text}, {ctile})", 0, body)]
    b.stages = body
    return b.finish(f"im2col, kernel {_option(k)}, stride {_option(stride)}, dilation "
                    f"{_option(dilation)}, pad {_option(pad)}.")


def _derived(b: SpecBuilder, prefix: str, expr: str) -> str:
    """`expr`, or (at times) the name of a new derived dim defined by it (docs/spec.md,
    "Derived dims"), parenthesised for use in a product."""
    if not b.chance(0.4):
        return f"({expr})"
    name = b.fresh(prefix)
    b.dims[name] = {"expr": expr}
    return name


def _window(b: SpecBuilder) -> tuple[int, int, int, int]:
    """kernel, stride, dilation and pad along one image axis."""
    return (b.pick({1: 1, 2: 1, 3: 3, 5: 1}), b.pick({1: 3, 2: 2, 3: 1}), b.pick({1: 3, 2: 1}),
            b.rng.choice([0, 0, 1, 2]))


def _option(pair: tuple[int, int]) -> int | list[int]:
    """An im2col option: one integer where both axes agree, else the [h, w] pair."""
    return pair[0] if pair[0] == pair[1] else list(pair)


def _product(values: list[int | None], text: str) -> Size:
    """A size that is the product `text` of the `values`: constant when they all are."""
    if None in values:
        return Size(text, None, 1)
    value = prod(values)
    return Size(str(value), value, value)


def _out_cap(b: SpecBuilder, size: Size, shift: int, stride: int) -> int:
    return (b.cap(size) + shift) // stride + 1
