"""The stage registry: every stage kind, its options, and the role each option plays.

The JSON Schema says which options exist and what values they take; this registry says what the
validator and the compiler do with them: which options name buffer regions, which name mbarriers,
which hold integer expressions, which kinds are loops. A test keeps the two in agreement.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageKind:
    name: str
    options: tuple[str, ...]              # every option the kind accepts
    regions: tuple[str, ...] = ()         # options naming a buffer or a region of one
    barriers: tuple[str, ...] = ()        # options naming an mbarrier: `bar` or `bars[i]`
    exprs: tuple[str, ...] = ()           # options holding integer expressions
    loop: bool = False                    # has a `var` and a body of stages
    alias_of: str | None = None           # deprecated spelling of another kind


_IM2COL_OPTIONS = ("img", "col", "nhw_step", "c_step", "kernel", "stride", "dilation", "pad",
                   "eviction_policy")
QUIET = "quiet"     # the compile warnings a stage silences (`slow_path`)

STAGE_KINDS: dict[str, StageKind] = {kind.name: kind for kind in (
    StageKind("copy", ("src", "dst", "coalesced_width", "disable_tma", "eviction_policy",
                       "prefer_instruction", "loop_layout", "fill", QUIET), regions=("src", "dst")),
    StageKind("copy_cluster", ("src", "dst", "dst_block", "cluster_mask", "remote_barrier",
                               "eviction_policy", "coalesced_width", "loop_layout", QUIET),
              regions=("src", "dst"), barriers=("remote_barrier",), exprs=("dst_block",)),
    StageKind("async_copy", ("src", "dst", "coalesced_width", "loop_layout", QUIET),
              regions=("src", "dst")),
    StageKind("tma_copy", ("src", "dst", "barrier", "leader_scope_threads", "eviction_policy"),
              regions=("src", "dst"), barriers=("barrier",)),
    StageKind("gather", ("src", "dst", "index", "each", "out_of_range", "coalesced_width",
                         "eviction_policy", "col", "rows", "barrier", "fill", QUIET),
              regions=("src", "dst", "index"), barriers=("barrier",), exprs=("col",)),
    StageKind("scatter", ("src", "dst", "index", "each", "out_of_range", "coalesced_width",
                          "eviction_policy", "col", "rows", QUIET),
              regions=("src", "dst", "index"), exprs=("col",)),
    StageKind("transpose", ("src", "dst", "form"), regions=("src", "dst")),
    StageKind("im2col", (*_IM2COL_OPTIONS, "fill", "layout", QUIET), regions=("img", "col"),
              exprs=("nhw_step", "c_step")),
    StageKind("c2d_im2col", _IM2COL_OPTIONS, regions=("img", "col"), exprs=("nhw_step", "c_step"),
              alias_of="im2col"),
    StageKind("alloc_barrier", ("name", "count", "arrive_count")),
    StageKind("barrier_arrive", ("barrier", "expect_tx"), barriers=("barrier",), exprs=("expect_tx",)),
    StageKind("barrier_wait", ("barrier", "parity"), barriers=("barrier",), exprs=("parity",)),
    StageKind("async_commit", ()),
    StageKind("async_wait", ("pending",)),
    StageKind("tma_store_wait", ("pending",)),
    StageKind("sync_threads", ()),
    StageKind("for", ("var", "extent", "start", "stages"), exprs=("extent", "start"), loop=True),
    StageKind("pipeline", ("var", "extent", "num_stages", "warp_specialize", "stages"),
              exprs=("extent",), loop=True),
)}

# Kinds that move data between buffers (everything but synchronisation and loops).
DATA_KINDS = frozenset(k.name for k in STAGE_KINDS.values() if k.regions)
