"""Rules per stage kind: legal scopes, matching shapes and dtypes, options that fit the target."""
from __future__ import annotations

from math import prod
from typing import Callable

from ..conversions import CONVERTIBLE
from ..dtypes import DTYPE_BYTES, INDEX_DTYPES, MAX_VECTOR_BYTES
from ..expr import to_source
from ..im2col import column_matrix, is_nchw, nhwc, windows
from ..model import RegionRef, Stage
from ..source import pointer_join
from .barriers import WITHOUT_TMA
from .computed_index import check_computed_indices, computed
from .context import Context, Scope, shape_text
from .fill import check_fill
from .regions import check_region, check_same_extents, check_steps, const_extents, full_dim, same_extent
from .tma import check_tma

# Options through which a stage writes its buffer; every other region option is read.
WRITTEN = {"dst", "col"}
SHARED = ("shared", "shared.dyn")


def _scope_error(ctx: Context, stage: Stage, option: str, allowed: str) -> None:
    ref = stage.regions[option]
    buffer = ctx.buffer(ref)
    ctx.error(ref.pointer, f"{stage.written_kind}: '{option}' must be {allowed}; '{buffer.name}' is "
                           f"{buffer.scope}")


def _require_scope(ctx: Context, stage: Stage, option: str, scopes: tuple[str, ...],
                   allowed: str) -> bool:
    ref = stage.regions.get(option)
    if ref is None:
        return False
    if ctx.buffer(ref).scope not in scopes:
        _scope_error(ctx, stage, option, allowed)
        return False
    return True


def _same_dtype(ctx: Context, stage: Stage, a: str, b: str) -> None:
    ra, rb = stage.regions.get(a), stage.regions.get(b)
    if ra is None or rb is None:
        return
    da, db = ctx.buffer(ra).dtype, ctx.buffer(rb).dtype
    if da != db:
        ctx.error(rb.pointer, f"{stage.written_kind} does not convert types: '{a}' is {da} but "
                              f"'{b}' is {db}", "use buffers of the same dtype")


def _check_conversion(ctx: Context, stage: Stage, src: RegionRef, dst: RegionRef) -> bool:
    """A copy between dtypes converts each element (tlspec.conversions), by a SIMT loop: TMA and
    cp.async move bits. Returns whether the copy converts."""
    ds, dd = ctx.buffer(src).dtype, ctx.buffer(dst).dtype
    if ds == dd:
        return False
    for ref, dtype in ((src, ds), (dst, dd)):
        if dtype not in CONVERTIBLE:
            ctx.error(ref.pointer, f"copy converts between {', '.join(CONVERTIBLE)}, not {dtype}",
                      f"copy {dtype} into a buffer of the same dtype")
    prefer = stage.options.get("prefer_instruction")
    if prefer in ("tma", "cp_async"):
        ctx.error(pointer_join(stage.pointer, "prefer_instruction"),
                  f"prefer_instruction {prefer}: this copy converts {ds} to {dd}, and "
                  f"{'TMA' if prefer == 'tma' else 'cp.async'} moves bits without converting them",
                  "remove prefer_instruction (a converting copy is a SIMT loop), or copy between "
                  "buffers of the same dtype")
    return True


def _check_vector_width(ctx: Context, stage: Stage, width: int, dtype: str, extents) -> None:
    pointer = pointer_join(stage.pointer, "coalesced_width")
    size = DTYPE_BYTES[dtype]
    if width & (width - 1):
        ctx.error(pointer, f"coalesced_width must be a power of two, got {width}")
    elif width * size > MAX_VECTOR_BYTES:
        ctx.error(pointer, f"coalesced_width {width} of {dtype} is {width * size} bytes per access; "
                           f"the widest vector access is {MAX_VECTOR_BYTES} bytes",
                  f"use at most {MAX_VECTOR_BYTES // size}")
    elif extents and extents[-1] is not None and extents[-1] % width:
        ctx.error(pointer, f"coalesced_width {width} does not divide the innermost extent "
                           f"{extents[-1]}", "pick a width that divides it")


def _check_loop_layout(ctx: Context, stage: Stage, extents) -> None:
    layout = stage.options["loop_layout"]
    pointer = pointer_join(stage.pointer, "loop_layout")
    threads = ctx.kernel.launch.threads
    if prod(layout["threads"]) != threads:
        ctx.error(pointer + "/threads", f"loop_layout lays out {prod(layout['threads'])} threads "
                                        f"but the block has {threads}",
                  "the product of loop_layout.threads must equal launch.threads")
    if extents and len(layout["threads"]) > len(extents):
        ctx.error(pointer + "/threads", f"loop_layout.threads has {len(layout['threads'])} entries "
                                        f"but the copy has {len(extents)} dimensions")


def _check_simt_options(ctx: Context, stage: Stage, ref: RegionRef, scope: Scope,
                        dtype: str | None = None) -> None:
    """`dtype`: the element type whose size bounds the vector (default: ref's; a converting
    copy's wider side)."""
    extents = const_extents(ctx, ref, scope)
    dtype = dtype or ctx.buffer(ref).dtype
    if "coalesced_width" in stage.options:
        _check_vector_width(ctx, stage, stage.options["coalesced_width"], dtype, extents)
    if "loop_layout" in stage.options:
        _check_loop_layout(ctx, stage, extents)


def _copy_pair(ctx: Context, stage: Stage) -> tuple[RegionRef, RegionRef] | None:
    src, dst = stage.regions.get("src"), stage.regions.get("dst")
    if src is None or dst is None or not src.dims or not dst.dims:
        return None
    return src, dst


def _tma_direction(ctx: Context, src: RegionRef, dst: RegionRef) -> str | None:
    s, d = ctx.buffer(src), ctx.buffer(dst)
    if s.is_global and d.is_shared:
        return "load"
    if s.is_shared and d.is_global:
        return "store"
    return None


def check_copy(ctx: Context, stage: Stage, scope: Scope) -> None:
    pair = _copy_pair(ctx, stage)
    if pair is None:
        return
    src, dst = pair
    check_same_extents(ctx, src, dst, "copy")
    options = stage.options
    prefer = options.get("prefer_instruction")
    if _check_conversion(ctx, stage, src, dst):
        prefer = None
    target = ctx.kernel.target
    if prefer == "tma":
        pointer = pointer_join(stage.pointer, "prefer_instruction")
        if not target.has_tma:
            ctx.error(pointer, f"prefer_instruction tma: {target.name} has no TMA (the Tensor "
                               "Memory Accelerator arrived with sm_90a)",
                      f"use prefer_instruction: cp_async or sync on {target.name}, or set "
                      "'target: sm_90a'")
        elif options.get("disable_tma"):
            ctx.error(pointer, "prefer_instruction tma contradicts disable_tma: true",
                      "remove one of the two")
        elif "loop_layout" in options:
            ctx.error(pointer_join(stage.pointer, "loop_layout"),
                      "loop_layout applies to SIMT copies; this copy asks for TMA",
                      "remove loop_layout or prefer_instruction")
        else:
            direction = _tma_direction(ctx, src, dst)
            if direction is None:
                ctx.error(pointer, "prefer_instruction tma: TMA copies global -> shared or shared "
                                   f"-> global; this copy is {ctx.buffer(src).scope} -> "
                                   f"{ctx.buffer(dst).scope}", "use sync")
            else:
                g, s = (src, dst) if direction == "load" else (dst, src)
                check_tma(ctx, g, s, scope, "prefer_instruction tma", store=direction == "store")
    elif prefer == "cp_async":
        if not (ctx.buffer(src).is_global and ctx.buffer(dst).is_shared):
            ctx.error(pointer_join(stage.pointer, "prefer_instruction"),
                      "prefer_instruction cp_async: cp.async copies global -> shared; this copy is "
                      f"{ctx.buffer(src).scope} -> {ctx.buffer(dst).scope}", "use sync")
        _warn_unhinted_cp_async(ctx, stage)
    _check_simt_options(ctx, stage, src, scope,
                        max(ctx.buffer(src).dtype, ctx.buffer(dst).dtype, key=DTYPE_BYTES.get))


def _warn_unhinted_cp_async(ctx: Context, stage: Stage) -> None:
    """cp.async copies run without an L2 cache hint: the ptxas of CUDA 13.0 (NVRTC's) can drop
    the cache policy of a hinted cp.async, and the copy then traps as an illegal instruction at
    run time (found by the differential run on an H200; CUDA 13.1's ptxas does the same)."""
    policy = stage.options.get("eviction_policy", "evict_normal")
    if policy != "evict_normal":
        ctx.warning(pointer_join(stage.pointer, "eviction_policy"),
                    f"eviction_policy {policy} is not applied to a cp.async copy: CUDA 13's ptxas "
                    "can compile a cp.async L2 cache hint into an illegal instruction, so the copy "
                    "runs without it", "remove eviction_policy, or use prefer_instruction: sync "
                    "(or tma) to keep the hint")


def check_async_copy(ctx: Context, stage: Stage, scope: Scope) -> None:
    _require_scope(ctx, stage, "src", ("global",), "global (cp.async reads global memory)")
    _require_scope(ctx, stage, "dst", SHARED, "shared (cp.async writes shared memory)")
    pair = _copy_pair(ctx, stage)
    if pair is None:
        return
    check_same_extents(ctx, *pair, "async_copy")
    _same_dtype(ctx, stage, "src", "dst")
    _check_simt_options(ctx, stage, pair[0], scope)


def check_tma_copy(ctx: Context, stage: Stage, scope: Scope) -> None:
    target = ctx.kernel.target
    if not target.has_tma:
        ctx.error(stage.pointer, f"tma_copy needs TMA, which {target.name} does not have",
                  f"on {target.name} load tiles with {WITHOUT_TMA}, or set 'target: sm_90a'",
                  key=True)
        return
    pair = _copy_pair(ctx, stage)
    if pair is None:
        return
    src, dst = pair
    direction = _tma_direction(ctx, src, dst)
    if direction is None:
        ctx.error(stage.pointer, "tma_copy moves global -> shared (a load) or shared -> global (a "
                                 f"store); this one is {ctx.buffer(src).scope} -> "
                                 f"{ctx.buffer(dst).scope}", "use copy for other directions",
                  key=True)
        return
    has_barrier = "barrier" in stage.options
    if direction == "load" and not has_barrier:
        ctx.error(stage.pointer, "a TMA load (tma_copy global -> shared) needs a 'barrier' to "
                                 "arrive on", "allocate one with alloc_barrier and name it here; "
                                              "wait for it with barrier_wait", key=True)
    if direction == "store" and has_barrier:
        ctx.error(pointer_join(stage.pointer, "barrier"), "a TMA store (shared -> global) takes no "
                                                          "barrier", "wait with tma_store_wait instead",
                  key=True)
    leader = stage.options.get("leader_scope_threads")
    threads = ctx.kernel.launch.threads
    if leader is not None and threads % leader:
        ctx.error(pointer_join(stage.pointer, "leader_scope_threads"),
                  f"leader_scope_threads {leader} does not divide the block's {threads} threads")
    check_same_extents(ctx, src, dst, "tma_copy")
    _same_dtype(ctx, stage, "src", "dst")
    g, s = (src, dst) if direction == "load" else (dst, src)
    check_tma(ctx, g, s, scope, "tma_copy")


def check_copy_cluster(ctx: Context, stage: Stage, scope: Scope) -> None:
    launch = ctx.kernel.launch
    options = stage.options
    if launch.cluster is None:
        ctx.error(stage.pointer, "copy_cluster needs a cluster: set launch.cluster",
                  "e.g. 'cluster: [2]' for pairs of blocks", key=True)
        return
    size = prod(launch.cluster)
    multicast, remote = "cluster_mask" in options, "dst_block" in options
    if multicast == remote:
        ctx.error(stage.pointer, "copy_cluster takes exactly one of 'cluster_mask' (TMA multicast) "
                                 "and 'dst_block' (copy into another block's shared memory)",
                  key=True)
        return
    pair = _copy_pair(ctx, stage)
    if multicast:
        mask = options["cluster_mask"]
        if mask.bit_length() > size:  # mask >= 1 << size, without building 1 << size
            ctx.error(pointer_join(stage.pointer, "cluster_mask"),
                      f"cluster_mask {mask:#x} names blocks beyond the cluster of {size}",
                      f"use bits 0 to {size - 1} only")
        for option in ("loop_layout", "remote_barrier"):
            if option in options:
                ctx.error(pointer_join(stage.pointer, option), f"'{option}' does not apply to a TMA "
                                                               "multicast copy (cluster_mask)", key=True)
        ok = _require_scope(ctx, stage, "src", ("global",), "global for a multicast")
        ok &= _require_scope(ctx, stage, "dst", SHARED, "shared for a multicast")
        if ok and pair:
            check_tma(ctx, pair[0], pair[1], scope, "copy_cluster multicast")
    else:
        _require_scope(ctx, stage, "src", SHARED, "shared for a block-to-block copy")
        _require_scope(ctx, stage, "dst", SHARED, "shared for a block-to-block copy")
        rng = ctx.bounds(stage.exprs["dst_block"], scope) if "dst_block" in stage.exprs else None
        if rng is not None and (rng[0] < 0 or rng[1] >= size):
            ctx.error(pointer_join(stage.pointer, "dst_block"),
                      f"dst_block ranges over [{rng[0]}, {rng[1]}], outside the cluster of {size} "
                      "blocks", f"ranks run from 0 to {size - 1}")
    if pair:
        check_same_extents(ctx, *pair, "copy_cluster")
        _same_dtype(ctx, stage, "src", "dst")
        if remote:
            _check_simt_options(ctx, stage, pair[0], scope)


def _check_indexed_rows(ctx: Context, stage: Stage, scope: Scope, table_option: str,
                        rows_option: str) -> None:
    """Shared by gather (table = src) and scatter (table = dst)."""
    if computed(stage):
        check_computed_indices(ctx, stage, scope, table_option, rows_option)
        _same_dtype(ctx, stage, "src", "dst")
        if "coalesced_width" in stage.options and table_option in stage.regions:
            _check_vector_width(ctx, stage, stage.options["coalesced_width"],
                                ctx.buffer(stage.regions[table_option]).dtype,
                                const_extents(ctx, stage.regions[table_option], scope))
        return
    kind = stage.written_kind
    table, rows, index = (stage.regions.get(o) for o in (table_option, rows_option, "index"))
    if table is not None:
        buffer = ctx.buffer(table)
        if not buffer.is_global:
            _scope_error(ctx, stage, table_option, "a global tensor (the table)")
        elif len(buffer.shape) != 2:
            ctx.error(table.pointer, f"{kind}: the table '{buffer.name}' must be 2-D (rows x "
                                     f"columns); it has {len(buffer.shape)} dimensions")
        elif not full_dim(table, 0):
            ctx.error(table.pointer, f"{kind}: the rows of '{buffer.name}' are chosen by 'index'; "
                                     "write its first dimension as ':'",
                      f"e.g. '{buffer.name}[:, 0 : +128]'")
    if index is not None:
        buffer = ctx.buffer(index)
        if buffer.dtype not in INDEX_DTYPES:
            ctx.error(index.pointer, f"{kind}: 'index' must be int32 or int64; '{buffer.name}' is "
                                     f"{buffer.dtype}")
        if index.dims and len([e for e in index.extents if ctx.const(e, scope) != 1]) > 1:
            ctx.error(index.pointer, f"{kind}: 'index' must be a 1-D region, got extents "
                                     f"{shape_text(index.extents)}")
    if rows is not None and rows.dims and len(rows.dims) != 2:
        ctx.error(rows.pointer, f"{kind}: '{rows_option}' must be a 2-D region (rows x columns)")
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
                                    f"columns but the table region has {shape_text(table.extents[1:])}")
    _same_dtype(ctx, stage, "src", "dst")
    _check_tma_rows(ctx, stage, scope, table, rows, index)
    if "coalesced_width" in stage.options:
        _check_vector_width(ctx, stage, stage.options["coalesced_width"], ctx.buffer(rows).dtype,
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
                  + (f"'rows' is {rows}" if rows is not None else "set 'rows: 4'"), key=rows is None)
    if kind == "gather" and "barrier" not in stage.options:
        ctx.error(stage.pointer, "TMA gather4 needs a 'barrier' to arrive on", key=True)
    count = ctx.const(index.extents[-1], scope)
    if count is not None and count % 4:
        ctx.error(index.pointer, f"TMA {kind}4 moves rows in fours; 'index' selects {count}")
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
                                    "bytes")
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


def check_transpose(ctx: Context, stage: Stage, scope: Scope) -> None:
    ok = _require_scope(ctx, stage, "src", SHARED, "a shared-memory tile")
    ok &= _require_scope(ctx, stage, "dst", SHARED, "a shared-memory tile")
    pair = _copy_pair(ctx, stage)
    if not ok or pair is None:
        return
    src, dst = pair
    _same_dtype(ctx, stage, "src", "dst")
    a, b = src.extents, dst.extents
    if len(a) < 2:
        ctx.error(src.pointer, f"transpose needs at least 2 dimensions; '{src.region.text}' has "
                               f"{len(a)}")
        return
    expected = a[:-2] + [a[-1], a[-2]]
    if len(b) != len(a) or not all(same_extent(x, y, ctx) for x, y in zip(expected, b)):
        ctx.error(dst.pointer, f"transpose: src has extents {shape_text(a)}, so dst must have "
                               f"{shape_text(expected)}; it has {shape_text(b)}",
                  "dst[..., j, i] = src[..., i, j]: swap the last two extents")


def check_im2col(ctx: Context, stage: Stage, scope: Scope) -> None:
    img, col = stage.regions.get("img"), stage.regions.get("col")
    if img is not None:
        buffer = ctx.buffer(img)
        axes = "(N, C, H, W)" if is_nchw(stage.options) else "(N, H, W, C)"
        if not buffer.is_global:
            _scope_error(ctx, stage, "img", "a global tensor (the "
                                            f"{'NCHW' if is_nchw(stage.options) else 'NHWC'} image)")
        elif len(buffer.shape) != 4:
            ctx.error(img.pointer, f"im2col: the image '{buffer.name}' must be 4-D {axes}; it "
                                   f"has {len(buffer.shape)} dimensions",
                      "a single image has N = 1: give it a leading extent of 1")
        elif img.region.slices is not None:
            ctx.error(img.pointer, "im2col reads windows anywhere in the image: name the whole "
                                   f"buffer ('{buffer.name}'), not a region of it")
        else:
            _check_window_fits(ctx, stage, nhwc(buffer.shape, stage.options))
            if col is not None and col.dims and ctx.buffer(col).is_global:
                _check_column_matrix(ctx, stage, buffer.shape, col)
    if col is not None and col.dims:
        if len(col.extents) != 2:
            ctx.error(col.pointer, f"im2col: 'col' must be a 2-D tile (output pixels x kernel "
                                   f"taps*channels); it has {len(col.extents)} dimensions")
        if ctx.buffer(col).scope == "fragment":
            _scope_error(ctx, stage, "col", "global, shared or local")
    _same_dtype(ctx, stage, "img", "col")


def _check_window_fits(ctx: Context, stage: Stage, image: list) -> None:
    """The output is not empty along H nor along W (constant extents; the launch wrapper checks
    symbolic ones)."""
    height, width = windows(stage.options)
    for axis, extent, window in (("H", image[1], height), ("W", image[2], width)):
        size = ctx.const(extent)
        if size is not None and size + window.reach < 0:
            ctx.error(stage.pointer + "/kernel",
                      f"im2col: a {height.kernel}x{width.kernel} kernel with dilation "
                      f"{window.dilation} and pad {window.pad} does not fit in "
                      f"{axis} = {size}",
                      f"the output would be empty: {axis} + 2*pad - dilation*(kernel - 1) - 1 "
                      "must be at least 0 (give kernel, dilation or pad per axis as [h, w])",
                      key=True)


def _check_column_matrix(ctx: Context, stage: Stage, image: list, col: RegionRef) -> None:
    """A global `col` is the whole column matrix: (N*OH*OW, KH*KW*C) for this image and these
    options. Constant extents are compared here; the launch wrapper compares symbolic ones."""
    buffer = ctx.buffer(col)
    expected = column_matrix(image, stage.options)
    rows, columns = (str(v) if (v := ctx.const(e)) is not None else to_source(e) for e in expected)
    if len(buffer.shape) != 2:
        return                          # reported as a region of the wrong rank
    for axis, have, want in zip(("rows", "columns"), buffer.shape, expected):
        a, b = ctx.const(have), ctx.const(want)
        if a is not None and b is not None and a != b:
            ctx.error(col.pointer, f"im2col: the column matrix '{buffer.name}' has {a} {axis}; "
                                   f"this image and kernel make {b} (N*OH*OW rows, KH*KW*C "
                                   "columns)",
                      f"declare '{buffer.name}' with shape [{rows}, {columns}]: "
                      "OH = (H + 2*pad - dilation*(KH - 1) - 1) // stride + 1 with the H values "
                      "of pad, dilation and stride, OW likewise with the W values")


def check_loop(ctx: Context, stage: Stage, scope: Scope) -> None:
    extent = stage.exprs.get("extent")
    value = ctx.bounds(extent, scope) if extent is not None else None
    if value is not None and value[1] < 1:
        ctx.error(stage.pointer + "/extent", f"{stage.kind} loop runs {value[1]} times; the "
                                             "extent must be positive")
    num_stages = stage.options.get("num_stages")
    if num_stages and value is not None and value[0] == value[1] and num_stages > value[0]:
        ctx.error(stage.pointer + "/num_stages", f"pipeline of {num_stages} stages over a loop of "
                                                 f"{value[0]} iterations",
                  "use at most as many stages as iterations")
    if stage.options.get("warp_specialize") is True:
        check_warp_specialize(ctx, stage)


def check_warp_specialize(ctx: Context, stage: Stage) -> None:
    """`warp_specialize: true` needs what any warp-specialized loop needs; the compiler says
    why a particular loop cannot have it (ProducerConsumerWarpSpecialized)."""
    pointer = stage.pointer + "/warp_specialize"
    target = ctx.kernel.target
    if not target.has_tma:
        ctx.error(pointer, f"warp specialization needs sm_90a (its producer warp issues TMA "
                           f"loads on mbarriers); the target is {target.name}",
                  "remove 'warp_specialize' (the loop is pipelined with cp.async), or set "
                  "'target: sm_90a'", key=True)
    elif stage.options.get("num_stages", 2) < 2:
        ctx.error(pointer, "warp specialization needs a pipeline of num_stages >= 2 (the "
                           "producer fills the next slots while the consumers read one)",
                  "set num_stages: 2 or more, or remove 'warp_specialize'", key=True)


CHECKS: dict[str, Callable[[Context, Stage, Scope], None]] = {
    "copy": check_copy,
    "copy_cluster": check_copy_cluster,
    "async_copy": check_async_copy,
    "tma_copy": check_tma_copy,
    "gather": check_gather,
    "scatter": check_scatter,
    "transpose": check_transpose,
    "im2col": check_im2col,
    "for": check_loop,
    "pipeline": check_loop,
}


def check_io(ctx: Context, stage: Stage) -> None:
    """Inputs are not written and outputs are not read."""
    for option, ref in stage.regions.items():
        buffer = ctx.buffer(ref)
        if not buffer.is_global:
            continue
        if option in WRITTEN and buffer.io == "in":
            ctx.error(ref.pointer, f"{stage.written_kind} writes '{buffer.name}', which is declared "
                                   "io: in", "declare it io: out or io: inout")
        elif option not in WRITTEN and buffer.io == "out":
            ctx.error(ref.pointer, f"{stage.written_kind} reads '{buffer.name}', which is declared "
                                   "io: out", "declare it io: in or io: inout")


def check_stages(ctx: Context) -> None:
    for stage, scope in ctx.stages():
        for ref in stage.regions.values():
            if ref.dims:
                check_region(ctx, ref, scope)
            if ref.steps and ref.dims:
                check_steps(ctx, stage.kind, ref)
        check_io(ctx, stage)
        check_fill(ctx, stage)
        check = CHECKS.get(stage.kind)
        if check is not None:
            check(ctx, stage, scope)
