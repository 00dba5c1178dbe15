"""Rules of a gather or scatter with computed indices (`index` written as a list, `each` rows).

    gather: {src: cache, dst: "out[b, t, :]", index: ["block_table[b, t // P]", "t % P"],
             each: {t: "bx*16 : +16"}}

The table is a global tensor of any rank; the k index expressions choose its first k dimensions
(written `:`), the region of the others is the run moved per row. Each row variable names one
dimension of the rows region, as `t` or `t + c` (so the rows it writes or reads form a dense
box, the region's hull); the rows region, without those dimensions, has the run's extents.
"""
from __future__ import annotations

from dataclasses import replace

from ..dtypes import INDEX_DTYPES
from ..expr import BinOp, Var, free_vars
from ..expr_algebra import simplify
from ..index_expr import loads, rows_hull
from ..model import RegionRef, Stage
from ..source import pointer_join
from .context import Context, Scope, shape_text
from .regions import check_region, full_dim, same_extent, squeeze
from .stage_options import scope_error

TMA_OPTIONS = ("rows", "col", "barrier")


def computed(stage: Stage) -> bool:
    """Whether the stage is written with computed indices (or means to be: `each` given)."""
    return isinstance(stage.options.get("index"), list) or "each" in stage.options


def check_computed_indices(ctx: Context, stage: Stage, scope: Scope, table_option: str,
                           rows_option: str) -> None:
    kind = stage.written_kind
    if not isinstance(stage.options.get("index"), list):
        ctx.error(pointer_join(stage.pointer, "each"), f"{kind}: 'each' names the rows of "
                  "computed indices, but 'index' is a region",
                  "write 'index' as a list of index expressions, one per indexed dimension of "
                  "the table (['block_table[b, t // P]', 't % P']), or remove 'each'", key=True)
        return
    for option in TMA_OPTIONS:
        if option in stage.options:
            ctx.error(pointer_join(stage.pointer, option), f"'{option}' selects the TMA {kind}4 "
                      "form, which takes an index region, not computed indices",
                      f"remove '{option}', or write 'index' as a region", key=True)
    table, rows = stage.regions.get(table_option), stage.regions.get(rows_option)
    count = len(stage.options["index"])
    if table is not None and _check_table(ctx, stage, table, table_option, count) and \
            rows is not None and rows.dims and table.dims:
        _check_rows(ctx, stage, scope, table, rows, rows_option, count)
    for i, expr in enumerate(stage.indices):
        if expr is not None:
            _check_reads(ctx, stage, pointer_join(pointer_join(stage.pointer, "index"), i), expr)


def _check_table(ctx: Context, stage: Stage, table: RegionRef, option: str, count: int) -> bool:
    kind, buffer = stage.written_kind, ctx.buffer(table)
    if not buffer.is_global:
        scope_error(ctx, stage, option, "a global tensor (the table)", ("global",))
        return False
    rank = len(buffer.shape)
    if table.region.slices is not None and len(table.region.slices) != rank:
        return False                    # the region's rank is reported with the region
    if count >= rank:
        ctx.error(pointer_join(stage.pointer, "index"), f"{kind}: 'index' gives {count} "
                  f"indices but the table '{buffer.name}' has {rank} dimensions, leaving none "
                  "to move", f"give at most {rank - 1}: the table's last dimensions are the run "
                                "moved per row")
        return False
    chosen = [d for d in range(count) if not full_dim(table, d)]
    if chosen:
        ctx.error(table.pointer, f"{kind}: the first {count} dimensions of '{buffer.name}' are "
                                 "chosen by 'index'; write them as ':'",
                  f"e.g. '{buffer.name}[{', '.join([':'] * rank)}]', or the bare name")
        return False
    return True


def _check_rows(ctx: Context, stage: Stage, scope: Scope, table: RegionRef, rows: RegionRef,
                option: str, count: int) -> None:
    kind, buffer = stage.written_kind, ctx.buffer(rows)
    if any(var.start is None for var in stage.each):
        return                          # an unreadable range, reported
    if buffer.scope == "fragment":
        ctx.error(rows.pointer, f"{kind} with computed indices moves rows of a global tensor or "
                                f"a shared tile; '{buffer.name}' is a fragment",
                  "stage the rows in a shared tile")
        return
    row_dims: dict[str, int] = {}
    for d, (start, _) in enumerate(rows.dims):
        names = [v.name for v in free_vars(start) if v.name in {e.name for e in stage.each}]
        for name in dict.fromkeys(names):
            if name in row_dims or len(set(names)) > 1 or _offset_of(start, name) is None:
                ctx.error(rows.pointer, f"{kind}: row variable '{name}' must name one dimension "
                          f"of '{option}' alone, as '{name}' or '{name} + c'; "
                          f"'{rows.region.text}' uses it otherwise",
                          f"e.g. 'out[b, {name}, :]': the rows then form a dense box")
                return
            if not rows.region.slices[d].single:
                ctx.error(rows.pointer, f"{kind}: row variable '{name}' indexes a dimension of "
                          f"'{option}'; write it as an index, not a slice", f"e.g. '{name}'")
                return
            row_dims[name] = d
    missing = [v.name for v in stage.each if v.name not in row_dims]
    if missing:
        ctx.error(rows.pointer, f"{kind}: '{option}' does not use the row variable "
                  f"'{missing[0]}'", "each row variable names the dimension of the rows it "
                  f"moves along, e.g. 'out[b, {missing[0]}, :]'")
        return
    hull = replace(rows, dims=rows_hull(rows, stage.each))
    check_region(ctx, hull, scope)
    run = squeeze(table.extents[count:], ctx) or table.extents[-1:]
    moved = squeeze([e for d, e in enumerate(rows.extents) if d not in row_dims.values()], ctx) \
        or rows.extents[-1:]
    if len(run) != len(moved) or not all(same_extent(a, b, ctx) for a, b in zip(run, moved)):
        ctx.error(rows.pointer, f"{kind}: '{option}' moves {shape_text(moved)} per row but the "
                                f"table's run (its dimensions after the {count} indexed) is "
                                f"{shape_text(run)}",
                  "the rows region, without its row-variable dimensions, has the extents of the "
                  "table region's last dimensions (dimensions of extent 1 dropped)")


def _offset_of(start, name: str):
    """c when `start` is `name + c` (c free of row variables), else None."""
    rest = simplify(BinOp("-", start, Var(name)))
    return None if any(v.name == name for v in free_vars(rest)) else rest


def _check_reads(ctx: Context, stage: Stage, pointer: str, expr) -> None:
    kind = stage.written_kind
    for read in loads(expr):
        buffer = ctx.kernel.buffers[read.buffer]
        problem = None
        if not buffer.is_global:
            problem = (f"reads the {buffer.scope} buffer '{buffer.name}'; index buffers of "
                       "computed indices are global tensors", "pass the indices as a kernel "
                       "argument (scope: global, io: in)")
        elif buffer.dtype not in INDEX_DTYPES:
            problem = (f"reads '{buffer.name}', which is {buffer.dtype}; index buffers are "
                       "int32 or int64", f"declare '{buffer.name}' with dtype int32 or int64")
        elif buffer.io == "out":
            problem = (f"reads '{buffer.name}', which is declared io: out",
                       "declare it io: in or io: inout")
        elif len(read.subscripts) != len(buffer.shape):
            count = len(read.subscripts)
            problem = (f"reads '{read.name}' with {count} subscript{'s' * (count != 1)}; "
                       f"'{buffer.name}' has {len(buffer.shape)} dimensions",
                       "write one subscript per dimension")
        if problem:
            message, hint = problem
            ctx.diags.error(ctx.kernel.document.location(pointer, offset=read.offset),
                            f"{kind}: 'index' {message}", pointer=pointer, hint=hint)
