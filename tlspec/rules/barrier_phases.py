"""The phases of each mbarrier through loops: the kernel's stages are followed in order, every
loop unrolled with its variable a constant (wholly where its trip count is a constant of at most
FULL iterations, else its first iterations, after which the barriers it uses are no longer
followed), and each barrier of an array (a slot) is kept as the hardware keeps it:

- a phase completes once it has had `arrive_count` arrivals and the bytes they announce with
  `expect_tx` have landed. A phase whose arrivals are all in but whose bytes may still be landing
  is *in flight*: the copies issued on the slot deliver into it (or, before the arrivals, into
  the phase in progress: bytes may land before they are announced);
- `barrier_wait` with parity p returns once the slot's current phase has the other parity
  (PTX mbarrier.try_wait.parity): with a phase n in flight it must wait for parity n % 2, which
  blocks until phase n completes. Parity 1 - n % 2 names phase n - 1, already complete: it
  returns at once, before the copies land, or hangs if phase n completes first. With no phase in
  flight, a wait for the parity of the phase in progress never returns (nothing else will
  arrive: the whole block waits); one for the other parity returns at once;
- an arrival while a phase is in flight is one past its arrive_count: undefined.

Only what is certain is reported: a slot index, parity or byte count that is not a constant once
the loop variables are (it depends on a block index or a symbolic dim), a barrier a copy_cluster
signals from another block (cluster_phases.py follows those, block by block), or byte counts the
stage lists' own check finds wrong (barriers.check_transaction_bytes) stop the barrier being
followed; so does a report, so that one mistake gives one error. The kernel's top-level stages
before a barrier's first loop are barriers.check_top_level_phases's; these are checked from the
first loop that uses the barrier on. The interpreter (interpret/mbarriers.py) keeps the same state
and faults at the same stages when it runs the kernel."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..expr import Expr
from ..model import RegionRef, Stage
from ..source import pointer_join
from .barriers import delivery_of, has_unattributed_load
from .context import Context, Scope

FULL = 64           # a loop of at most this many (constant) iterations is followed through
FOLLOWED = 4        # else its first max(FOLLOWED, 2 x its largest barrier array) + 1 iterations
BUDGET = 50_000     # stages followed per kernel, loop iterations unrolled


class Stop(Exception):
    """The budget of stages is spent: nothing further is followed."""


@dataclass
class Slot:
    """One barrier of an array, as the block has left it."""
    name: str               # as the diagnostics name it: 'bar', 'full[1]'
    done: int = 0           # phases certainly complete (seen by a wait, or without bytes)
    flight: int | None = None   # phase `done` is in flight: its bytes not yet issued (0: all are)
    announced: int = 0      # bytes the phase in flight announced
    arrived: int = 0        # arrivals of the phase in progress (`done`, or `done + 1` in flight)
    tx: int = 0             # bytes it announced less those issued on it
    told: int = 0           # bytes it announced
    early: Stage | None = None      # a copy delivering into it before its arrivals
    arrival: str = ""       # the barrier as the last arrival wrote it ('full[k % 3]')


@dataclass
class Sim:
    """A block followed through the kernel's stages (cluster_phases.py follows each block of a
    cluster with it)."""
    ctx: Context
    arrived: set[str]
    lost: set[str] = field(default_factory=set)            # barriers not followed
    looped: set[str] = field(default_factory=set)          # barriers some loop used so far
    slots: dict[tuple[str, int], Slot] = field(default_factory=dict)
    gone: set[tuple[str, int]] = field(default_factory=set)    # slots not followed
    at: list[tuple[str, int]] = field(default_factory=list)    # loop variables and values
    needed: dict[str, list[tuple[tuple[tuple[str, int], ...], int]]] = field(
        default_factory=dict)   # per wait: (loop values, the parity it needed)
    reported: set[str] = field(default_factory=set)
    steps: int = 0

    # -- following the stages ---------------------------------------------------------------

    def run(self, stages: list[Stage], scope: Scope) -> None:
        for stage in stages:
            self.steps += 1
            if self.steps > BUDGET:
                raise Stop
            if stage.body:
                self.loop(stage, scope)
            elif stage.kind == "barrier_arrive":
                self.arrive(stage, scope)
            elif stage.kind == "barrier_wait":
                self.wait(stage, scope)
            else:
                self.deliver(stage, scope)

    def loop(self, loop: Stage, scope: Scope) -> None:
        kernel = self.ctx.kernel
        names = {ref.name for s in kernel.walk(loop.body) for ref in s.barriers.values()}
        if not names - self.lost:
            return
        self.looped |= names
        start = self.value(loop.exprs["start"], scope) if "start" in loop.exprs else 0
        extent = loop.exprs.get("extent")
        rng = self.ctx.bounds(extent, scope) if extent is not None else None
        var = loop.options.get("var")
        if start is None or extent is None or not isinstance(var, str):
            self.lost |= names
            return
        whole = rng is not None and rng[0] == rng[1] and rng[0] <= FULL
        largest = max([kernel.barriers[n].count for n in names if n in kernel.barriers] + [1])
        count = max(FOLLOWED, 2 * largest) + 1
        if rng is not None:
            count = rng[1] if whole else min(count, rng[1])
        for value in range(start, start + count):
            self.at.append((var, value))
            try:
                self.run(loop.body, scope.with_var(var, (value, value)))
            finally:
                self.at.pop()
        if not whole:
            self.lost |= names      # how many phases it completed depends on its trip count

    def value(self, expr: Expr | None, scope: Scope) -> int | None:
        """The value of `expr` at this point of the block followed, where it is a constant."""
        return self.ctx.const(expr, scope)

    def slot(self, ref: RegionRef | None, scope: Scope) -> Slot | None:
        """The slot `ref` names here, when it is followed."""
        if ref is None:
            return None
        return self.slot_at(ref, self.value(ref.dims[0][0], scope) if ref.dims else 0)

    def slot_at(self, ref: RegionRef, index: int | None) -> Slot | None:
        """The slot of index `index` of the barrier `ref` names, when it is followed."""
        if ref.name in self.lost or ref.name not in self.ctx.kernel.barriers:
            return None
        count = self.ctx.kernel.barriers[ref.name].count
        ranged = bool(ref.region.slices) and not ref.region.slices[0].single   # reported
        if (index is None or ranged or not 0 <= index < count
                or (ref.region.slices is None and count > 1)):
            self.lost.add(ref.name)
            return None
        key = (ref.name, index)
        if key in self.gone:
            return None
        if key not in self.slots:
            self.slots[key] = Slot(ref.name if count == 1 else f"{ref.name}[{index}]")
        return self.slots[key]

    def drop(self, slot: Slot) -> None:
        self.gone |= {key for key, s in self.slots.items() if s is slot}

    def checked(self, stage: Stage) -> bool:
        """Whether this rule reports at `stage`: in a loop, or after a loop used its barrier
        (check_top_level_phases has the top-level stages before)."""
        ref = stage.barriers.get("barrier")
        return bool(self.at) or ref is not None and ref.name in self.looped

    def where(self, name: str | None = None) -> str:
        """Where the block is, for a message: the iteration, or after the loop (before any loop
        used the barrier `name`: nothing)."""
        if not self.at:
            return " (after the loop)" if name is None or name in self.looped else ""
        return " in the iteration " + ", ".join(f"{var} = {value}" for var, value in self.at)

    def report(self, stage: Stage, pointer: str, message: str, hint: str) -> None:
        if pointer not in self.reported:
            self.reported.add(pointer)
            self.ctx.error(pointer, message, hint)

    # -- the events -------------------------------------------------------------------------

    def arrive(self, stage: Stage, scope: Scope) -> None:
        ref = stage.barriers.get("barrier")
        slot = self.slot(ref, scope)
        if slot is None:
            return
        expect = stage.exprs.get("expect_tx")
        tx = 0 if expect is None else self.value(expect, scope)
        if tx is None or tx < 0:
            return self.drop(slot)
        per_phase = self.ctx.kernel.barriers[ref.name].arrive_count
        if slot.flight is not None:
            if self.checked(stage):
                self.past_count(stage, slot, per_phase, tx)
            return self.drop(slot)
        slot.arrived += 1
        slot.tx += tx
        slot.told += tx
        slot.arrival = ref.region.text
        if slot.arrived < per_phase:
            return
        if slot.tx < 0:
            return self.drop(slot)      # more bytes than announced: the list's count says so
        if slot.tx == 0 and slot.early is None:
            slot.done += 1              # no bytes: the last arrival completes the phase
        else:
            slot.flight, slot.announced = slot.tx, slot.told
        slot.arrived, slot.tx, slot.told, slot.early = 0, 0, 0, None

    def deliver(self, stage: Stage, scope: Scope) -> None:
        """A stage whose asynchronous copy completes on a barrier of this block."""
        delivery = delivery_of(self.ctx, stage, scope)
        if delivery is not None:
            self.land(stage, self.slot(delivery[0], scope), delivery[1])

    def land(self, stage: Stage, slot: Slot | None, size: int | None) -> None:
        """The bytes of a copy issued on `slot`, delivered into its phase."""
        if slot is None:
            return
        if size is None:
            return self.drop(slot)
        if slot.flight:
            slot.flight -= size
            if slot.flight < 0:
                self.drop(slot)         # more bytes than the phase announced
        else:
            slot.tx -= size
            slot.early = slot.early or stage

    def wait(self, stage: Stage, scope: Scope) -> None:
        ref = stage.barriers.get("barrier")
        slot = self.slot(ref, scope)
        if slot is None:
            return
        parity = self.value(stage.exprs.get("parity"), scope)
        if parity not in (0, 1):
            return self.drop(slot)
        n = slot.done
        if slot.flight == 0:        # phase n in flight, every byte of it issued
            self.needed.setdefault(stage.pointer, []).append((tuple(self.at), n % 2))
            if parity == n % 2:
                slot.done, slot.flight = n + 1, None
                return
            if self.checked(stage):
                self.wrong_phase(stage, slot, parity)
            return self.drop(slot)
        if slot.flight is not None:     # phase n in flight, waiting for bytes never issued
            self.missing(stage, slot, parity)
            return self.drop(slot)
        if parity != n % 2:
            return                  # names the phase complete before: returns at once
        if self.checked(stage):
            self.never_starts(stage, ref, slot, parity)
        self.drop(slot)

    def missing(self, stage: Stage, slot: Slot, parity: int) -> None:
        """A wait for a phase whose announced bytes the copies issued before it do not all
        deliver."""
        if self.checked(stage):
            self.bytes_missing(stage, slot, parity)

    # -- the reports ------------------------------------------------------------------------

    def past_count(self, stage: Stage, slot: Slot, per_phase: int, tx: int) -> None:
        n = slot.done
        if slot.flight:
            state = (f"and still waits for {slot.flight} of the bytes they announced, which no "
                     "copy has been issued for")
            hint = (f"announce all of a phase's bytes in its {per_phase} arrival(s), e.g. one "
                    f"'barrier_arrive: {{barrier: {slot.arrival}, expect_tx: "
                    f"{slot.announced + tx}}}' before the copies"
                    + (f", or declare the barrier with 'arrive_count: {per_phase + 1}'"
                       if per_phase < 1024 else ""))
        else:
            state = ("and its copies may still be landing: the phase completes only when they "
                     "have")
            hint = (f"wait for phase {n} (barrier_wait with parity {n % 2} here) before "
                    "arriving for the next phase, or give each phase in flight its own barrier "
                    f"(an array indexed like '{slot.arrival.split('[')[0]}[k % 2]')")
        self.report(stage, pointer_join(stage.pointer, "barrier"),
                    f"this arrival is one past the arrive_count{self.where()}: phase {n} of "
                    f"'{slot.name}' has had all its {per_phase} arrival(s) {state}; an arrival "
                    "then is undefined (the phase may complete before its data lands, or never)",
                    hint)

    def wrong_phase(self, stage: Stage, slot: Slot, parity: int) -> None:
        n = slot.done
        before = (f"phase {n - 1}, already complete" if n else
                  "the phase before the first, the barrier's initial state")
        self.report(stage, pointer_join(stage.pointer, "parity"),
                    f"this wait names the wrong phase{self.where()}: the copies it waits for "
                    f"complete phase {n} of '{slot.name}', of parity {n % 2}, but it waits for "
                    f"parity {parity}, which names {before}: it returns at once, before the "
                    f"copies land, or never if phase {n} completes first",
                    self.parity_hint(stage, n % 2))

    def bytes_missing(self, stage: Stage, slot: Slot, parity: int) -> None:
        n = slot.done
        stray = next((s for s in self.slots.values() if s is not slot and s.early is not None
                      and s.name.split("[")[0] == slot.name.split("[")[0]), None)
        where = self.where()
        if stray is not None and stray.early is not None:
            copy = stray.early
            option = "remote_barrier" if copy.kind == "copy_cluster" else "barrier"
            self.report(copy, pointer_join(copy.pointer, option),
                        f"this copy completes on '{stray.name}'{where}, where no arrival "
                        f"announces its bytes, while the arrival announcing them is on "
                        f"'{slot.name}': the wait on '{slot.name}' ({stage.pointer}) never "
                        f"returns, since phase {n} of it waits for {slot.flight} bytes that "
                        "never land",
                        f"make the copy complete on the barrier its arrival names "
                        f"('{option}: \"{slot.arrival}\"')")
            self.drop(stray)
            return
        self.report(stage, pointer_join(stage.pointer, "parity" if parity != n % 2 else
                                        "barrier"),
                    f"this wait never returns{where}: phase {n} of '{slot.name}' has had its "
                    f"arrivals, announcing {slot.announced} bytes, but the copies issued on it "
                    f"before the wait deliver {slot.announced - slot.flight}",
                    f"issue the copies whose bytes the arrival on '{slot.arrival}' announces "
                    "with that barrier, before the wait, or announce only their bytes")

    def never_starts(self, stage: Stage, ref: RegionRef, slot: Slot, parity: int) -> None:
        n = slot.done
        per_phase = self.ctx.kernel.barriers[ref.name].arrive_count
        where = self.where()
        if slot.arrived:
            self.report(stage, pointer_join(stage.pointer, "parity"),
                        f"this wait never returns{where}: it waits for phase {n} of "
                        f"'{slot.name}' (parity {parity}), which has had {slot.arrived} of its "
                        f"{per_phase} arrivals (arrive_count {per_phase}), and no other "
                        "arrival comes while the block waits",
                        f"arrive on '{slot.arrival}' {per_phase} times in every phase before "
                        f"waiting for it, or declare it with 'arrive_count: {slot.arrived}'")
            return
        since = f"since its phase {n - 1} completed" if n else "yet"
        flying = [s for s in self.slots.values() if s.flight is not None
                  and s.name.split("[")[0] == ref.name]
        if flying and flying[0] is not slot:
            self.report(stage, pointer_join(stage.pointer, "barrier"),
                        f"this wait never returns{where}: nothing has arrived on "
                        f"'{slot.name}' {since}, and the copies in flight complete on "
                        f"'{flying[0].name}'",
                        f"wait on the barrier this iteration's copies complete on, "
                        f"'{flying[0].arrival}'")
            return
        if n:
            self.report(stage, pointer_join(stage.pointer, "parity"),
                        f"this wait never returns{where}: it waits for phase {n} of "
                        f"'{slot.name}' (parity {parity}), which has not started: phase {n - 1} "
                        "completed, and nothing has arrived since",
                        self.parity_hint(stage, 1 - parity))
            return
        self.report(stage, pointer_join(stage.pointer, "barrier"),
                    f"this wait never returns{where}: nothing has arrived on '{slot.name}' "
                    "before it",
                    f"arrive on '{slot.name}' (barrier_arrive) before waiting for it")

    def parity_hint(self, stage: Stage, parity: int) -> str:
        """Which parity to wait for: an expression of the innermost loop's variable that gives
        every parity this wait needed so far, where one does."""
        generic = (f"wait for parity {parity} here: phase n of a barrier has parity n % 2, e.g. "
                   "'k % 2' for one barrier used once per iteration, 'k // 3 % 2' for "
                   "'bars[k % 3]'")
        points = self.needed.get(stage.pointer, [])
        if not self.at or not points:
            return generic
        var = self.at[-1][0]
        ref = stage.barriers.get("barrier")
        count = self.ctx.kernel.barriers[ref.name].count if ref is not None else 1
        steps = list(dict.fromkeys([count, 1, 2, 3, 4, 5, 6, 7, 8]))
        for step in steps:
            for offset in (0, 1):
                def value(at: tuple[tuple[str, int], ...]) -> int | None:
                    values = dict(at)
                    return None if var not in values else (values[var] // step + offset) % 2
                if all(value(at) == needed for at, needed in points):
                    term = var if step == 1 else f"{var} // {step}"
                    text = f"{term} % 2" if not offset else f"({term} + 1) % 2"
                    return (f"wait for parity '{text}', the parity of the phase the "
                            "iteration's copies complete (phase n has parity n % 2)")
        return generic


def check_phases(ctx: Context, arrived: set[str], miscounted: set[str]) -> None:
    """Follow every barrier's phases through the kernel (see the module's docstring)."""
    kernel = ctx.kernel
    if not any(s.kind == "barrier_wait" for s in kernel.walk()):
        return
    if has_unattributed_load(ctx, kernel.walk()):
        return      # a TMA load without its barrier (reported): its bytes may be any barrier's
    sim = Sim(ctx, arrived)
    sim.lost = set(miscounted) | {name for name in kernel.barriers if name not in arrived}
    sim.lost |= {ref.name for s in kernel.walk() if s.kind == "copy_cluster"
                 for ref in s.barriers.values()}
    try:
        sim.run(kernel.stages, ctx.top)
    except Stop:
        pass
