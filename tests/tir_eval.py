"""Run lowered tirx code on the CPU, thread by thread: an evaluator of the statements and
expressions that tlspec's passes produce, for tests that check which element each loop moves
where (index arithmetic, layouts, swizzles, guards, synchronisation) without a GPU.

It is written from tirx's and PTX's semantics (loops, stores and loads of possibly vector
indices, floor division and modulo, bitwise ops), not from any lowering, so a lowering checked
with it is checked independently of its own index arithmetic. It moves bits: an element is the
integer of its bytes (sign-extended for signed integer types, whose values index; a float's
bits), a cast keeps the value, and a store keeps the bits of its type's width. cp.async copies
and TMA loads and stores complete at once, when issued (a TMA copy lays out the tile as the
hardware's swizzle does, `tile_offset`, and a load's bytes complete on its mbarrier; TMA
gather4 / scatter4 move 4 table rows); mbarriers count arrivals and bytes per phase, named
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
from itertools import product
from math import prod

import numpy as np
from tvm import tirx
from tvm.ir.expr import Call, TensorLoad
from tvm.tirx.tile_primitive import TilePrimitiveCall

import tir_cluster
from tir_cluster import Cluster, Pointer
from tir_expr import compiled, extern_name, lanewise, op_name

_SYNC = "cta_sync"              # the block barrier's op name ends with this
# what orders memory between threads and proxies, which threads run one at a time here and
# cp.async copies completing at once make no-ops
GATHER4, SCATTER4 = "gather4", "tlspec.scatter4"    # a TMA copy's config: its rows' numbers
ELEMENT_STRIDES = "tlspec.element_strides"           # and a strided box's steps
BARRIERS = "mbarriers"           # the block memory's entry holding its mbarriers
ROWS_VIEW = "_rows_"             # the prefix of tlspec's view of a swizzled tile's padded rows
_NO_OPS = ("cp_async_commit_group", "cp_async_wait_group", "cp_async_bulk_commit_group",
           "cp_async_bulk_wait_group", "fence_proxy",
           "setmaxnreg")        # a warp group's register budget: nothing to run on a CPU
_NAMED_BARRIER = "bar_sync_count"   # bar.sync id, count: a barrier of `count` threads
NAMED = "named barriers"        # the block memory's entry holding its named barriers
_CP_ASYNC = re.compile(r"cp_async_c[ag](_src_size)?")       # one cp.async vector
_CLUSTER_ARRIVE, _CLUSTER_WAIT = "barrier_cluster_arrive", "barrier_cluster_wait"


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _bytes(dtype) -> int:
    """The bytes of one element of `dtype` ("float16", "float8_e4m3fn", "uint8x16": a vector's
    element)."""
    if str(dtype).startswith("bool"):
        return 1
    match = re.match(r"(?:u?int|float|bfloat)(\d+)", str(dtype))
    if match is None:
        raise NotImplementedError(f"elements of {dtype}")
    return max(int(match.group(1)) // 8, 1)


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
                 cluster: Cluster | None = None):
        self.local: dict[str, np.ndarray] = {}
        self.block, self.globals, self.cluster = block, globals_, cluster
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
                self.memory.key(buffer), _bytes(buffer.dtype), str(buffer.dtype).startswith("int"),
                compiled(buffer.elem_offset, cache),
                [compiled(x, cache) for x in buffer.strides] if len(buffer.strides) else None,
                [compiled(x, cache) for x in buffer.shape])
        return info

    def _view(self, buffer) -> tuple[np.ndarray, int]:
        """The bytes `buffer` addresses, as unsigned integers of its size, and its size."""
        info = self._buffer(buffer)
        size, data = info.size, self.memory[info.key]
        offset = info.offset(self) * size
        data = data[offset:offset + (len(data) - offset) // size * size]
        return (data.view(f"<u{size}") if size > 1 else data), size

    def _flat(self, buffer, indices: list):
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
        view, size = self._view(buffer)
        signed = self._buffer(buffer).signed

        def one(i):
            bits = int(view[_checked(buffer, view, i)])
            return bits - (1 << 8 * size) if signed and bits >> (8 * size - 1) else bits

        return lanewise(one, self._flat(buffer, indices))

    def store(self, buffer, indices: list, value) -> None:
        view, size = self._view(buffer)
        index, mask = self._flat(buffer, indices), (1 << 8 * size) - 1
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
            return self._mapped(self._address(e.args[1]), self.value(e.args[2]))
        while isinstance(e, Call) and op_name(e) == "cvta_generic_to_shared":
            e = e.args[0]
        if not (isinstance(e, Call) and op_name(e) == "address_of"):
            raise NotImplementedError(f"an address: {e}")
        load = e.args[0]
        view, size = self._view(load.source)
        index = self._flat(load.source, [self.value(i) for i in load.indices])
        return view.view(np.uint8), index * size

    def _hinted_load(self, call) -> None:
        """ptx ld (an eviction-hinted global load): its registers, in order, take consecutive
        elements from the address."""
        at = next(i for i, a in enumerate(call.args) if isinstance(a, Call))
        memory, byte = self._address(call.args[at])
        for register in call.args[:at]:
            size = _bytes(register.source.dtype)
            value = int.from_bytes(memory[byte:byte + size], "little")
            self.store(register.source, [self.value(i) for i in register.indices], value)
            byte += size

    def _hinted_store(self, call) -> None:
        """ptx st (an eviction-hinted global store): its registers, in order, to consecutive
        elements from the address."""
        memory, byte = self._address(call.args[0])
        for register in [a for a in call.args[1:] if isinstance(a, TensorLoad)]:
            size = _bytes(register.source.dtype)
            value = self.value(register) & ((1 << 8 * size) - 1)
            memory[byte:byte + size] = np.frombuffer(value.to_bytes(size, "little"), np.uint8)
            byte += size

    def _cp_async(self, call) -> None:
        """cp.async of `bytes` bytes, of which the first `src_size` are copied and the rest
        zero-filled, complete at once (a wait_group only makes that visible: its placement is
        the barriers' business, checked by the GPU tests)."""
        dst, dst_at = self._address(call.args[0])
        src, src_at = self._address(call.args[1])
        count = self.value(call.args[2])
        zfill = call.args[3]            # the bytes read (the rest zero-filled), when given
        copied = count if "StringImm" in type(zfill).__name__ else self.value(zfill)
        dst[dst_at:dst_at + count] = 0
        dst[dst_at:dst_at + copied] = src[src_at:src_at + copied]

    def _cluster(self) -> Cluster:
        if self.memory.cluster is None:
            raise NotImplementedError("a cluster operation outside a kernel's run")
        return self.memory.cluster

    def _mapped(self, place: tuple[np.ndarray, int], rank: int) -> tuple[np.ndarray, int]:
        """`place` (bytes, offset) in this block's shared memory -> the same place in the block
        of rank `rank`."""
        return self._cluster().mapped(self.memory.block, *place, rank)

    def extern_value(self, call):
        """The value of a call of a tlspec helper: a generic pointer into another block."""
        if extern_name(call) == tir_cluster.MAP:
            return Pointer(*self._mapped(self._address(call.args[1]), self.value(call.args[2])))
        raise NotImplementedError(f"call_extern: {call}")

    def _cluster_call(self, call) -> None:
        """A tlspec helper reaching another block: a bulk copy, or a completion of bytes or an
        arrival on its mbarrier."""
        name = extern_name(call)
        if name == tir_cluster.BULK_COPY:
            nbytes = self.value(call.args[3])
            tir_cluster.bulk_copy(self._cluster(), self._address(call.args[1]),
                                  self._address(call.args[2]), nbytes)
            self._barrier(call.args[4]).complete(nbytes)
        elif name == tir_cluster.COMPLETE_TX:
            self._barrier(call.args[1]).complete(self.value(call.args[2]))
        elif name == tir_cluster.ARRIVE:
            self._barrier(call.args[1]).arrive()
        else:
            raise NotImplementedError(f"call_extern: {call}")

    def _place(self, address, rank: int | None = None) -> int:
        """The host address of the byte `address` points to (in the block of rank `rank`): an
        mbarrier's identity."""
        memory, at = self._address(address)
        if rank is not None:
            memory, at = self._mapped((memory, at), rank)
        return memory.__array_interface__["data"][0] + at

    def _barrier(self, address, rank: int | None = None) -> "Barrier":
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
            self._barrier(call.args[0]).arrive(expect=numbers[0])
        elif op == "mbarrier_arrive_nocount":       # PTX: an omitted count is 1
            self._barrier(call.args[0]).arrive()
        elif op == "mbarrier_arrive" and len(numbers) <= 1:
            self._barrier(call.args[0]).arrive(count=numbers[0] if numbers else 1)
        else:
            raise NotImplementedError(f"{op} {numbers}")

    def _tma_load(self, dst, src, mbar, strides=None, mask=None) -> None:
        """A TMA load of the global region `src` (the box) into the shared tile region `dst`,
        complete at once: elements outside the tensor read as zeros, the box's bytes completing
        on `mbar`; with a cta `mask`, the same into the tile and onto the mbarrier of each block
        of the mask (multicast)."""
        targets = [None] if mask is None else tir_cluster.ranks(
            mask, len(self._cluster().blocks))
        for rank in targets:
            moved = self._tma_box(src, dst, lambda out, at, tile, frm, size: tile.__setitem__(
                slice(frm, frm + size), np.frombuffer(
                    int(out[at]).to_bytes(size, "little") if at is not None else bytes(size),
                    np.uint8)), strides, rank)
            self._barrier(mbar, rank).complete(moved)

    def _tile_bytes(self, tile, rank: int | None = None):
        """A shared tile's pool bytes (in the block of rank `rank`), the byte offset of an
        element in them as the hardware lays the tile out (`tile_offset`), and its element
        size."""
        size = _bytes(tile.dtype)
        pool = self.memory[self.memory.key(tile)].view(np.uint8)
        if rank is not None:
            remote, at = self._mapped((pool, 0), rank)
            pool = remote[at:]
        base = self.value(tile.elem_offset) * size
        shape = [self.value(e) for e in tile.shape]
        layout = self.layouts.get(tile.name.removeprefix(ROWS_VIEW), "row_major")
        return pool, lambda index: base + tile_offset(layout, shape, size, index), size

    def _tma_rows(self, tile_region, table_region, rows, load: bool, mbar=None) -> None:
        """TMA gather4 (`load`) or scatter4: 4 table rows, whose numbers are `rows`, of the
        table region's columns, to or from 4 consecutive rows of the tile from the tile
        region's first; a row outside the table reads zeros (gather4) or is not written
        (scatter4). A gather4's bytes, 4 rows in all, complete on `mbar`."""
        pool, at_element, size = self._tile_bytes(tile_region.source)
        table, _ = self._view(table_region.source)
        height, width = [self.value(e) for e in table_region.source.shape]
        first_col = self.value(table_region.region[1].min)
        columns = self.value(table_region.region[1].extent)
        tile_row, tile_col = [self.value(r.min) for r in tile_region.region]
        for i, row in enumerate(self.value(r) for r in rows):
            for k in range(columns):
                at = at_element([tile_row + i, tile_col + k])
                inside = 0 <= row < height and 0 <= first_col + k < width
                flat = self._flat(table_region.source, [row, first_col + k]) if inside else None
                if load:
                    value = int(table[flat]) if inside else 0
                    pool[at:at + size] = np.frombuffer(value.to_bytes(size, "little"), np.uint8)
                elif inside:
                    table[flat] = int.from_bytes(pool[at:at + size], "little")
        if load:
            self._barrier(mbar).complete(len(rows) * columns * size)

    def _tma_store(self, dst, src, strides=None) -> None:
        """A TMA store of the shared tile region `src` into the global region `dst` (the box),
        complete at once: elements outside the tensor skipped."""
        def store(out, at, tile, frm, size):
            if at is not None:
                out[at] = int.from_bytes(tile[frm:frm + size], "little")

        self._tma_box(dst, src, store, strides)

    def _tma_box(self, tensor, tile_region, move, strides=None, rank=None) -> int:
        """`move(global view, flat index or None outside the tensor, tile bytes, byte offset,
        size)` for each element of the box `tensor` (a global region; with `strides`, TMA's
        element strides, its extents count elements `strides` apart) and its place in
        `tile_region`, the tile laid out as the hardware does (`tile_offset`); the box's
        bytes. The regions' dims of extent other than 1 correspond in order (a tile's rows view
        may span the padded row: its last extent is not the box's). `rank`: the tile of that
        block of the cluster."""
        pool, at_element, size = self._tile_bytes(tile_region.source, rank)
        out, _ = self._view(tensor.source)
        limits = [self.value(e) for e in tensor.source.shape]
        starts = [self.value(r.min) for r in tensor.region]
        extents = [self.value(r.extent) for r in tensor.region]
        firsts = [self.value(r.min) for r in tile_region.region]
        moved = [d for d, n in enumerate(extents) if n != 1]
        tile_moved = [d for d, r in enumerate(tile_region.region) if self.value(r.extent) != 1]
        if len(moved) != len(tile_moved):
            raise NotImplementedError(f"a TMA box {extents} of the tile {tile_region.source.name}")
        steps = [int(x) for x in strides] if strides is not None else [1] * len(extents)
        for offsets in product(*[range(extents[d]) for d in moved]):
            at, index = list(starts), list(firsts)
            for d, t, o in zip(moved, tile_moved, offsets):
                at[d] += o * steps[d]
                index[t] += o
            inside = all(0 <= i < n for i, n in zip(at, limits))
            move(out, self._flat(tensor.source, at) if inside else None, pool, at_element(index),
                 size)
        return prod(extents) * size

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
            size = _bytes(s.buffer.dtype) * int(np.prod([int(x) for x in s.buffer.shape]))
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
                self._cp_async(call)
            elif isinstance(call, Call) and op_name(call) in ("ld", "ld_vec"):
                self._hinted_load(call)
            elif isinstance(call, Call) and op_name(call) in ("st", "st_vec"):
                self._hinted_store(call)
            elif isinstance(call, Call) and op_name(call).startswith("mbarrier_") and \
                    op_name(call) != "mbarrier_wait":
                self._mbarrier(call)
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
            elif isinstance(call, Call) and op_name(call) == "mbarrier_wait":
                barrier, parity = self._barrier(call.args[0]), self.value(call.args[1])
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
        elif t is TilePrimitiveCall and op_name(s) == "copy_async" and GATHER4 in s.config:
            self._tma_rows(s.args[0], s.args[1], s.config[GATHER4], load=True,
                           mbar=s.config["mbar"])
        elif t is TilePrimitiveCall and op_name(s) == "copy_async" and SCATTER4 in s.config:
            self._tma_rows(s.args[1], s.args[0], s.config[SCATTER4], load=False)
        elif t is TilePrimitiveCall and op_name(s) == "copy_async" and len(s.args) == 2 and \
                not str(s.args[1].source.scope()).startswith("global") and \
                str(s.args[0].source.scope()).startswith("global"):
            self._tma_store(*s.args, s.config.get(ELEMENT_STRIDES))
        elif t is TilePrimitiveCall and op_name(s) == "copy_async" and len(s.args) == 2 and \
                str(s.args[1].source.scope()).startswith("global") and "mbar" in s.config:
            self._tma_load(s.args[0], s.args[1], s.config["mbar"], s.config.get(ELEMENT_STRIDES),
                           int(s.config["cta_mask"]) if "cta_mask" in s.config else None)
        else:
            raise NotImplementedError(f"{t.__name__}: {s}")


def tile_offset(layout: str, shape: list[int], elem: int, index: list[int]) -> int:
    """The byte offset of element `index` of a shared tile as the hardware's TMA and tlspec's
    layouts lay it out: rows of `shape[-1]` elements, padded by 16 bytes (`padded`), or rows
    filling whole S-byte spans whose 16-byte chunks are XORed with the span's row number modulo
    the chunks per span (CU_TENSOR_MAP_SWIZZLE_<S>B, the pattern repeating every 8 spans: chunk
    bits [4, 4 + log2(S / 16)) ^= address bits [7, ...))."""
    cols = shape[-1] * elem
    span = int(layout[len("swizzle_"):-1]) if layout.startswith("swizzle_") else 0
    pitch = cols + 16 if layout == "padded" else -(-cols // span) * span if span else cols
    row = 0
    for extent, i in zip(shape[:-1], index[:-1]):
        row = row * extent + i
    address = row * pitch + index[-1] * elem
    if span:
        address ^= ((address >> 7) % (span // 16)) << 4
    return address


def _handle(var) -> int:
    """A variable's identity (tirx objects compare by building an expression: slow as keys)."""
    return var if isinstance(var, int) else var.__chandle__()


def _checked(buffer, view, index: int) -> int:
    if not 0 <= index < len(view):
        raise IndexError(f"{buffer.name}[{index}] is outside its memory ({len(view)} elements)")
    return index
