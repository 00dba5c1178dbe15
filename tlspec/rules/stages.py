"""Rules per stage kind: legal scopes, matching shapes and dtypes, options that fit the target.
The copies, transposes and loops are checked here; gather and scatter in indexed_stages.py,
im2col in im2col_stage.py, with the checks they share in stage_options.py."""
from __future__ import annotations

from math import prod
from typing import Callable

from ..conversions import CONVERTIBLE
from ..dtypes import DTYPE_BYTES
from ..limits import MAX_STAGES
from ..model import RegionRef, Stage
from ..source import pointer_join
from .barriers import WITHOUT_TMA
from .context import Context, Scope, shape_text
from .fill import check_fill
from .im2col_stage import check_im2col
from .indexed_stages import check_gather, check_scatter
from .regions import (check_fragment_whole, check_region, check_same_extents, check_steps,
                      same_extent)
from .stage_options import check_simt_options, require_scope, same_dtype
from .tma import check_tma

# Options through which a stage writes its buffer; every other region option is read.
WRITTEN = {"dst", "col"}
SHARED = ("shared", "shared.dyn")


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
    check_simt_options(ctx, stage, src, scope,
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
    require_scope(ctx, stage, "src", ("global",), "global (cp.async reads global memory)")
    require_scope(ctx, stage, "dst", SHARED, "shared (cp.async writes shared memory)")
    pair = _copy_pair(ctx, stage)
    if pair is None:
        return
    check_same_extents(ctx, *pair, "async_copy")
    same_dtype(ctx, stage, "src", "dst")
    check_simt_options(ctx, stage, pair[0], scope)


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
                  f"leader_scope_threads {leader} does not divide the block's {threads} threads",
                  "use a divisor of the block's threads (32 for one warp), or leave it out")
    check_same_extents(ctx, src, dst, "tma_copy")
    same_dtype(ctx, stage, "src", "dst")
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
                  "remove 'cluster_mask' or 'dst_block'" if multicast else
                  "add 'cluster_mask: 3' (multicast to blocks 0 and 1: bits 0 and 1) or "
                  "'dst_block: 1'",
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
                                                               "multicast copy (cluster_mask)",
                          f"remove '{option}', or copy with 'dst_block' instead", key=True)
        ok = require_scope(ctx, stage, "src", ("global",), "global for a multicast")
        ok &= require_scope(ctx, stage, "dst", SHARED, "shared for a multicast")
        if ok and pair:
            check_tma(ctx, pair[0], pair[1], scope, "copy_cluster multicast")
    else:
        require_scope(ctx, stage, "src", SHARED, "shared for a block-to-block copy")
        require_scope(ctx, stage, "dst", SHARED, "shared for a block-to-block copy")
        rng = ctx.bounds(stage.exprs["dst_block"], scope) if "dst_block" in stage.exprs else None
        if rng is not None and (rng[0] < 0 or rng[1] >= size):
            ctx.error(pointer_join(stage.pointer, "dst_block"),
                      f"dst_block ranges over [{rng[0]}, {rng[1]}], outside the cluster of {size} "
                      "blocks", f"ranks run from 0 to {size - 1}")
    if pair:
        check_same_extents(ctx, *pair, "copy_cluster")
        same_dtype(ctx, stage, "src", "dst")
        if remote:
            check_simt_options(ctx, stage, pair[0], scope)


def check_transpose(ctx: Context, stage: Stage, scope: Scope) -> None:
    ok = require_scope(ctx, stage, "src", SHARED, "a shared-memory tile")
    ok &= require_scope(ctx, stage, "dst", SHARED, "a shared-memory tile")
    pair = _copy_pair(ctx, stage)
    if not ok or pair is None:
        return
    src, dst = pair
    same_dtype(ctx, stage, "src", "dst")
    a, b = src.extents, dst.extents
    if len(a) < 2:
        ctx.error(src.pointer, f"transpose needs at least 2 dimensions; '{src.region.text}' has "
                               f"{len(a)}", "a 1-D tile is its own transpose: use copy")
        return
    expected = a[:-2] + [a[-1], a[-2]]
    if len(b) != len(a) or not all(same_extent(x, y, ctx) for x, y in zip(expected, b)):
        ctx.error(dst.pointer, f"transpose: src has extents {shape_text(a)}, so dst must have "
                               f"{shape_text(expected)}; it has {shape_text(b)}",
                  "dst[..., j, i] = src[..., i, j]: swap the last two extents")


def check_loop(ctx: Context, stage: Stage, scope: Scope) -> None:
    extent = stage.exprs.get("extent")
    value = ctx.bounds(extent, scope) if extent is not None else None
    if value is not None and value[1] < 1:
        ctx.error(stage.pointer + "/extent", f"{stage.kind} loop runs {value[1]} times; the "
                                             "extent must be positive",
                  "this loop never runs for any size the dims allow: give it an extent that "
                  "is at least 1 for some sizes, or remove it")
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
    stages = list(ctx.stages())
    if len(stages) > MAX_STAGES:
        ctx.error(stages[MAX_STAGES][0].pointer, f"kernel '{ctx.kernel.name}' has {len(stages)} "
                  f"stages (loop bodies included); a kernel holds at most {MAX_STAGES}",
                  "repeat stages with a `for` loop, or split the work over several kernels: "
                  "compile time grows faster than a kernel's length", key=True)
        return
    for stage, scope in stages:
        for ref in stage.regions.values():
            if ref.dims:
                check_region(ctx, ref, scope)
            if ref.dims and not stage.each:     # computed indices: their own rule
                check_fragment_whole(ctx, ref, scope)
            if ref.steps and ref.dims:
                check_steps(ctx, stage.kind, ref)
        check_io(ctx, stage)
        check_fill(ctx, stage)
        check = CHECKS.get(stage.kind)
        if check is not None:
            check(ctx, stage, scope)
