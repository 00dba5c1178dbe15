"""Rules on mbarriers: the target has them, references name one allocated barrier, waits use a
parity, the bytes announced with expect_tx match the bytes the asynchronous copies deliver, and a
wait can complete: a barrier some stage waits on has an arrival somewhere, and in the kernel's
top-level stages (straight-line code, before a loop uses the barrier) each wait is checked
against the phases completed before it: waiting for the phase in progress hangs, and parity 1
before any phase has completed returns at once, before any data has landed. From a barrier's
first loop on, barrier_phases.py follows its phases through the loops' iterations, and
cluster_phases.py those of the barriers block-to-block copies signal, block by block."""
from __future__ import annotations

from collections.abc import Iterable
from math import prod

from ..dtypes import DTYPE_BYTES
from ..limits import MAX_TX
from ..model import RegionRef, Stage
from ..source import pointer_join
from .context import Context, Scope


# Stages of Hopper's asynchronous machinery: mbarriers with transaction counts and parity waits,
# and the wait for TMA stores (tma_copy itself is refused by its own rule)
HOPPER_KINDS = ("alloc_barrier", "barrier_arrive", "barrier_wait", "tma_store_wait")
WITHOUT_TMA = "async_copy, then async_wait and sync_threads"


def check_hopper_stages(ctx: Context, stage: Stage) -> None:
    target = ctx.kernel.target
    if stage.kind in HOPPER_KINDS and not target.has_tma:
        ctx.error(stage.pointer, f"{stage.kind} needs sm_90a (mbarrier transaction counts, parity "
                                 f"waits and TMA stores are Hopper's); the target is {target.name}",
                  f"on {target.name} load tiles with {WITHOUT_TMA}, or set 'target: sm_90a'",
                  key=True)


def check_barrier_refs(ctx: Context, stage: Stage, scope: Scope) -> None:
    for option, ref in stage.barriers.items():
        barrier = ctx.kernel.barriers[ref.name]
        if ref.region.slices is None:
            if barrier.count > 1:
                ctx.error(ref.pointer, f"'{ref.name}' is an array of {barrier.count} barriers; "
                                       "pick one", f"e.g. '{ref.name}[k % {barrier.count}]'")
            continue
        if ref.dims and not ref.region.slices[0].single:
            ctx.error(ref.pointer, f"'{option}' names one barrier: write '{ref.name}[i]', not a "
                                   "range", f"e.g. '{ref.name}[k % {barrier.count}]'")
            continue
        rng = ctx.bounds(ref.dims[0][0], scope) if ref.dims else None
        if rng is not None and (rng[0] < 0 or rng[1] >= barrier.count):
            ctx.error(ref.pointer, f"barrier index ranges over [{rng[0]}, {rng[1]}] but "
                                   f"'{ref.name}' has {barrier.count} barriers",
                      f"use an index from 0 to {barrier.count - 1}, e.g. '{ref.name}[k % "
                      f"{barrier.count}]'")
    expect = stage.exprs.get("expect_tx")
    rng = ctx.bounds(expect, scope) if expect is not None else None
    if rng is not None and rng[1] > MAX_TX:
        ctx.error(pointer_join(stage.pointer, "expect_tx"),
                  f"expect_tx announces {'up to ' * (rng[0] != rng[1])}{rng[1]} bytes; an "
                  f"mbarrier's transaction count holds at most 2**20 - 1 ({MAX_TX}) bytes "
                  "per phase",
                  "spread the copies over several barriers (or phases) of at most 1 MiB - 1 "
                  "bytes each")
    parity = stage.exprs.get("parity")
    rng = ctx.bounds(parity, scope) if parity is not None else None
    if rng is not None and (rng[0] < 0 or rng[1] > 1):
        ctx.error(pointer_join(stage.pointer, "parity"),
                  f"parity ranges over [{rng[0]}, {rng[1]}]; a phase parity is 0 or 1",
                  "for the n-th phase use n % 2, e.g. 'k % 2' or 'k // 2 % 2'")


def _delivered(ctx: Context, stage: Stage, scope: Scope) -> tuple[str, int | None] | None:
    """(barrier name, bytes) for a stage whose asynchronous copy completes on a barrier."""
    delivery = delivery_of(ctx, stage, scope)
    return None if delivery is None else (delivery[0].name, delivery[1])


def delivery_of(ctx: Context, stage: Stage,
                scope: Scope) -> tuple[RegionRef, int | None] | None:
    """(the barrier as written, bytes) for a stage whose asynchronous copy completes on a
    barrier: a tma_copy load, a TMA gather, a copy_cluster with remote_barrier."""
    if stage.kind == "tma_copy" and "barrier" in stage.barriers:
        ref, barrier = stage.regions.get("dst"), stage.barriers["barrier"]
        if ref is not None and not ctx.buffer(ref).is_shared:
            return None  # a store: it takes no barrier (reported by the tma_copy rules)
    elif stage.kind == "gather" and "barrier" in stage.barriers:
        ref, barrier = stage.regions.get("dst"), stage.barriers["barrier"]
    elif stage.kind == "copy_cluster" and "remote_barrier" in stage.barriers:
        ref, barrier = stage.regions.get("dst"), stage.barriers["remote_barrier"]
    else:
        return None
    if ref is None or not ref.dims:
        return barrier, None
    extents = [ctx.const(e, scope) for e in ref.extents]
    if any(e is None for e in extents):
        return barrier, None
    return barrier, prod(extents) * DTYPE_BYTES[ctx.buffer(ref).dtype]


def has_unattributed_load(ctx: Context, stages: Iterable[Stage]) -> bool:
    """Whether a TMA load or gather of `stages` names no barrier (reported): its bytes may
    complete on any barrier."""
    return any(not stage.barriers and (stage.kind == "gather" and "rows" in stage.options
                                       or stage.kind == "tma_copy" and _is_tma_load(ctx, stage))
               for stage in stages)


def _is_tma_load(ctx: Context, stage: Stage) -> bool:
    """Whether a tma_copy writes a shared tile (a load, which completes on a barrier)."""
    ref = stage.regions.get("dst")
    return ref is not None and ref.name in ctx.kernel.buffers and ctx.buffer(ref).is_shared


def check_transaction_bytes(ctx: Context, stages: list[Stage], scope: Scope) -> set[str]:
    """Within one stage list (the kernel's, or a loop body), the expect_tx of the arrivals on a
    barrier must add up to the bytes of the copies completing on it: too few lets the wait
    return before the data has landed, too many hangs the kernel. Returns the barriers
    reported."""
    delivered: dict[str, list[int | None]] = {}
    announced: dict[str, list[tuple[Stage, int | None]]] = {}
    reported: set[str] = set()
    if any(stage.kind == "barrier_arrive" and not stage.barriers for stage in stages):
        return reported  # an arrival on an unknown barrier (reported): counts cannot be matched
    for stage in stages:
        copy = _delivered(ctx, stage, scope)
        if copy is not None:
            delivered.setdefault(copy[0], []).append(copy[1])
        if stage.kind == "barrier_arrive" and "expect_tx" in stage.exprs and stage.barriers:
            name = stage.barriers["barrier"].name
            announced.setdefault(name, []).append((stage, ctx.const(stage.exprs["expect_tx"],
                                                                     scope)))
    unattributed = has_unattributed_load(ctx, stages)
    # an arrival's bytes that no copy delivers hang the wait, unless an asynchronous copy of
    # this list names no barrier (reported itself): it may be the one they are for
    for name, arrivals in announced.items():
        counts = [count for _, count in arrivals]
        if name not in delivered and not unattributed and any(count != 0 for count in counts):
            stage = next(stage for stage, count in arrivals if count != 0)
            amount = "a number of" if None in counts else str(sum(c for c in counts if c))
            reported.add(name)
            ctx.error(pointer_join(stage.pointer, "expect_tx"),
                      f"expect_tx announces {amount} bytes on '{name}' but no asynchronous copy "
                      "completes on it, so a wait on it never returns (the kernel hangs)",
                      f"give the copies the arrival is for `barrier: {name}` in the same stage "
                      "list, or remove expect_tx for an arrival without bytes")
    for name, sizes in delivered.items():
        arrivals = announced.get(name, [])
        if not arrivals:
            reported.add(name)
            ctx.error(_first_copy_pointer(stages, name),
                      f"the asynchronous copies completing on '{name}' deliver "
                      f"{_total(sizes)} bytes that no barrier_arrive announces",
                      f"add '- barrier_arrive: {{barrier: {name}, expect_tx: {_total(sizes)}}}' "
                      "before the copy, in the same loop body")
            continue
        counts = [count for _, count in arrivals]
        if None in sizes or None in counts:
            continue  # depends on a symbolic dim
        if sum(counts) != sum(sizes):
            stage = arrivals[0][0]
            reported.add(name)
            ctx.error(pointer_join(stage.pointer, "expect_tx"),
                      f"expect_tx announces {sum(counts)} bytes on '{name}' but the copies "
                      f"completing on it deliver {sum(sizes)}",
                      "a short count lets barrier_wait return before the data lands; a long one "
                      "hangs the kernel")
    return reported


def _total(sizes: list[int | None]) -> str:
    return "an unknown number of" if None in sizes else str(sum(sizes))


def _first_copy_pointer(stages: list[Stage], name: str) -> str:
    for stage in stages:
        if any(ref.name == name for ref in stage.barriers.values()) and stage.kind != "barrier_wait":
            return stage.pointer
    return stages[0].pointer


def _arrived(ctx: Context) -> set[str]:
    """The barriers some barrier_arrive names."""
    return {stage.barriers["barrier"].name for stage, _ in ctx.stages()
            if stage.kind == "barrier_arrive" and "barrier" in stage.barriers}


def check_waits_complete(ctx: Context, arrived: set[str]) -> None:
    """A wait on a barrier that no barrier_arrive names never returns."""
    for stage, _ in ctx.stages():
        ref = stage.barriers.get("barrier")
        if stage.kind == "barrier_wait" and ref is not None and ref.name not in arrived:
            ctx.error(pointer_join(stage.pointer, "barrier"),
                      f"this wait never returns: no barrier_arrive arrives on '{ref.name}'",
                      f"add '- barrier_arrive: {{barrier: \"{ref.region.text}\"}}' (with the "
                      "expect_tx of its copies) before the wait")


def check_top_level_phases(ctx: Context, arrived: set[str]) -> None:
    """Follow each barrier slot's phases through the kernel's top-level stages, up to the first
    loop that uses the barrier: a wait for parity p returns once the phase in progress has the
    other parity (phase n has parity n % 2; phase 0 is in progress at the start). A phase whose
    arrivals announced bytes completes when its copies have landed, which only a wait tells: an
    arrival for the next phase before a wait has seen it complete may come while they are still
    landing, one past the arrive_count (barrier_phases.py says the same in loops)."""
    arrivals: dict[tuple[str, int], int] = {}
    told: dict[tuple[str, int], int | None] = {}    # bytes the phase in progress announced
    unseen: dict[tuple[str, int], int] = {}     # a phase of bytes no wait has seen complete
    looped: set[str] = set()
    for stage in ctx.kernel.stages:
        if stage.body:
            looped |= {ref.name for s in ctx.kernel.walk(stage.body) for ref in s.barriers.values()}
            continue
        ref = stage.barriers.get("barrier")
        if (ref is None or ref.name in looped or ref.name not in arrived
                or stage.kind not in ("barrier_arrive", "barrier_wait")):
            continue
        index = ctx.const(ref.dims[0][0]) if ref.dims else 0
        if index is None:
            looped.add(ref.name)        # a slot not known here: stop following the barrier
            continue
        slot = (ref.name, index)
        per_phase = ctx.kernel.barriers[ref.name].arrive_count
        name = ref.region.text
        if stage.kind == "barrier_arrive":
            if slot in unseen:
                _arrival_before_wait(ctx, stage, name, unseen.pop(slot), per_phase)
            arrivals[slot] = arrivals.get(slot, 0) + 1
            expect = stage.exprs.get("expect_tx")
            tx = 0 if expect is None else ctx.const(expect)
            told[slot] = None if tx is None or told.get(slot, 0) is None \
                else told.get(slot, 0) + tx
            if arrivals[slot] % per_phase == 0:
                if told[slot]:
                    unseen[slot] = arrivals[slot] // per_phase - 1
                told[slot] = 0
            continue
        parity = ctx.const(stage.exprs.get("parity"))
        done = arrivals.get(slot, 0) // per_phase
        if parity != done % 2:
            unseen.pop(slot, None)      # it returns: the phases before have completed
        if parity == done % 2:
            missing = per_phase - arrivals.get(slot, 0) % per_phase
            ctx.error(pointer_join(stage.pointer, "parity"),
                      f"this wait never returns: it waits for a phase of parity {parity} of "
                      f"'{name}', and phase {done}, of that parity, is still in progress here "
                      f"({arrivals.get(slot, 0)} arrival(s) so far, {per_phase} per phase)",
                      f"wait for parity {1 - parity}, the phase that completed last, or arrive "
                      f"{missing} more time(s) before the wait" if done else
                      f"arrive {missing} more time(s) before the wait (each phase of '{ref.name}' "
                      f"takes {per_phase} arrival(s))")
        elif parity == 1 and done == 0:
            ctx.error(pointer_join(stage.pointer, "parity"),
                      f"this wait returns at once: no phase of '{name}' has completed yet, and "
                      "parity 1 names the phase before the first (the barrier's initial state)",
                      "wait for parity 0, the first phase, after its arrival")


def _arrival_before_wait(ctx: Context, stage, name: str, phase: int, per_phase: int) -> None:
    ctx.error(pointer_join(stage.pointer, "barrier"),
              f"this arrival is one past the arrive_count if phase {phase} of '{name}' has not "
              f"completed yet: that phase has had all its {per_phase} arrival(s) and completes "
              "when its copies have landed, which no barrier_wait has seen; an arrival then is "
              "undefined (the phase may complete before its data lands, or never)",
              f"wait for phase {phase} (barrier_wait with parity {phase % 2} here) before "
              "arriving for the next phase, or give each phase in flight its own barrier (an "
              f"array indexed like '{name.split('[')[0]}[k % 2]')")


def check_barriers(ctx: Context) -> None:
    for stage, scope in ctx.stages():
        check_hopper_stages(ctx, stage)
        check_barrier_refs(ctx, stage, scope)
    miscounted: set[str] = set()
    for stages, scope in ctx.stage_lists():
        miscounted |= check_transaction_bytes(ctx, stages, scope)
    if any(stage.kind == "barrier_arrive" and not stage.barriers for stage, _ in ctx.stages()):
        return  # an arrival on an unknown barrier (reported): what arrives where is not known
    arrived = _arrived(ctx)
    check_waits_complete(ctx, arrived)
    check_top_level_phases(ctx, arrived)
    from .barrier_phases import check_phases     # they use delivery_of, above
    from .cluster_phases import check_cluster_phases
    check_phases(ctx, arrived, miscounted)
    check_cluster_phases(ctx, arrived, miscounted)
