"""ClusterPlanning: the cluster-wide barriers of a kernel whose blocks copy into each other's
shared memory (`copy_cluster`). A `sync_cluster` (barrier.cluster arrive.release + wait.acquire,
every thread of every block of the cluster) goes:

- before the first `copy_cluster` (before the loop it is in): a block may write into a peer's
  shared memory, or complete a transaction on a peer's mbarrier, only once every block of the
  cluster has started and has initialised its mbarriers (LowerSharedBarrier's initialisation
  comes before the stages);
- before a `copy_cluster` whose destination tile some stage touched since the last cluster
  barrier: in the other blocks, that stage may still be reading or writing the tile the copy
  is about to overwrite (the blocks run the same stages, so what this block touched, its peers
  touched too);
- before a stage that touches a tile a block-to-block copy without `remote_barrier` wrote since
  the last cluster barrier: nothing else tells the receiver that the stores have landed;
- before a stage that writes the source of a block-to-block bulk copy since the last cluster
  barrier: the copy reads it asynchronously, and only its receiver learns when it is done (its
  `barrier_wait` comes before this barrier in every block);
- before a block-to-block bulk copy on a `remote_barrier` that a stage waited on since the last
  cluster barrier: the copy's bytes may land on the receiver's barrier at once, so every block
  must have seen the phase that wait is for complete, or the bytes count in it (its wait
  returns before the copy it waited for landed, or a thread still waiting for it sees the
  barrier two phases on and never returns). Copies of one phase need none between them: a
  later phase starts only after a wait for the one before. (A SIMT copy completes its bytes
  after a cluster barrier of its own.)
- last, before the blocks exit, when blocks copy block to block: no block may leave while its
  shared memory is a copy's source or destination, or its mbarriers a copy's target. (A
  multicast needs none: each block it writes waits for its bytes before going on.)
A multicast pipeline's loads (InjectSoftwarePipeline's `tma_copy` with a cluster mask) need only
the barrier before the first of them: the pipeline's ring of release mbarriers orders the reuse
of their slots across the cluster.
In a loop, the body's first stages are checked against what precedes the loop (a barrier before
the loop) and against the body's end (the next iteration: a barrier closes the body), as
ThreadSync does for block barriers; after a loop that may run no iteration, what preceded it is
still unordered (the body's barriers may not have run). A kernel without copy_cluster gets none
(its blocks share nothing); a cluster launch alone costs nothing.
"""
from __future__ import annotations

import tvm_ffi
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from .. import ops
from ..analysis import attr, body_stmts, scope_kind, varies_in_cluster
from ..errors import StageError
from ..lower.common import rebuilt, seq
from .global_writes import regions_analyzer
from .producer_consumer_warp_specialized import declarations


def sync_cluster(pointer: str) -> TilePrimitiveCall:
    return ops.tile_call("sync_cluster", [], {ops.STAGE: pointer})


def _tiles(call) -> tuple[set[str], set[str]]:
    """(the shared tiles a stage reads, those it writes): a data stage writes its first region."""
    regions = [(i, r) for i, r in enumerate(call.args)
               if hasattr(r, "source") and scope_kind(r.source) == "shared"]
    return {r.source.name for i, r in regions if i}, {r.source.name for i, r in regions if not i}


class _Planner:
    def __init__(self, func, pointer: str):
        self.func = func
        self.analyzer = regions_analyzer(func)
        self.started = False                # a cluster barrier since the kernel started
        self.touched: set[str] = set()      # tiles any stage touched since the last barrier
        self.unsignalled: set[str] = set()  # written by a peer with nothing to wait on
        self.in_flight: set[str] = set()    # read by a peer's bulk copy, maybe still
        self.waited: list[tuple[int, int]] = []     # mbarrier slots (bounds) waited on since
        self.pointer = pointer              # where the barriers of loops are reported

    def reset(self):
        self.started = True
        self.touched, self.unsignalled, self.in_flight = set(), set(), set()
        self.waited = []

    def state(self) -> tuple:
        return (self.started, set(self.touched), set(self.unsignalled), set(self.in_flight),
                list(self.waited))

    def merge(self, state: tuple) -> None:
        """Add what `state` held (the state along another path: a loop run no iteration)."""
        started, touched, unsignalled, in_flight, waited = state
        self.started = self.started and started
        self.touched |= touched
        self.unsignalled |= unsignalled
        self.in_flight |= in_flight
        self.waited += [b for b in waited if b not in self.waited]

    def _slots(self, slot) -> tuple[int, int]:
        """The mbarrier slots an expression may name (a slot of an array indexed by a loop
        variable: the array's)."""
        bound = self.analyzer.const_int_bound(slot)
        return int(bound.min_value), int(bound.max_value)

    def _remote_bulk(self, call) -> bool:
        return ops.kind_of(call) == "copy_cluster" and not ops.absent(call.args[2]) and \
            not ops.absent(call.args[3]) and \
            ops.config_of(call).get("tlspec.instruction") == "bulk"

    def conflicts(self, call) -> bool:
        reads, writes = _tiles(call)
        if ops.kind_of(call) == "copy_cluster" and (writes & self.touched or not self.started):
            return True
        if self._remote_bulk(call):
            low, high = self._slots(call.args[3])
            if any(lo <= high and low <= hi for lo, hi in self.waited):
                return True
        return bool((reads | writes) & self.unsignalled or writes & self.in_flight)

    def record(self, call) -> None:
        reads, writes = _tiles(call)
        self.touched |= reads | writes
        if ops.kind_of(call) == "barrier_wait" and self._slots(call.args[0]) not in self.waited:
            self.waited.append(self._slots(call.args[0]))
        if ops.kind_of(call) != "copy_cluster" or ops.absent(call.args[2]):
            return
        if ops.absent(call.args[3]):
            self.unsignalled |= writes
        elif ops.config_of(call).get("tlspec.instruction") == "bulk":
            self.in_flight |= reads

    def visit_list(self, stmts) -> list:
        out = []
        for stmt in stmts:
            if isinstance(stmt, tirx.For):
                out += self._loop(stmt)
            elif isinstance(stmt, tirx.SeqStmt):
                out += self.visit_list(stmt.seq)
            elif isinstance(stmt, TilePrimitiveCall) and ops.kind_of(stmt) is not None:
                if self.conflicts(stmt):
                    out.append(sync_cluster(ops.config_of(stmt)[ops.STAGE]))
                    self.reset()
                self.record(stmt)
                out.append(stmt)
            else:
                rings = _ring_multicasts(stmt)
                if rings and not self.started:
                    out.append(sync_cluster(ops.config_of(rings[0])[ops.STAGE]))
                    self.reset()
                for call in rings:
                    self.record(call)
                out.append(stmt)
        return out

    def _loop(self, loop: tirx.For) -> list:
        self._check_same_trips(loop)
        before = []
        if self._head_conflicts(body_stmts(loop.body)):
            before.append(sync_cluster(self.pointer))
            self.reset()
        entry = self.state()
        stmts = self.visit_list(body_stmts(loop.body))
        if self._head_conflicts(stmts):
            stmts.append(sync_cluster(self.pointer))
            self.reset()
        if not self.analyzer.can_prove(loop.extent >= 1):
            self.merge(entry)           # no iteration: the body's barriers did not run
        return [*before, rebuilt(loop, seq(stmts))]

    def _check_same_trips(self, loop: tirx.For) -> None:
        """A loop around cluster copies must run the same iterations in every block of the
        cluster: its multicasts are issued by one block for all, and its cluster barriers wait
        for every block (a trip count that differs would hang or deliver the wrong tiles)."""
        copies = _copies(loop.body)
        if not copies:
            return
        size = 1
        for extent in attr(self.func, "tlspec.cluster"):
            size *= int(extent)
        varies = varies_in_cluster(self.func, [loop.min, loop.extent], list(range(size)))
        if varies is not None:
            raise StageError(str(ops.config_of(copies[0])[ops.STAGE]), "this copy_cluster is in "
                             f"a loop whose iterations may differ between the blocks of a "
                             f"cluster (its bounds depend on '{varies.name}'), but the blocks of "
                             "a cluster must run a cluster copy the same number of times",
                             f"give the loop bounds that do not depend on '{varies.name}' within "
                             f"a cluster (e.g. '{varies.name} // <cluster extent>')")

    def _head_conflicts(self, stmts) -> bool:
        for stmt in stmts:
            if isinstance(stmt, TilePrimitiveCall) and ops.kind_of(stmt) == "sync_cluster":
                return False
            if isinstance(stmt, TilePrimitiveCall) and ops.kind_of(stmt) is not None:
                if self.conflicts(stmt):
                    return True
            elif isinstance(stmt, (tirx.For, tirx.SeqStmt)):
                inner = stmt.body if isinstance(stmt, tirx.For) else stmt
                if self._head_conflicts(body_stmts(inner)):
                    return True
            elif _ring_multicasts(stmt) and not self.started:
                return True
        return False


def _copies(body) -> list[TilePrimitiveCall]:
    """The kernel's copy_cluster stages and multicast pipelines' loads, in order."""
    found = []
    tvm_ffi.structural_walk(body, (TilePrimitiveCall, lambda call: found.append(call)
                                   if ops.kind_of(call) == "copy_cluster" or _is_ring(call)
                                   else None), order="pre")
    return found


def _is_ring(call) -> bool:
    """A multicast pipeline's load (InjectSoftwarePipeline): a tma_copy with a cluster mask."""
    return ops.kind_of(call) == "tma_copy" and "cluster_mask" in ops.config_of(call)


def _ring_multicasts(stmt) -> list[TilePrimitiveCall]:
    """The multicast pipeline loads in a statement (a pipeline's guarded issue). Their ring of
    release barriers orders a slot's reuse across the cluster; they need only the cluster
    barrier before the first of them (the peers' mbarriers initialised)."""
    return [call for call in _copies(stmt) if _is_ring(call)]


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.ClusterPlanning")
class ClusterPlanning:
    def transform_function(self, func, mod, ctx):
        copies = _copies(func.body)
        if attr(func, "tlspec.cluster", None) is None or not copies:
            return func
        entry = func.body                                   # tirx.device_entry
        head, stages = declarations(entry.body)
        planner = _Planner(func, str(ops.config_of(copies[0])[ops.STAGE]))
        stages = planner.visit_list(stages)
        if any(not _is_ring(call) and not ops.absent(call.args[2]) for call in copies):
            stages.append(sync_cluster(str(ops.config_of(copies[-1])[ops.STAGE])))
        body = seq([*head, *stages])
        return func.with_body(tirx.AttrStmt(entry.node, entry.attr_key, entry.value, body))
