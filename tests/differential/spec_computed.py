"""The computed-index family: gather and scatter whose rows are chosen by a list of index
expressions over `each` row variables (docs/spec.md, "Computed indices"), in tables of rank 2
and 3:

- `paged`: the paged KV-cache read, `cache[bt[by, t // P], t % P, cols]` for tokens t of a
  block's range (a page table `bt` of rank 2);
- `two_vars`: the same with the sequences a row variable too (`each: {s: ..., t: ...}`);
- `page`: no `each`, one whole page per block (`index: ["bt[by, bx]"]`);
- `rows`: a rank-2 table through a rank-1 index tensor (`index: ["idx[t]"]`);
- `affine`: no index tensor, `a*t + c` (or `V - 1 - t` for a gather: negative past V).

Index tensors are filled with table rows, a share out of range (cases.index_values), and tokens
run past the page table (T above MAXP * P), so rows out of range gather the fill and scatter
nothing. A scatter's page entries are distinct (the table has at least as many pages), so its
in-range rows are distinct.
"""
from __future__ import annotations

from spec_builder import Generated, Size, SpecBuilder
from spec_indexed import COPY_KIND, columns
from spec_tiled import copy_stage
from tlspec.dtypes import DTYPE_BYTES, INDEX_DTYPES

FORMS = {"paged": 4, "two_vars": 2, "page": 2, "rows": 2, "affine": 2}
TOKEN_TILES = [1, 2, 4, 8, 16, 32]
PAGES = [1, 2, 4, 8, 16]


def _text(size: Size) -> str:
    return size.text if size.text.isidentifier() or size.text.isdigit() else f"({size.text})"


class _Computed:
    """One computed gather or scatter (`kind`) and the buffers around it."""

    def __init__(self, b: SpecBuilder, kind: str):
        self.b, self.kind = b, kind
        self.gathering = kind == "gather"
        self.dtype = b.dtype()
        self.elem = DTYPE_BYTES[self.dtype]

    def table_rows(self, rows_cap: int, count: int) -> Size:
        """The table's first extent: any for a gather; for a scatter at least `rows_cap` (its
        distinct indices' count)."""
        b = self.b
        if self.gathering:
            return b.size(1, count, symbolic=0.4)
        if b.chance(0.5):
            value = rows_cap + b.rng.randint(0, rows_cap)
            return Size(str(value), value, value)
        return b.symbolic(1, 2 * rows_cap, inner=False, elem=self.elem, min_value=rows_cap)

    def index_tensor(self, shape: list[Size]) -> str:
        return self.b.global_buffer("I", shape, self.b.rng.choice(INDEX_DTYPES), "in")

    def stage(self, table: str, rows_region: str, index: list[str], each: dict | None,
              run_tile: int, run: Size) -> dict:
        b = self.b
        options = {"src": table if self.gathering else rows_region,
                   "dst": rows_region if self.gathering else table, "index": index}
        if each:
            options["each"] = each
        if b.chance(0.3):
            options["out_of_range"] = "fill"
        if self.gathering and b.chance(0.25):
            value = b.fill(self.dtype)
            if value is not None:
                options["fill"] = value
        legal = b.legal_width(self.dtype, run_tile, run)
        b.simt_options(options, self.dtype, 2, run_tile, legal, global_side=False)
        options.pop("loop_layout", None)
        return {self.kind: options}

    def staged(self, stage: dict, rows: str, global_rows: str, var_dims: list[str],
               shape: list[int], run_tile: int, run: Size) -> list[dict]:
        """The stage, its rows maybe through a shared tile of `shape` (`var_dims` its subscripts
        along the row variables): a copy between the tile and the global rows after (gather) or
        before (scatter) it."""
        b = self.b
        if not b.chance(0.35) or not b.fits(shape, self.dtype):
            return [stage]
        tile = b.shared_tile(shape, self.dtype)
        options = stage[self.kind]
        options["dst" if self.gathering else "src"] = \
            f"{tile}[{', '.join(var_dims + [':'])}]" if var_dims else tile
        legal = b.legal_width(self.dtype, run_tile, run)
        ends = (tile, global_rows) if self.gathering else (global_rows, tile)
        move = copy_stage(b, self.dtype, *ends, kind=COPY_KIND["shared", "out" if self.gathering
                                                              else "in"],
                          src_rank=len(shape), src_inner=run_tile, legal=legal)
        return [stage, move] if self.gathering else [move, stage]


def _columns(c: _Computed, rows_cap: int) -> tuple[Size, int, str]:
    """(the run's column size, its tile, the tile's columns: `:` or the loop's `c` tile)."""
    cols, tile, mode = columns(c.b, c.elem, rows_cap)
    part = ":" if mode == "whole" else f"c*{tile} : +{tile}"
    return cols, tile, part


def _wrap(c: _Computed, cols: Size, tile: int, part: str, stages: list[dict]) -> list[dict]:
    stages = c.b.sprinkle_syncs(stages)
    return stages if part == ":" else [c.b.loop("c", f"ceildiv({cols.text}, {tile})", 0, stages)]


def _paged(c: _Computed, form: str) -> list[dict]:
    """cache[NP, P, D] read or written through a page table bt[B, MAXP], token by token (or
    page by page: `page`)."""
    b = c.b
    page = b.rng.choice(PAGES)
    p_text = str(page)
    if b.chance(0.4):
        p_text = b.fresh("P")
        b.dims[p_text] = page
    batch = b.size(1, b.rng.randint(1, 4), symbolic=0.5)
    maxp = b.size(1, b.rng.randint(1, 6), symbolic=0.5)
    ttile = page if form == "page" else b.rng.choice(TOKEN_TILES)
    # tokens up to about 1.5 pages past the table (their rows read outside it)
    tokens = b.size(ttile, max(1, (b.cap(maxp) * page * 3 // 2) // ttile + 1), symbolic=0.5)
    pages = c.table_rows(b.cap(batch) * b.cap(maxp), b.rng.randint(1, 24))
    cap_rows = max(b.cap(pages) * page, b.cap(batch) * b.cap(tokens))
    cols, ctile, part = _columns(c, cap_rows)
    cache = b.global_buffer("T", [pages, Size(p_text, page, page), cols], c.dtype,
                            "in" if c.gathering else "inout")
    bt = c.index_tensor([batch, maxp])
    rows = b.global_buffer("B" if c.gathering else "A", [batch, tokens, cols], c.dtype,
                           "out" if c.gathering else "in")
    table = cache if part == ":" and b.chance(0.5) else f"{cache}[:, :, {part}]"
    b.grid["bx"] = f"ceildiv({tokens.text}, {ttile})"
    if form == "page":
        b.grid["by"] = batch.text
        region = f"{rows}[by, bx*{ttile} : +{ttile}, {part}]"
        stage = c.stage(table, region, [f"{bt}[by, bx]"], None, ctile, cols)
        body = c.staged(stage, region, region, [], [ttile, ctile], ctile, cols)
        return _wrap(c, cols, ctile, part, body)
    tokens_range = f"bx*{ttile} : +{ttile}"
    index = [f"{bt}[{{s}}, t // {p_text}]", f"t % {p_text}"]
    if form == "two_vars":
        stile = b.rng.choice([1, 2, 4])
        b.grid["by"] = f"ceildiv({batch.text}, {stile})"
        each = {"s": f"by*{stile} : +{stile}", "t": tokens_range}
        index[0] = index[0].format(s="s")
        region = f"{rows}[s, t, {part}]"
        stage = c.stage(table, region, index, each, ctile, cols)
        return _wrap(c, cols, ctile, part, [stage])
    b.grid["by"] = batch.text
    index[0] = index[0].format(s="by")
    region = f"{rows}[by, t, {part}]"
    stage = c.stage(table, region, index, {"t": tokens_range}, ctile, cols)
    dense = f"{rows}[by, bx*{ttile} : +{ttile}, {part}]"
    body = c.staged(stage, region, dense, [f"t - bx*{ttile}"], [ttile, ctile], ctile, cols)
    return _wrap(c, cols, ctile, part, body)


def _rows(c: _Computed, form: str) -> list[dict]:
    """table[V, D] through idx[t] (`rows`) or an affine expression of t (`affine`)."""
    b = c.b
    rtile = b.rng.choice(TOKEN_TILES)
    count = b.size(rtile, b.rng.randint(1, 24), symbolic=0.5)
    scale, offset = b.rng.choice([1, 1, 2, 3]), b.rng.choice([0, 0, 1, 5])
    # a scatter's affine rows reach scale * count + offset; its index rows, count
    needed = b.cap(count) * (scale if form == "affine" else 1) + (offset if form == "affine" else 0)
    table_rows = c.table_rows(needed, b.rng.randint(1, 48))
    cols, ctile, part = _columns(c, max(b.cap(table_rows), b.cap(count)))
    table = b.global_buffer("T", [table_rows, cols], c.dtype, "in" if c.gathering else "inout")
    rows = b.global_buffer("B" if c.gathering else "A", [count, cols], c.dtype,
                           "out" if c.gathering else "in")
    if form == "rows":
        index = [f"{c.index_tensor([count])}[t]"]
    elif c.gathering and b.chance(0.4):
        index = [f"{_text(table_rows)} - 1 - t"]      # negative past the table's rows
    else:
        index = [f"t * {scale} + {offset}" if offset else f"t * {scale}"]
    b.grid["bx"] = f"ceildiv({count.text}, {rtile})"
    table_region = table if part == ":" and b.chance(0.5) else f"{table}[:, {part}]"
    region = f"{rows}[t, {part}]"
    stage = c.stage(table_region, region, index, {"t": f"bx*{rtile} : +{rtile}"}, ctile, cols)
    dense = f"{rows}[bx*{rtile} : +{rtile}, {part}]"
    body = c.staged(stage, region, dense, [f"t - bx*{rtile}"], [rtile, ctile], ctile, cols)
    return _wrap(c, cols, ctile, part, body)


def _computed(b: SpecBuilder, kind: str) -> Generated:
    b.pick_threads()
    c = _Computed(b, kind)
    form = b.pick(FORMS)
    b.stages = _rows(c, form) if form in ("rows", "affine") else _paged(c, form)
    return b.finish(f"A {kind} with computed indices ({form}).")


def computed_gather(b: SpecBuilder) -> Generated:
    return _computed(b, "gather")


def computed_scatter(b: SpecBuilder) -> Generated:
    return _computed(b, "scatter")
