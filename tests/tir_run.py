"""Run lowered tirx code on the CPU with tests/tir_eval.py: one stage of a block's threads
(`run_threads`), or a whole kernel on numpy arrays (`run_kernel`: every cluster of blocks (a
block alone without clusters), the threads of its blocks in turn, each until it reaches a block
barrier or waits on an mbarrier phase or the cluster barrier; at a block barrier a block's
threads go on when all of them are there)."""
from __future__ import annotations

from itertools import product
from math import prod

import numpy as np
import tvm_ffi
from tvm import tirx
from tvm.ir.expr import TensorLoad
from tvm.tirx.tile_primitive import TilePrimitiveCall

from tir_async import EAGER
from tir_cluster import Cluster
from tir_eval import BARRIERS, Machine, Memory
from tlspec.compiler.analysis import STAGE_ATTR


class Sync(Exception):
    """A block barrier inside a statement that `run_threads` runs to its end."""


def stage_body(func: tirx.PrimFunc, pointer: str):
    """The lowered statement of the stage at `pointer` (its AttrStmt's body)."""
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, lambda a: found.append(a.body) if
                                        a.attr_key == STAGE_ATTR and
                                        getattr(a.node, "value", None) == pointer
                                        else None), order="pre")
    if len(found) != 1:
        raise KeyError(f"{len(found)} stages at {pointer}")
    return found[0]


def views(func: tirx.PrimFunc, memory: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`memory` with every buffer the function declares over one of its buffers (the shared
    tiles' views of the pool) mapped to that buffer's bytes."""
    memory = dict(memory)

    def declared(d):
        if d.data is not None and str(d.data) in memory:
            memory[str(d.buffer.data)] = memory[str(d.data)]

    tvm_ffi.structural_walk(func.body, (tirx.DeclBuffer, declared), order="pre")
    return memory


def run_threads(func: tirx.PrimFunc, pointer: str, memory: dict[str, np.ndarray],
                threads: int) -> None:
    """Run the stage of `func` at `pointer` for every thread index 0 .. threads - 1 (the
    function's `tlspec.thread_var`), one after another, on `memory` (see `views`)."""
    stmt, memory = stage_body(func, pointer), views(func, memory)
    tid = func.attrs["tlspec.thread_var"]
    for t in range(threads):
        for _ in Machine(Memory({}, memory), {tid: t}).run(stmt):
            raise Sync(f"a block barrier inside the stage at {pointer}")


class TooLarge(NotImplementedError):
    """A launch of more threads in all than the caller allows (the evaluator is slow)."""


def run_kernel(func: tirx.PrimFunc, arrays: dict[str, np.ndarray],
               dims: dict[str, int] | None = None, max_threads: int | None = None,
               completion: str = EAGER) -> None:
    """Run the kernel `func` (its tlspec passes done, up to ThreadSync) on `arrays` (every
    global buffer by name, written in place; a strided view for an argument with declared
    strides, whose storage runs from its first element to its last): every cluster (its
    `tlspec.cluster`; a block alone without), its blocks' threads in lockstep between block
    barriers. `dims`: the values of symbolic dims that no buffer's
    shape gives. `max_threads`: refuse (TooLarge) a launch of more threads in all. The dims of
    shapes and strides are read from the kernel's parameters as declared, not from the views
    its body makes of them (a pitched tensor's rows view has the pitch for its width).
    `completion`: when asynchronous copies complete, tests/tir_async.py's EAGER or LAZY."""
    dims = dims or {}
    referenced = {}

    def note(buffer) -> None:
        referenced.setdefault(buffer.name, buffer)

    def note_regions(call) -> None:
        for arg in call.args:
            if hasattr(arg, "source"):
                note(arg.source)

    tvm_ffi.structural_walk(func.body, [(TensorLoad, lambda load: note(load.source)),
                                        (tirx.BufferStore, lambda store: note(store.buffer)),
                                        (TilePrimitiveCall, note_regions)], order="pre")
    env, globals_ = {}, {}
    scalars = [p for p in func.params if p.name not in arrays]   # symbolic dims passed alone
    for param in func.params:
        if param.name not in arrays:
            continue
        array = arrays[param.name]
        buffer = referenced.get(param.name)
        if buffer is None:
            continue                                    # an argument the kernel never touches
        globals_[str(buffer.data)] = _storage(array).view(np.uint8)
        declared = param if getattr(param, "shape", None) is not None else buffer
        for extent, n in zip(declared.shape, array.shape):
            if isinstance(extent, tirx.Var):
                env[extent] = n
        for stride, s in zip(getattr(declared, "strides", None) or (), array.strides):
            if isinstance(stride, tirx.Var):
                env[stride] = s // array.itemsize
    for param in scalars:           # a dim no array gives (a declared stride gives its own)
        if param not in env:
            env[param] = dims[param.name]
    body = func.body
    while isinstance(body, tirx.AttrStmt):
        body = body.body
    ids = [getattr(s, "def") for s in body.seq if isinstance(s, tirx.ScopeIdDefStmt)]
    layouts = {str(k): str(v) for k, v in func.attrs["tlspec.layouts"].items()} \
        if "tlspec.layouts" in func.attrs else {}
    setup = Machine(Memory({}, globals_), env, dims)
    blocks = [(d.def_ids, [setup.value(e) for e in d.extents]) for d in ids if d.scope == 1]
    (tid, threads), = [(d.def_ids[0], setup.value(d.extents[0])) for d in ids if d.scope == 7]
    per_thread = [(d.def_ids[0], d.scope) for d in ids if d.scope in (4, 6)]   # warp, lane
    block_vars = [v for names, _ in blocks for v in names]
    block_extents = [n for _, extents in blocks for n in extents]
    if max_threads is not None and threads * prod(block_extents) > max_threads:
        raise TooLarge(f"{threads * prod(block_extents)} threads in all")
    shape = _cluster_shape(func, block_extents)
    cache: dict = {}
    for origin in product(*[range(0, n, c) for n, c in zip(block_extents, shape)]):
        members = sorted(product(*[range(c) for c in shape]), key=lambda p: p[::-1])  # x fastest
        cluster, groups = Cluster(len(members), threads, BARRIERS, completion), []
        for rank, offset in enumerate(members):
            position = [o + d for o, d in zip(origin, offset)]
            memory = [Memory(cluster.blocks[rank], globals_, cache, cluster, rank)
                      for _ in range(threads)]
            groups.append([Machine(memory[t], _thread_env(env, block_vars, position, tid, t,
                                                          per_thread), dims, layouts).run(body)
                           for t in range(threads)])
        _lockstep(groups, cluster)


def _thread_env(env: dict, block_vars: list, position: list, tid, t: int,
                per_thread: list) -> dict:
    """The values of a thread's variables: the kernel's dims, its block's position, its index
    (and its warp's and lane's)."""
    local = {**env, **dict(zip(block_vars, position)), tid: t}
    local.update({var: t // 32 if scope == 4 else t % 32 for var, scope in per_thread})
    return local


def _cluster_shape(func: tirx.PrimFunc, block_extents: list[int]) -> list[int]:
    """The cluster's extent along each grid dim (1s without clusters); a grid that is not made
    of whole clusters is an error (the launch fails on a GPU)."""
    shape = [int(c) for c in func.attrs["tlspec.cluster"]][:len(block_extents)] \
        if "tlspec.cluster" in func.attrs else []
    shape += [1] * (len(block_extents) - len(shape))
    if any(n % c for n, c in zip(block_extents, shape)):
        raise RuntimeError(f"a grid of {block_extents} blocks in clusters of {shape}")
    return shape


def _storage(array: np.ndarray) -> np.ndarray:
    """The elements of `array` in memory order from its first to its last (gaps included): a
    1-D view of the same memory."""
    if array.flags.c_contiguous:
        return array.reshape(-1)
    if any(s < 0 or s % array.itemsize for s in array.strides):
        raise ValueError("a strided argument must have positive strides of whole elements")
    span = 1 + sum((n - 1) * s // array.itemsize for n, s in zip(array.shape, array.strides))
    return np.lib.stride_tricks.as_strided(array, (span,), (array.itemsize,))


def _lockstep(groups: list[list], cluster: Cluster) -> None:
    """Run the threads of a cluster's blocks (`groups`, by rank): each until it reaches a block
    barrier or a wait that is not satisfied (its run yields None, or the condition to wait
    for); the threads of a block at a block barrier go on when all its other threads still
    running are there too. A thread's exit leaves the cluster barrier, a block's last one its
    shared memory. When every thread waits, the newest asynchronous copy in flight completes
    (none: an error, a hang on a GPU)."""
    runs = [(rank, run) for rank, group in enumerate(groups) for run in group]
    running = [len(group) for group in groups]
    waits = {id(run): None for _, run in runs}   # run -> what it waits for (None: runnable)
    at_barrier: list[set[int]] = [set() for _ in groups]
    while runs:
        progress = False
        for rank, run in list(runs):
            key = id(run)
            if key in at_barrier[rank] or (waits[key] is not None and not waits[key]()):
                continue
            progress, waits[key] = True, None
            try:
                token = next(run)
            except StopIteration:
                runs.remove((rank, run))
                running[rank] -= 1
                cluster.barrier.exit()
                if not running[rank]:
                    cluster.exited.add(rank)
                    cluster.in_flight.check_exit(rank)
                continue
            if token is None:
                at_barrier[rank].add(key)
            else:
                waits[key] = token
        for rank, waiting in enumerate(at_barrier):
            if waiting and len(waiting) == running[rank]:
                waiting.clear()
                progress = True
        if runs and not progress and cluster.in_flight.complete_newest():
            progress = True
        if runs and not progress:
            stopped = sum(len(waiting) for waiting in at_barrier)
            raise RuntimeError(f"{stopped} threads at a block barrier and {len(runs) - stopped} "
                               f"waiting on mbarriers or the cluster barrier: a hang")
