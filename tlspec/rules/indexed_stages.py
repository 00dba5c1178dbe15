"""Rules of gather and scatter: the table, the index (a region or computed indices), the rows
moved, and the TMA row form (sm_100a's gather4 / scatter4)."""
from __future__ import annotations

from ..dtypes import DTYPE_BYTES, INDEX_DTYPES
from ..expr import to_source
from ..model import RegionRef, Stage
from ..source import pointer_join
from .computed_index import check_computed_indices, computed
from .context import Context, Scope, shape_text
from .regions import const_extents, full_dim, same_extent
from .stage_options import check_vector_width, same_dtype, scope_error


def _check_indexed_rows(ctx: Context, stage: Stage, scope: Scope, table_option: str,
                        rows_option: str) -> None:
    """Shared by gather (table = src) and scatter (table = dst)."""
    if computed(stage):
        check_computed_indices(ctx, stage, scope, table_option, rows_option)
        same_dtype(ctx, stage, "src", "dst")
        if "coalesced_width" in stage.options and table_option in stage.regions:
            check_vector_width(ctx, stage, stage.options["coalesced_width"],
                                ctx.buffer(stage.regions[table_option]).dtype,
                                const_extents(ctx, stage.regions[table_option], scope))
        return
    kind = stage.written_kind
    table, rows, index = (stage.regions.get(o) for o in (table_option, rows_option, "index"))
    if table is not None:
        buffer = ctx.buffer(table)
        if not buffer.is_global:
            scope_error(ctx, stage, table_option, "a global tensor (the table)", ("global",))
        elif len(buffer.shape) != 2:
            ctx.error(table.pointer, f"{kind}: the table '{buffer.name}' must be 2-D (rows x "
                                     f"columns); it has {len(buffer.shape)} dimensions",
                      "declare the table with shape [rows, columns]; a table of another rank "
                      "takes index expressions, one per leading dimension (docs/spec.md)")
        elif not full_dim(table, 0):
            ctx.error(table.pointer, f"{kind}: the rows of '{buffer.name}' are chosen by 'index'; "
                                     "write its first dimension as ':'",
                      f"e.g. '{buffer.name}[:, 0 : +128]'")
    if index is not None:
        buffer = ctx.buffer(index)
        if buffer.dtype not in INDEX_DTYPES:
            ctx.error(index.pointer, f"{kind}: 'index' must be int32 or int64; '{buffer.name}' is "
                                     f"{buffer.dtype}",
                      f"declare '{buffer.name}' with dtype int32 (or int64)")
        if buffer.scope == "fragment":
            ctx.error(index.pointer, f"{kind}: 'index' is read by every thread that moves a row, "
                                     f"and the values of fragment '{buffer.name}' are in the "
                                     "registers of the threads that loaded them",
                      "read the indices from the global tensor, or copy them into a shared tile")
        if index.dims and len([e for e in index.extents if ctx.const(e, scope) != 1]) > 1:
            ctx.error(index.pointer, f"{kind}: 'index' must be a 1-D region, got extents "
                                     f"{shape_text(index.extents)}",
                      "give every dimension but one a single index (an extent of 1)")
    if rows is not None and rows.dims and len(rows.dims) != 2:
        ctx.error(rows.pointer, f"{kind}: '{rows_option}' must be a 2-D region (rows x columns)",
                  "one row per index, e.g. a tile of shape [16, 128] for 16 indices")
        return
    if None in (table, rows, index) or not (table.dims and rows.dims and index.dims):
        return
    if len(table.dims) == 2:
        count = [e for e in index.extents if ctx.const(e, scope) != 1] or index.extents[-1:]
        if not same_extent(count[0], rows.extents[0], ctx):
            ctx.error(rows.pointer, f"{kind}: '{rows_option}' has {shape_text(rows.extents[:1])} "
                                    f"rows but 'index' selects {shape_text(count[:1])}",
                      "one row moves per index")
        if not same_extent(table.extents[1], rows.extents[1], ctx):
            ctx.error(rows.pointer, f"{kind}: '{rows_option}' has {shape_text(rows.extents[1:])} "
                                    f"columns but the table region has {shape_text(table.extents[1:])}",
                      "each row moves whole: give both the same number of columns")
    same_dtype(ctx, stage, "src", "dst")
    _check_tma_rows(ctx, stage, scope, table, rows, index)
    if "coalesced_width" in stage.options:
        check_vector_width(ctx, stage, stage.options["coalesced_width"], ctx.buffer(rows).dtype,
                            const_extents(ctx, rows, scope))


def _check_tma_rows(ctx: Context, stage: Stage, scope: Scope, table: RegionRef, rows_ref: RegionRef,
                    index: RegionRef) -> None:
    """The TMA gather4 / scatter4 form, selected by any of its options."""
    kind = stage.written_kind
    chosen = [o for o in ("rows", "barrier", "col") if o in stage.options]
    if not chosen:
        return
    target = ctx.kernel.target
    if not target.has_gather4:
        ctx.error(pointer_join(stage.pointer, chosen[0]),
                  f"'{chosen[0]}' selects the TMA {kind}4 form, which needs sm_100a; the target "
                  f"is {target.name}", f"remove {', '.join(repr(c) for c in chosen)} for vectorized "
                                       "loads, or set 'target: sm_100a'", key=True)
        return
    rows = stage.options.get("rows")
    if rows != 4:
        ctx.error(pointer_join(stage.pointer, "rows") if rows is not None else stage.pointer,
                  f"TMA {kind}4 moves exactly 4 rows per instruction; "
                  + (f"'rows' is {rows}" if rows is not None else "set 'rows: 4'"),
                  "write 'rows: 4', or remove the TMA options for vectorized loads",
                  key=rows is None)
    if kind == "gather" and "barrier" not in stage.options:
        ctx.error(stage.pointer, "TMA gather4 needs a 'barrier' to arrive on",
                  "declare one with alloc_barrier, name it in 'barrier', and wait for it with "
                  "barrier_wait before reading the rows", key=True)
    count = ctx.const(index.extents[-1], scope)
    if count is not None and count % 4:
        ctx.error(index.pointer, f"TMA {kind}4 moves rows in fours; 'index' selects {count}",
                  "select a multiple of 4 rows, or remove the TMA options for vectorized loads")
    tile = ctx.buffer(rows_ref)
    if not tile.is_shared:
        ctx.error(rows_ref.pointer, f"TMA {kind}4 moves rows between the table and shared memory; "
                                    f"'{tile.name}' is {tile.scope}",
                  "stage the rows in a shared tile, or drop the TMA options for vectorized loads")
    width = ctx.const(rows_ref.extents[-1], scope)
    size = DTYPE_BYTES[tile.dtype]
    if width is not None and (width > 256 or width * size % 16):
        ctx.error(rows_ref.pointer, f"a TMA {kind}4 box row is {width} elements ({width * size} "
                                    "bytes); it must be at most 256 elements and a multiple of 16 "
                                    "bytes", "split the columns over several stages, or remove the "
                                             "TMA options for vectorized loads")
    col = stage.exprs.get("col")
    if col is not None and not same_extent(col, table.dims[1][0], ctx):
        ctx.error(pointer_join(stage.pointer, "col"),
                  f"'col' ({to_source(col)}) differs from the column where the table region "
                  f"'{table.region.text}' starts ({to_source(table.dims[1][0])})",
                  "'col' is the box's first column: give the same start in both, or leave 'col' "
                  "out")


def check_gather(ctx: Context, stage: Stage, scope: Scope) -> None:
    _check_indexed_rows(ctx, stage, scope, "src", "dst")


def check_scatter(ctx: Context, stage: Stage, scope: Scope) -> None:
    _check_indexed_rows(ctx, stage, scope, "dst", "src")
