"""The phases of the barriers that block-to-block copies signal (copy_cluster with `dst_block` and
`remote_barrier`). Every block of a cluster runs the same stages; each block's copy lands its
bytes on the barrier of the block of rank `dst_block`, which announces them (expect_tx) and
waits on its own barrier. So the cluster's blocks are followed one at a time, each as
barrier_phases.py follows a block (the same unrolled loops, slots, phases and reports), with
its block indices written `c * q + r` (c the cluster's extent along the index, q the cluster's
position, r the block's coordinate in it: rank = x + cx * (y + cy * z)): an expression is a
constant in that block where, once simplified, neither q nor a varying name is left in it
(`(bx + 1) % 8` in a cluster of 8 along bx is 4 in the block of rank 3). At a copy_cluster
stage, the block of rank e receives the copy of every rank whose `dst_block` is e there, on the
slot that rank names, as if it had issued a TMA load of the copy's bytes.

What is reported (one error per barrier, in the first block that shows it: the blocks some
barrier's copies never reach first, then by rank):
- a block that no copy on the barrier can ever reach, for any values of the loop variables
  (`dst_block: 0` in every block: the other ranks receive nothing), but that announces bytes on
  it and waits: the wait never returns. At the copy's `dst_block`, saying which rank receives
  how many copies. A block announcing no bytes (a gather into rank 0 whose expect_tx is 0
  elsewhere) is fine;
- in every block, what barrier_phases.py reports for TMA loads: a wait naming the wrong phase,
  a wait for a phase never started, an arrival past arrive_count. Where `dst_block` is a
  permutation of the ranks (`(bx + 1) % C`, `(bx + r) % C`), every block receives one copy per
  stage and its barrier is followed as a TMA load's is. A wait whose phase is short of bytes
  is reported only where it is so in every block at the same iteration: all blocks wait there,
  so no peer's later copy can complete it.

Not followed (nothing is reported on the barrier from there on): a `dst_block`, slot index or copy
size that is not a constant in each block once the loop variables are (it depends on a symbolic
dim, on the cluster's position in the grid or on a block index outside the cluster: `(bx + by) % 2`
in a cluster along bx), or a `dst_block` outside the cluster (the stage's rule reports it); a loop
whose start or extent names a block index; what barrier_phases.py does not follow for other reasons
(stage lists whose expect_tx are wrong, a TMA load without a barrier, the budget of stages). Not
checked: more bytes landing in a phase than it announced (a peer's copy may land after the phase
completes, in the next one; within one stage list barriers.check_transaction_bytes compares the
counts), a phase short of bytes in some blocks only, when some copy on the barrier does reach them
(another stage's, or the same stage's at other values of the loop variables: `dst_block: r % 4`),
the timing between blocks (a copy is taken to land at its stage, after the cluster barrier the
compiler puts before it, never before a stage that comes earlier in the receiver), and copies
without `remote_barrier` (the compiler's cluster barriers order those). The interpreter, which runs
the blocks of a cluster together (interpret/clusters.py), finds these at run time, at the sizes
of a call."""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from ..expr import BinOp, Const, Expr, Var, free_vars, substitute
from ..expr_algebra import bounds, simplify
from ..model import Stage
from ..source import pointer_join
from .barrier_phases import Slot, Sim, Stop
from .barriers import delivery_of, has_unattributed_load
from .context import Context, Scope
from .declarations import MAX_GRID


class Ranks:
    """The blocks of one cluster, and the value of an expression in each."""

    def __init__(self, ctx: Context, cluster: tuple[int, ...]):
        self.ctx = ctx
        self.size = prod(cluster)
        self.axes: list[tuple[str, int, str]] = []     # block index, cluster extent, position
        self.positions: dict[str, tuple[int, int]] = {}
        for index in sorted(ctx.kernel.launch.grid, key=lambda index: index.axis):
            axis = "xyz".index(index.axis)
            extent = cluster[axis] if axis < len(cluster) else 1
            rng = ctx.bounds(index.extent, ctx.top) if index.extent is not None else None
            last = rng[1] - 1 if rng is not None else MAX_GRID[index.axis]
            position = f"{index.name}.cluster"      # a name no spec can write
            self.positions[position] = (0, max(0, last) // extent)
            self.axes.append((index.name, extent, position))
        self.names = {name for name, _, _ in self.axes}
        self.sent: dict[tuple, list[int] | None] = {}

    def blocks(self, rank: int) -> dict[str, Expr]:
        values: dict[str, Expr] = {}
        scale = 1
        for name, extent, position in self.axes:
            values[name] = BinOp("+", BinOp("*", Const(extent), Var(position)),
                                 Const(rank // scale % extent))
            scale *= extent
        return values

    def value(self, expr: Expr | None, scope: Scope, rank: int) -> int | None:
        """The value of `expr` in the block of rank `rank` of every cluster, where it is the
        same in all of them and a constant of the names whose range in `scope` is one value."""
        if expr is None:
            return None
        if not any(var.name in self.names for var in free_vars(expr)):
            return self.ctx.const(expr, scope)      # the same in every block
        fixed: dict[str, int | Expr] = {name: lo for name, (lo, hi) in scope.ranges.items()
                                        if lo == hi}
        fixed.update(self.blocks(rank))
        rng = bounds(simplify(substitute(expr, fixed)), {**scope.ranges, **self.positions})
        return rng[0] if rng is not None and rng[0] == rng[1] else None

    def targets(self, stage: Stage, scope: Scope) -> list[int] | None:
        """The rank each rank's copy goes to, where all are constants within the cluster (the
        same in every block's following: kept per stage and values of the loop variables)."""
        key = (stage.pointer, tuple(sorted(scope.ranges.items())))
        if key not in self.sent:
            targets = [self.value(stage.exprs.get("dst_block"), scope, r)
                       for r in range(self.size)]
            known = all(t is not None and 0 <= t < self.size for t in targets)
            self.sent[key] = targets if known else None     # type: ignore[assignment]
        return self.sent[key]


def mapping(targets: list[int]) -> str:
    """Where the blocks send their copies, and how many each receives, in words."""
    size = len(targets)
    if len(set(targets)) == 1:
        sent = f"dst_block is {targets[0]} in every block of the cluster"
    else:
        sent = (f"dst_block is {', '.join(map(str, targets))} in the blocks of ranks 0 to "
                f"{size - 1}")
    counts = [targets.count(rank) for rank in range(size)]
    parts = []
    for count in sorted(set(counts), reverse=True):
        ranks = [str(rank) for rank in range(size) if counts[rank] == count]
        many = len(ranks) > 1
        who = f"ranks {', '.join(ranks)}" if many else f"rank {ranks[0]}"
        copies = f"{count} cop{'ies' if count > 1 else 'y'}{' each' if many else ''}"
        parts.append(f"{who} none" if not count else
                     f"{who} receive{'' if many else 's'} {copies}")
    return f"{sent}: {', '.join(parts)}"


@dataclass
class _BlockSim(Sim):
    """One block of the cluster, followed as barrier_phases.py follows a block."""
    ranks: Ranks | None = None
    rank: int = 0
    unreached: dict[str, tuple[Stage, list[int]]] = field(default_factory=dict)
    stuck: dict[tuple[str, tuple], tuple[str, str, str]] = field(default_factory=dict)
    silenced: set[str] = field(default_factory=set)     # barriers reported (every block)
    deferring: tuple[str, tuple] | None = None

    def value(self, expr: Expr | None, scope: Scope) -> int | None:
        assert self.ranks is not None
        return self.ranks.value(expr, scope, self.rank)

    def loop(self, loop: Stage, scope: Scope) -> None:
        assert self.ranks is not None
        bounds_of = [loop.exprs[key] for key in ("start", "extent") if key in loop.exprs]
        if any(var.name in self.ranks.names for e in bounds_of for var in free_vars(e)):
            # its iterations may differ between the blocks (a compile error)
            self.lost |= {ref.name for s in self.ctx.kernel.walk(loop.body)
                          for ref in s.barriers.values()}
            return
        super().loop(loop, scope)

    def deliver(self, stage: Stage, scope: Scope) -> None:
        if stage.kind != "copy_cluster" or "remote_barrier" not in stage.barriers:
            return super().deliver(stage, scope)
        assert self.ranks is not None
        ref = stage.barriers["remote_barrier"]
        if ref.name in self.lost:
            return
        targets = self.ranks.targets(stage, scope)
        delivery = delivery_of(self.ctx, stage, scope)
        if targets is None or delivery is None or delivery[1] is None:
            self.lost.add(ref.name)
            return
        for sender, target in enumerate(targets):
            if target == self.rank:
                index = self.ranks.value(ref.dims[0][0], scope, sender) if ref.dims else 0
                self.land(stage, self.slot_at(ref, index), delivery[1])

    def missing(self, stage: Stage, slot: Slot, parity: int) -> None:
        name = stage.barriers["barrier"].name
        if name in self.unreached:
            copy, targets = self.unreached[name]
            self.report(copy, pointer_join(copy.pointer, "dst_block"),
                        f"no copy_cluster on '{name}' ever lands in the block of cluster rank "
                        f"{self.rank}, yet its arrivals announce {slot.announced} bytes for "
                        f"phase {slot.done} of '{slot.name}'{Sim.where(self, name)}: its wait "
                        f"({stage.pointer}) never returns (the kernel hangs); "
                        f"{mapping(targets)}",
                        "send each block's copy to a different rank: a dst_block that is a "
                        f"permutation of the ranks, e.g. '{self.example()}', gives every block "
                        "one copy; or announce no bytes (expect_tx: 0) in the blocks that "
                        "receive none")
            return
        if not self.checked(stage):
            return
        # certain only where every block waits here: no later copy of a peer can complete it
        self.deferring = (stage.pointer, tuple(self.at))
        try:
            self.bytes_missing(stage, slot, parity)
        finally:
            self.deferring = None

    def example(self) -> str:
        assert self.ranks is not None
        name, extent, _ = next(((n, c, p) for n, c, p in self.ranks.axes if c > 1),
                               self.ranks.axes[0])
        return f"({name} + 1) % {extent}"

    def where(self, name: str | None = None) -> str:
        text = super().where(name)
        block = f"the block of cluster rank {self.rank}"
        if text.endswith(")"):
            return f"{text[:-1]}, in {block})"
        return f"{text} of {block}" if text else f" in {block}"

    def report(self, stage: Stage, pointer: str, message: str, hint: str) -> None:
        if self.deferring is not None:
            self.stuck.setdefault(self.deferring, (pointer, message, hint))
            return
        if pointer not in self.reported:
            self.reported.add(pointer)
            self.silenced |= {ref.name for ref in stage.barriers.values()}
            self.ctx.error(pointer, message, hint)


def _unreached(ctx: Context, ranks: Ranks,
               copies: list[tuple[Stage, Scope]]) -> dict[int, dict[str, tuple[Stage, list[int]]]]:
    """Per rank, the barriers no block-to-block copy can reach in it, for any values of the
    loop variables, with the first copy on each and where its blocks send."""
    reach: dict[str, set[int] | None] = {}
    first: dict[str, tuple[Stage, list[int]]] = {}
    for stage, scope in copies:
        name = stage.barriers["remote_barrier"].name
        targets = ranks.targets(stage, scope)
        if targets is None or reach.get(name, set()) is None:
            reach[name] = None
            continue
        reach[name] = reach.get(name, set()) | set(targets)     # type: ignore[operator]
        first.setdefault(name, (stage, targets))
    return {rank: {name: first[name] for name, reached in reach.items()
                   if reached is not None and rank not in reached}
            for rank in range(ranks.size)}


def check_cluster_phases(ctx: Context, arrived: set[str], miscounted: set[str]) -> None:
    """Follow the barriers of block-to-block copies in every block of the cluster (see the
    module's docstring)."""
    kernel = ctx.kernel
    cluster = kernel.launch.cluster
    copies = [(stage, scope) for stage, scope in ctx.stages()
              if stage.kind == "copy_cluster" and "remote_barrier" in stage.barriers]
    if cluster is None or not copies or not any(s.kind == "barrier_wait" for s in kernel.walk()):
        return
    if prod(cluster[len(kernel.launch.grid):]) > 1:
        return      # a cluster extent without its grid index (reported): ranks are not known
    if has_unattributed_load(ctx, kernel.walk()):
        return      # a TMA load without its barrier (reported): its bytes may be any barrier's
    ranks = Ranks(ctx, cluster)
    remote = {stage.barriers["remote_barrier"].name for stage, _ in copies}
    unreached = _unreached(ctx, ranks, copies)
    reported: set[str] = set()
    silenced: set[str] = set()
    stuck: list[dict[tuple[str, tuple], tuple[str, str, str]]] = []
    steps = 0
    # the blocks no copy reaches first: what the copies' ranks get wrong is reported before
    # what it makes of the phases of the others
    for rank in sorted(range(ranks.size), key=lambda rank: not unreached[rank]):
        sim = _BlockSim(ctx, arrived, ranks=ranks, rank=rank, unreached=unreached[rank],
                        reported=reported, silenced=silenced, steps=steps)
        sim.lost = (set(miscounted) | silenced | set(kernel.barriers) - remote
                    | {name for name in kernel.barriers if name not in arrived})
        try:
            sim.run(kernel.stages, ctx.top)
        except Stop:
            return
        steps = sim.steps
        stuck.append(sim.stuck)
    for key, (pointer, message, hint) in stuck[0].items():
        if all(key in waits for waits in stuck) and pointer not in reported:
            reported.add(pointer)
            ctx.error(pointer, message, hint)
