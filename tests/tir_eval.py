"""Run lowered tirx code on the CPU, thread by thread: an evaluator of the statements and
expressions that tlspec's passes produce, for tests that check which element each loop moves
where (index arithmetic, layouts, swizzles, guards, synchronisation) without a GPU.

It is written from tirx's and PTX's semantics (loops, stores and loads of possibly vector
indices, floor division and modulo, bitwise ops), not from any lowering, so a lowering checked
with it is checked independently of its own index arithmetic. It moves bits: an element is the
integer of its bytes (sign-extended for signed integer types, whose values index; a float's
bits), a cast keeps the value, and a store keeps the bits of its type's width. cp.async copies
and TMA loads and stores (tests/tir_tma.py) complete when issued or as late as PTX allows
(tests/tir_async.py: a run chooses); mbarriers count arrivals and bytes per phase, named
barriers (bar.sync id, count) the threads that reach them; the blocks of a cluster reach each
other's shared memory, mbarriers and the cluster barrier (tests/tir_cluster.py). Nodes it does
not know (conversions CUDA code does not have here) raise NotImplementedError, so a test never
passes by skipping a statement. Expressions are compiled to closures once per run (tests/tir_expr.py);
conversions and float arithmetic are CUDA's (tests/tir_float.py).

`Machine(memory, env).run(stmt)` runs a statement for one thread, as a generator that yields at
each block barrier (None) and at each wait on an mbarrier phase not yet complete (the condition
to wait for); tests/tir_run.py drives it (one stage, or a whole kernel).

Memory is looked up by a buffer's data (as printed: `tlspec_smem.data`): a thread's local
buffers, then its block's shared memory, then the global tensors, each a uint8 numpy array.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from tvm import tirx
from tvm.ir.expr import Call, TensorLoad
from tvm.tirx.tile_primitive import TilePrimitiveCall

import tir_cluster
import tir_tma
from tir_async import EAGER, Copy, Groups, InFlight
from tir_cluster import Cluster, Pointer
from tir_expr import compiled, element_bytes, extern_name, lanewise, op_name

_SYNC = "cta_sync"              # the block barrier's op name ends with this
# what orders memory between threads and proxies, which threads run one at a time here and
# cp.async copies completing at once make no-ops
GATHER4, SCATTER4 = "gather4", "tlspec.scatter4"    # a TMA copy's config: its rows' numbers
ELEMENT_STRIDES = "tlspec.element_strides"           # and a strided box's steps
BARRIERS = "mbarriers"           # the block memory's entry holding its mbarriers
_NO_OPS = ("fence_proxy",
           "setmaxnreg")        # a warp group's register budget: nothing to run on a CPU
# a thread's commit groups: of cp.async copies, of bulk async copies (TMA stores)
_COMMITS = {"cp_async_commit_group": "cp_async", "cp_async_bulk_commit_group": "bulk"}
_WAITS = {"cp_async_wait_group": "cp_async", "cp_async_bulk_wait_group": "bulk"}
_NAMED_BARRIER = "bar_sync_count"   # bar.sync id, count: a barrier of `count` threads
NAMED = "named barriers"        # the block memory's entry holding its named barriers
_CP_ASYNC = re.compile(r"cp_async_c[ag](_src_size)?")       # one cp.async vector
_CLUSTER_ARRIVE, _CLUSTER_WAIT = "barrier_cluster_arrive", "barrier_cluster_wait"


def _OTHERS_FIRST():    # noqa: N802 (a wait condition that holds at once)
    """After an mbarrier arrival that announces no bytes (a release: its thread is done with
    something) the thread lets the others run first, so what it does next runs after what the
    arrival released: a consumer that hands a slot back before it is done reading it reads the
    slot refilled. An arrival announcing bytes goes on to issue the copies it announced."""
    return True


def _as_list(v):
    return v if isinstance(v, list) else [v]


class Barrier:
    """An mbarrier: its arrivals per phase, the arrivals and transaction bytes the running phase
    still waits for (bytes may complete before they are announced), and the phases completed."""

    def __init__(self, count: int):
        self.count, self.pending, self.bytes, self.completed = count, count, 0, 0

    def arrive(self, expect: int = 0, count: int = 1) -> None:
        self.bytes += expect
        self.pending -= count
        self._settle()

    def complete(self, nbytes: int) -> None:
        self.bytes -= nbytes
        self._settle()

    def _settle(self) -> None:
        if self.pending < 0:
            raise RuntimeError("an arrival past the barrier's arrival count")
        if self.pending == 0 and self.bytes == 0:
            self.completed += 1
            self.pending = self.count


class NamedBarrier:
    """A named barrier (bar.sync id, count): it opens, and a new generation begins, when `count`
    threads have arrived (warp-specialized consumers synchronise among themselves with one while
    the producer warp runs on)."""

    def __init__(self):
        self.arrived, self.generation = 0, 0

    def arrive(self, count: int):
        """Arrive; the condition to wait for (None: this arrival opened the barrier)."""
        generation = self.generation
        self.arrived += 1
        if self.arrived == count:
            self.arrived, self.generation = 0, generation + 1
            return None
        return lambda: self.generation != generation


@dataclass(frozen=True)
class BufferInfo:
    key: str                    # its memory's key
    size: int                   # bytes an element
    signed: bool                # a signed integer type (its values index: sign-extended)
    offset: Callable            # elem_offset, compiled
    strides: list | None        # declared strides, compiled; None: row-major over shape
    shape: list


class Memory:
    """A thread's view: its local buffers, its block's shared memory, the global tensors, and
    its block's cluster (None: no cluster operation runs)."""

    def __init__(self, block: dict, globals_: dict, cache: dict | None = None,
                 cluster: Cluster | None = None, rank: int = 0):
        self.local: dict[str, np.ndarray] = {}
        self.block, self.globals, self.cluster, self.rank = block, globals_, cluster, rank
        # a stage run alone completes its copies when issued
        self.in_flight = cluster.in_flight if cluster is not None else InFlight(EAGER)
        # shared by a run, while the function (and so every handle) stays alive: node handle ->
        # compiled expression, ("key", buffer handle) -> its memory key
        self.cache = {} if cache is None else cache
        self.barriers: dict = block.setdefault(BARRIERS, {})    # the block's mbarriers

    def key(self, buffer) -> str:
        """The key of `buffer`: its data as printed (printing is slow: cached)."""
        handle = ("key", buffer.__chandle__())
        if handle not in self.cache:
            self.cache[handle] = str(buffer.data)
        return self.cache[handle]

    def __getitem__(self, key: str) -> np.ndarray:
        for layer in (self.local, self.block, self.globals):
            if key in layer:
                return layer[key]
        raise KeyError(f"no memory for {key}")

    def __contains__(self, key: str) -> bool:
        return any(key in layer for layer in (self.local, self.block, self.globals))


class Machine:
    def __init__(self, memory: Memory, env: dict, dims: dict[str, int] | None = None,
                 layouts: dict[str, str] | None = None):
        self.memory = memory
        self.env = {_handle(k): v for k, v in env.items()}     # variable -> value
        self.dims = dims or {}          # symbolic dims by name, for variables env lacks
        self.layouts = layouts or {}    # shared tile -> its layout (tlspec.layouts)
        self.cluster_generation = None  # the cluster barrier's, at this thread's arrival
        self.groups = {"cp_async": Groups(), "bulk": Groups()}     # its commit groups

    # -- expressions ---------------------------------------------------------------------------
    def value(self, e):
        """The value of `e` (a list of lanes for a vector): `e` compiled once per run into
        closures of this module's semantics (walking tvm's nodes is slow), then called."""
        return compiled(e, self.memory.cache)(self)

    # -- memory --------------------------------------------------------------------------------
    def _buffer(self, buffer) -> "BufferInfo":
        """What the accesses of `buffer` need of it, read from tvm once per run."""
        handle = ("buffer", buffer.__chandle__())
        info = self.memory.cache.get(handle)
        if info is None:
            cache = self.memory.cache
            info = cache[handle] = BufferInfo(
                self.memory.key(buffer), element_bytes(buffer.dtype),
                str(buffer.dtype).startswith("int"),
                compiled(buffer.elem_offset, cache),
                [compiled(x, cache) for x in buffer.strides] if len(buffer.strides) else None,
                [compiled(x, cache) for x in buffer.shape])
        return info

    def view(self, buffer) -> tuple[np.ndarray, int]:
        """The bytes `buffer` addresses, as unsigned integers of its size, and its size."""
        info = self._buffer(buffer)
        size, data = info.size, self.memory[info.key]
        offset = info.offset(self) * size
        data = data[offset:offset + (len(data) - offset) // size * size]
        return (data.view(f"<u{size}") if size > 1 else data), size

    def flat(self, buffer, indices: list):
        """The flat element index (lanes: a list) of `indices` into `buffer`."""
        if len(indices) == 1:
            return indices[0]
        info = self._buffer(buffer)
        if info.strides is not None:
            strides = [stride(self) for stride in info.strides]
        else:
            strides, step = [], 1
            for extent in reversed([extent(self) for extent in info.shape]):
                strides.insert(0, step)
                step *= extent
        flat = 0
        for index, stride in zip(indices, strides):
            flat = lanewise(lambda f, i: f + i * stride, flat, index)
        return flat

    def load(self, buffer, indices: list):
        view, size = self.view(buffer)
        signed = self._buffer(buffer).signed

        def one(i):
            bits = int(view[_checked(buffer, view, i)])
            return bits - (1 << 8 * size) if signed and bits >> (8 * size - 1) else bits

        return lanewise(one, self.flat(buffer, indices))

    def store(self, buffer, indices: list, value) -> None:
        view, size = self.view(buffer)
        index, mask = self.flat(buffer, indices), (1 << 8 * size) - 1
        values = _as_list(value) if isinstance(index, list) else [value]
        for i, v in zip(_as_list(index), values):
            view[_checked(buffer, view, i)] = v & mask

    def _data_key(self, data) -> str:
        """The key of what a DeclBuffer's `data` expression (`buffer.data`) names."""
        if isinstance(data, Call) and op_name(data) == "buffer_data":
            return self.memory.key(data.args[0])
        return str(data)

    def _address(self, e) -> tuple[np.ndarray, int]:
        """The bytes that `address_of(buffer[...])` (or its shared-window form, or that mapped
        into another block of the cluster) points into, and the byte offset in them."""
        if extern_name(e) == tir_cluster.MAP_SHARED:
            return self.mapped(self._address(e.args[1]), self.value(e.args[2]))
        while isinstance(e, Call) and op_name(e) == "cvta_generic_to_shared":
            e = e.args[0]
        if not (isinstance(e, Call) and op_name(e) == "address_of"):
            raise NotImplementedError(f"an address: {e}")
        load = e.args[0]
        view, size = self.view(load.source)
        index = self.flat(load.source, [self.value(i) for i in load.indices])
        return view.view(np.uint8), index * size

    def _hinted_load(self, call) -> None:
        """ptx ld (an eviction-hinted global load): its registers, in order, take consecutive
        elements from the address."""
        at = next(i for i, a in enumerate(call.args) if isinstance(a, Call))
        memory, byte = self._address(call.args[at])
        for register in call.args[:at]:
            size = element_bytes(register.source.dtype)
            value = int.from_bytes(memory[byte:byte + size], "little")
            self.store(register.source, [self.value(i) for i in register.indices], value)
            byte += size

    def _hinted_store(self, call) -> None:
        """ptx st (an eviction-hinted global store): its registers, in order, to consecutive
        elements from the address."""
        memory, byte = self._address(call.args[0])
        for register in [a for a in call.args[1:] if isinstance(a, TensorLoad)]:
            size = element_bytes(register.source.dtype)
            value = self.value(register) & ((1 << 8 * size) - 1)
            memory[byte:byte + size] = np.frombuffer(value.to_bytes(size, "little"), np.uint8)
            byte += size

    def _cp_async(self, call) -> Copy:
        """cp.async of `bytes` bytes, of which the first `src_size` are copied and the rest
        zero-filled."""
        dst, dst_at = self._address(call.args[0])
        src, src_at = self._address(call.args[1])
        count = self.value(call.args[2])
        zfill = call.args[3]            # the bytes read (the rest zero-filled), when given
        copied = count if "StringImm" in type(zfill).__name__ else self.value(zfill)

        def move():
            dst[dst_at:dst_at + count] = 0
            dst[dst_at:dst_at + copied] = src[src_at:src_at + copied]

        return Copy("a cp.async", move, self.ranks_of(dst))

    def issue(self, copy: Copy, group: str | None = None) -> None:
        """An asynchronous copy issued by this thread (tracked by its commit groups of kind
        `group`, or by its mbarrier)."""
        if group is not None:
            self.groups[group].add(copy)
        self.memory.in_flight.issue(copy)

    def ranks_of(self, *memories: np.ndarray) -> frozenset[int]:
        """The blocks of the cluster whose shared memory `memories` are in (this block's alone
        without a cluster)."""
        if self.memory.cluster is None:
            return frozenset({self.memory.rank})
        return frozenset(r for r in map(self.memory.cluster.rank_of, memories) if r is not None)

    def _cluster(self) -> Cluster:
        if self.memory.cluster is None:
            raise NotImplementedError("a cluster operation outside a kernel's run")
        return self.memory.cluster

    def mapped(self, place: tuple[np.ndarray, int], rank: int) -> tuple[np.ndarray, int]:
        """`place` (bytes, offset) in this block's shared memory -> the same place in the block
        of rank `rank`."""
        return self._cluster().mapped(self.memory.block, *place, rank)

    def extern_value(self, call):
        """The value of a call of a tlspec helper: a generic pointer into another block."""
        if extern_name(call) == tir_cluster.MAP:
            return Pointer(*self.mapped(self._address(call.args[1]), self.value(call.args[2])))
        raise NotImplementedError(f"call_extern: {call}")

    def _cluster_call(self, call) -> None:
        """A tlspec helper reaching another block: a bulk copy, or a completion of bytes or an
        arrival on its mbarrier."""
        name = extern_name(call)
        if name == tir_cluster.BULK_COPY:
            nbytes = self.value(call.args[3])
            dst, src = self._address(call.args[1]), self._address(call.args[2])
            move = tir_cluster.bulk_copy(self._cluster(), dst, src, nbytes)
            self.issue(Copy("a bulk copy between blocks", move, self.ranks_of(dst[0], src[0]),
                            self.barrier_at(call.args[4]), nbytes))
        elif name == tir_cluster.COMPLETE_TX:
            self.barrier_at(call.args[1]).complete(self.value(call.args[2]))
        elif name == tir_cluster.ARRIVE:
            self.barrier_at(call.args[1]).arrive()
        else:
            raise NotImplementedError(f"call_extern: {call}")

    def _place(self, address, rank: int | None = None) -> int:
        """The host address of the byte `address` points to (in the block of rank `rank`): an
        mbarrier's identity."""
        memory, at = self._address(address)
        if rank is not None:
            memory, at = self.mapped((memory, at), rank)
        return memory.__array_interface__["data"][0] + at

    def barrier_at(self, address, rank: int | None = None) -> "Barrier":
        key = self._place(address, rank)
        if key not in self.memory.barriers:
            raise RuntimeError("an mbarrier used before its init")
        return self.memory.barriers[key]

    def _mbarrier(self, call) -> None:
        """init, arrive and arrive.expect_tx on a shared mbarrier (the spec's own, or a TMA
        load's)."""
        op = op_name(call)
        numbers = [self.value(a) for a in call.args[1:] if "StringImm" not in type(a).__name__]
        if op == "mbarrier_init":
            self.memory.barriers[self._place(call.args[0])] = Barrier(numbers[0])
        elif op == "mbarrier_arrive_expect_tx":
            self.barrier_at(call.args[0]).arrive(expect=numbers[0])
        elif op == "mbarrier_arrive_nocount":       # PTX: an omitted count is 1
            self.barrier_at(call.args[0]).arrive()
        elif op == "mbarrier_arrive" and len(numbers) <= 1:
            self.barrier_at(call.args[0]).arrive(count=numbers[0] if numbers else 1)
        else:
            raise NotImplementedError(f"{op} {numbers}")

    def _tma(self, s) -> None:
        """A TMA copy: gather4, scatter4, a store (tracked by the bulk commit groups), or a load
        (with a cta_mask: one into each block of the mask, on its mbarrier)."""
        config, args = s.config, s.args
        scopes = [str(a.source.scope()) for a in args]
        if GATHER4 in config:
            self.issue(tir_tma.tma_rows(self, args[0], args[1], config[GATHER4], load=True,
                                        mbar=config["mbar"]))
        elif SCATTER4 in config:
            self.issue(tir_tma.tma_rows(self, args[1], args[0], config[SCATTER4], load=False),
                       "bulk")
        elif len(args) == 2 and scopes[0].startswith("global") and \
                not scopes[1].startswith("global"):
            self.issue(tir_tma.tma_store(self, *args, config.get(ELEMENT_STRIDES)), "bulk")
        elif len(args) == 2 and scopes[1].startswith("global") and "mbar" in config:
            targets = [None] if "cta_mask" not in config else tir_cluster.ranks(
                int(config["cta_mask"]), len(self._cluster().blocks))
            for rank in targets:
                self.issue(tir_tma.tma_load(self, args[0], args[1], config["mbar"],
                                            config.get(ELEMENT_STRIDES), rank))
        else:
            raise NotImplementedError(f"copy_async: {s}")

    # -- statements (a generator: it yields at each block barrier) ------------------------------
    def run(self, s) -> Iterator[None]:
        t = type(s)
        if t is tirx.SeqStmt:
            for part in s.seq:
                yield from self.run(part)
        elif t is tirx.For:
            start, extent = self.value(s.min), self.value(s.extent)
            loop_var, body = s.loop_var.__chandle__(), s.body
            for i in range(start, start + extent):
                self.env[loop_var] = i
                yield from self.run(body)
        elif t is tirx.IfThenElse:
            if self.value(s.condition):
                yield from self.run(s.then_case)
            elif s.else_case is not None:
                yield from self.run(s.else_case)
        elif t is tirx.BufferStore:
            self.store(s.buffer, [self.value(i) for i in s.indices], self.value(s.value))
        elif t is tirx.AllocBuffer:
            size = element_bytes(s.buffer.dtype) * int(np.prod([int(x) for x in s.buffer.shape]))
            key = self.memory.key(s.buffer)
            if s.buffer.scope().startswith("shared"):   # once per block
                if key not in self.memory.block:
                    self.memory.block[key] = np.zeros(size, np.uint8)
            else:
                self.memory.local[key] = np.zeros(size, np.uint8)
        elif t is tirx.DeclBuffer:
            if s.data is not None:                      # a view of another buffer's memory
                pointer = self.env.get(s.data.__chandle__()) if type(s.data) is tirx.Var \
                    else None
                self.memory.local[self.memory.key(s.buffer)] = \
                    pointer.memory[pointer.offset:] if isinstance(pointer, Pointer) \
                    else self.memory[self._data_key(s.data)]
        elif t is tirx.Evaluate:
            call = s.value
            if isinstance(call, Call) and op_name(call) == _SYNC:
                yield
            elif isinstance(call, Call) and op_name(call) in _NO_OPS:
                pass
            elif isinstance(call, Call) and op_name(call) == _NAMED_BARRIER:
                number, count = self.value(call.args[0]), self.value(call.args[1])
                if number == 0:     # barrier 0 is __syncthreads' own
                    raise NotImplementedError(f"bar.sync 0 of {count} threads")
                barrier = self.memory.block.setdefault(NAMED, {}).setdefault(
                    number, NamedBarrier())
                wait = barrier.arrive(count)
                if wait is not None:
                    yield wait
            elif isinstance(call, Call) and _CP_ASYNC.fullmatch(op_name(call)):
                self.issue(self._cp_async(call), "cp_async")
            elif isinstance(call, Call) and op_name(call) in _COMMITS:
                self.groups[_COMMITS[op_name(call)]].commit()
            elif isinstance(call, Call) and op_name(call) in _WAITS:
                self.groups[_WAITS[op_name(call)]].wait(self.value(call.args[0]))
            elif isinstance(call, Call) and op_name(call) in ("ld", "ld_vec"):
                self._hinted_load(call)
            elif isinstance(call, Call) and op_name(call) in ("st", "st_vec"):
                self._hinted_store(call)
            elif isinstance(call, Call) and op_name(call).startswith("mbarrier_") and \
                    op_name(call) != "mbarrier_wait":
                self._mbarrier(call)
                if op_name(call) not in ("mbarrier_init", "mbarrier_arrive_expect_tx"):
                    yield _OTHERS_FIRST
            elif isinstance(call, Call) and op_name(call) == _CLUSTER_ARRIVE:
                if self.cluster_generation is not None:
                    raise RuntimeError("two cluster barrier arrivals without a wait between")
                self.cluster_generation = self._cluster().barrier.arrive()
            elif isinstance(call, Call) and op_name(call) == _CLUSTER_WAIT:
                barrier, generation = self._cluster().barrier, self.cluster_generation
                if generation is None:
                    raise RuntimeError("a cluster barrier wait without an arrival")
                self.cluster_generation = None
                if barrier.generation == generation:
                    yield lambda: barrier.generation != generation
            elif extern_name(call) is not None:
                self._cluster_call(call)
                if extern_name(call) == tir_cluster.ARRIVE:
                    yield _OTHERS_FIRST
            elif isinstance(call, Call) and op_name(call) == "mbarrier_wait":
                barrier, parity = self.barrier_at(call.args[0]), self.value(call.args[1])
                if barrier.completed % 2 == parity:      # the phase of that parity is running
                    yield lambda: barrier.completed % 2 != parity
            elif not isinstance(call, tirx.IntImm):
                raise NotImplementedError(f"Evaluate: {call}")
        elif t is tirx.AttrStmt:
            yield from self.run(s.body)
        elif t is tirx.Bind:                            # defines var for what follows
            self.env[s.var.__chandle__()] = self.value(s.value)
        elif t is tirx.ScopeIdDefStmt:
            pass                                        # bound by run_kernel
        elif t is TilePrimitiveCall and op_name(s) == "copy_async":
            self._tma(s)
        else:
            raise NotImplementedError(f"{t.__name__}: {s}")


def _handle(var) -> int:
    """A variable's identity (tirx objects compare by building an expression: slow as keys)."""
    return var if isinstance(var, int) else var.__chandle__()


def _checked(buffer, view, index: int) -> int:
    if not 0 <= index < len(view):
        raise IndexError(f"{buffer.name}[{index}] is outside its memory ({len(view)} elements)")
    return index
