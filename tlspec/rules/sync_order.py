"""The order of explicit synchronisation, where the spec alone decides it: an asynchronous copy
into a shared tile (a tma_copy load, an async_copy, a block-to-block copy_cluster with
remote_barrier) must be closed by its wait before a later stage of the same stage list touches
the tile, and a TMA store's tile must not be rewritten before a tma_store_wait retires the store.

Each stage list (the kernel's, a loop body) is followed in order, a loop body once more as its
next iteration (its variable one higher), and a stage is reported only where it certainly
touches an element of the copy's region (the same element at the same values of every name) and
no wait that could close the copy lies between them. A nested loop that holds a wait of the
copy's kind is taken to close it (it may run no iteration, but nothing is reported on a guess).
A block-to-block copy is taken to write the region its `dst` names in the block that runs the
stage: every block runs the same stages, so the copy a peer sends it lands there, unless `dst`
names a block index (then it names the region with the sender's indices, and the copy is not
followed). What this cannot decide (regions whose overlap depends on values, waits in nested
loops, phases and parities, counts that depend on a call's sizes) the interpreter checks as it
runs; it does not run block-to-block copies."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..expr import BinOp, Const, Expr, Var, free_vars, substitute
from ..expr_algebra import const_value
from ..model import RegionRef, Stage
from .context import Context, Scope

WRITES = ("dst", "col")          # the options a stage writes; its other regions it reads


@dataclass
class Pending:
    """An asynchronous transfer not yet closed: its kind ('load', 'remote', 'cp_async',
    'store'), the stage, its region of the shared tile, the barrier (a load) or the number of
    groups of its kind committed after it so far (cp.async, store), and where it was issued:
    `at` replaces loop variables in its region (`k - 1` for the previous iteration of the loop
    followed, the last value of a loop it was issued in), `when` says so in words."""
    kind: str
    stage: Stage
    ref: RegionRef
    barrier: str | None = None
    later: int = 0
    at: dict[str, Expr] = field(default_factory=dict)
    when: str = ""
    issued: int = 0          # the pass (iteration followed) that issued it

    def moved(self, var: str, value: Expr, when: str) -> "Pending":
        at = {name: substitute(e, {var: value}) for name, e in self.at.items()}
        at.setdefault(var, value)
        return replace(self, at=at, when=when)


def _value(ctx: Context, expr: Expr) -> int | None:
    value = const_value(expr)
    return value if value is not None else ctx.const(expr)


def _certainly_overlap(ctx: Context, item: Pending, ref: RegionRef) -> bool:
    """Whether `ref` certainly shares an element with the transfer's region: the same element
    at the same values of every name."""
    if item.ref.name != ref.name:
        return False
    if not item.ref.dims or not ref.dims or len(item.ref.dims) != len(ref.dims):
        return False
    for (s1, e1), (s2, e2) in zip(item.ref.dims, ref.dims):
        d = _value(ctx, BinOp("-", s2, substitute(s1, item.at)))
        n1, n2 = _value(ctx, substitute(e1, item.at)), _value(ctx, e2)
        if d is None or n1 is None or n2 is None or not (d < n1 and -d < n2):
            return False
    return True


CLOSES = {"load": "barrier_wait", "remote": "barrier_wait", "cp_async": "async_wait",
          "store": "tma_store_wait"}


def _describe(item: Pending) -> str:
    what = {"load": "a TMA load", "cp_async": "an async_copy", "store": "a TMA store",
            "remote": "a copy from another block of the cluster"}[item.kind]
    return f"{what} ({item.stage.pointer}{', ' + item.when if item.when else ''})"


def _fewer(item: Pending) -> str:
    return " (or fewer pending)" if item.later else ""


def _report(ctx: Context, stage: Stage, option: str, item: Pending) -> None:
    ref = stage.regions[option]
    touches = "overwrites" if option in WRITES else "reads"
    if item.kind in ("load", "remote"):
        barrier = item.stage.barriers.get("barrier") or item.stage.barriers["remote_barrier"]
        ctx.error(ref.pointer,
                  f"{stage.kind} {touches} {ref.region.text}, which {_describe(item)} writes "
                  f"asynchronously, and no barrier_wait on '{item.barrier}' comes between them: "
                  "the copy may not have landed (a race on the GPU)",
                  f"wait for the copy's phase first: add '- barrier_wait: {{barrier: "
                  f"\"{barrier.region.text}\", parity: ...}}' before this stage")
    elif item.kind == "cp_async":
        ctx.error(ref.pointer,
                  f"{stage.kind} {touches} {ref.region.text}, which {_describe(item)} writes "
                  "asynchronously, and no async_wait between them completes its group ("
                  f"{item.later} group(s) committed after it): the copy may not have landed "
                  "(a race on the GPU)",
                  f"add '- async_wait: {{pending: {min(item.later, 7)}}}'{_fewer(item)} and "
                  "'- sync_threads:' before this stage")
    else:
        ctx.error(ref.pointer,
                  f"{stage.kind} overwrites {ref.region.text}, which {_describe(item)} may still "
                  f"be reading: no tma_store_wait between them retires it ({item.later} store "
                  "group(s) issued after it)",
                  f"add '- tma_store_wait: {{pending: {min(item.later, 7)}}}'{_fewer(item)} before "
                  "this stage")


def _follow(ctx: Context, stages: list[Stage], scope: Scope, pending: list[Pending],
            report: int | None, issued: int = 0) -> list[Pending]:
    """Follow `stages` from `pending`, the transfers they issue marked `issued`; report a stage
    that touches a pending transfer issued in pass `report` or before (None: report nothing);
    the transfers pending at the end."""
    pending = list(pending)
    for stage in stages:
        if stage.body:
            if report is not None and _may_run(ctx, stage, scope, 1):
                # the loop's first iteration touches what is pending before it
                _follow(ctx, stage.body, ctx.body_scope(stage, scope),
                        [replace(p) for p in pending], report, issued)
            kinds = {s.kind for s in ctx.kernel.walk(stage.body)}
            pending = [p for p in pending if CLOSES[p.kind] not in kinds]
            pending += _exits(ctx, stage, scope, issued)
            continue
        if stage.kind == "barrier_wait" and "barrier" in stage.barriers:
            name = stage.barriers["barrier"].name
            pending = [p for p in pending if not (CLOSES[p.kind] == stage.kind
                                                  and p.barrier == name)]
            continue
        if stage.kind in ("async_wait", "tma_store_wait"):
            n = stage.options.get("pending", 0)
            n = n if isinstance(n, int) else 0
            pending = [p for p in pending if not (CLOSES[p.kind] == stage.kind and p.later >= n)]
            continue
        if stage.kind == "async_commit":
            for p in pending:
                p.later += p.kind == "cp_async"
            continue
        if report is not None:
            _check_touches(ctx, stage, pending, report)
        pending += _issued(ctx, stage, pending, issued)
    return pending


def _check_touches(ctx: Context, stage: Stage, pending: list[Pending], report: int) -> None:
    for option, ref in stage.regions.items():
        if ref.name not in ctx.kernel.buffers or not ctx.buffer(ref).is_shared:
            continue
        for item in pending:
            if item.kind == "store" and option not in WRITES or item.issued > report:
                continue
            if _certainly_overlap(ctx, item, ref):
                _report(ctx, stage, option, item)
                pending.remove(item)
                break


def _may_run(ctx: Context, loop: Stage, scope: Scope, iterations: int) -> bool:
    """Whether the loop may run `iterations` iterations or more (for some call's sizes)."""
    extent = loop.exprs.get("extent")
    rng = ctx.bounds(extent, scope) if extent is not None else None
    return extent is not None and (rng is None or rng[1] >= iterations)


def _exits(ctx: Context, loop: Stage, scope: Scope, issued: int) -> list[Pending]:
    """The transfers a loop leaves pending after its last iteration, when it may run one."""
    if not _may_run(ctx, loop, scope, 1):
        return []
    extent = loop.exprs["extent"]
    start = loop.exprs.get("start") or Const(0)
    last = BinOp("-", BinOp("+", start, extent), Const(1))
    body = ctx.body_scope(loop, scope)
    left = _follow(ctx, loop.body, body, [], None, issued)
    return [p.moved(loop.options["var"], last, "in the last iteration of the loop at "
                    f"{loop.pointer}") for p in left]


def _issued(ctx: Context, stage: Stage, pending: list[Pending], issued: int) -> list[Pending]:
    """The transfers `stage` leaves pending (and the group counts of those before it moved)."""
    dst = stage.regions.get("dst")
    if dst is None or dst.name not in ctx.kernel.buffers:
        return []
    if stage.kind == "async_copy":
        for p in pending:
            p.later += p.kind == "cp_async"
        return [Pending("cp_async", stage, dst, issued=issued)] if ctx.buffer(dst).is_shared else []
    if stage.kind == "tma_copy" and ctx.buffer(dst).is_shared and "barrier" in stage.barriers:
        return [Pending("load", stage, dst, stage.barriers["barrier"].name, issued=issued)]
    if stage.kind == "copy_cluster" and "remote_barrier" in stage.barriers:
        if _names_a_block(ctx, dst):
            return []   # the region in the receiver, named with the sender's block indices
        return [Pending("remote", stage, dst, stage.barriers["remote_barrier"].name,
                        issued=issued)]
    src = stage.regions.get("src")
    if (stage.kind == "tma_copy" and not ctx.buffer(dst).is_shared and src is not None
            and src.name in ctx.kernel.buffers and ctx.buffer(src).is_shared):
        for p in pending:
            p.later += p.kind == "store"
        return [Pending("store", stage, src, issued=issued)]
    return []


def _names_a_block(ctx: Context, ref: RegionRef) -> bool:
    """Whether `ref` names a block index."""
    blocks = {index.name for index in ctx.kernel.launch.grid}
    return any(var.name in blocks for start, extent in ref.dims for e in (start, extent)
               for var in free_vars(e))


# iterations of a loop followed after the first: a transfer of iteration k is compared with the
# stages of iterations k + 1 .. k + FOLLOWED (a ring of up to 8 slots)
FOLLOWED = 8


def check_sync_order(ctx: Context) -> None:
    if not any(s.kind in ("tma_copy", "async_copy", "copy_cluster") for s in ctx.kernel.walk()):
        return
    _follow(ctx, ctx.kernel.stages, ctx.top, [], 0)
    for stage, scope in ctx.stages():
        if not stage.body:
            continue
        body, var = ctx.body_scope(stage, scope), stage.options.get("var")
        pending = _follow(ctx, stage.body, body, [], 0)
        extent = stage.exprs.get("extent")
        rng = ctx.bounds(extent, scope) if extent is not None else None
        passes = FOLLOWED if rng is None else min(FOLLOWED, rng[1] - 1)
        for n in range(1, passes + 1):
            if not pending:
                break
            # iteration k + n seen from iteration k + n - 1: every transfer one iteration older
            pending = [p.moved(var, BinOp("-", Var(var), Const(1)),
                               "in the previous iteration" if n - p.issued == 1 else
                               f"{n - p.issued} iterations earlier") for p in pending]
            pending = _follow(ctx, stage.body, body, pending, n - 1, n)
