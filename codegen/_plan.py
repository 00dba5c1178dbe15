"""Launch plans: what a launch needs that follows from a call's argument signature (shapes,
strides, dtypes, devices, which outputs are omitted), computed once per signature, and the
packed kernel parameters of one call's pointers."""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Optional, Sequence

from ._arrays import ArrayView
from ._exprs import evaluate
from ._tensormaps import check_layouts

if TYPE_CHECKING:
    from ._runtime import Kernel

Env = dict                     # dim name -> int
TENSORMAP_CACHE_SIZE = 256     # encoded descriptors kept per launch plan
LAUNCH_CACHE_SIZE = 256        # prepared launches (pointers, stream) kept per plan


class Param(NamedTuple):
    """A device parameter: kind "pointer" (ref: argument index), "tensormap" (ref: map index),
    "dim" (ref: dim name, ctype "int32" or "int64") or "fault_record" (the debug mode's record,
    codegen/_oob.py)."""
    kind: str
    ref: Any
    ctype: str = ""


def params(manifest: Mapping, index: Mapping) -> list:
    """The manifest's device parameters as Params; index: argument name -> position."""
    out = []
    for p in manifest["params"]:
        if p["kind"] == "pointer":
            out.append(Param("pointer", index[p["argument"]]))
        elif p["kind"] == "tensormap":
            out.append(Param("tensormap", p["map"]))
        elif p["kind"] == "dim":
            out.append(Param("dim", p["dim"], p.get("ctype", "int32")))
        elif p["kind"] == "fault_record":
            out.append(Param("fault_record", None))
        else:
            raise ValueError(f"{manifest['name']}: unknown parameter kind {p['kind']!r}")
    return out


class Packer:
    """Packs one kernel's parameters for a plan's dim values: `pack` makes the ParamBuffer of a
    call's pointers and tensor maps from a template made once per plan."""
    __slots__ = ("words", "n", "offsets", "cells", "pointer_slots", "map_slots", "record_slots")

    def __init__(self, params: Sequence[Param], dim_values: Mapping[str, int]) -> None:
        n = self.n = len(params)
        self.words = ctypes.c_uint64 * max(2 * n, 1)
        self.offsets = [8 * (n + i) for i in range(n)]       # slot i -> its cell, from the base
        self.cells = [dim_values[p.ref] & 0xFFFF_FFFF_FFFF_FFFF if p.kind == "dim" else 0
                      for p in params]
        self.pointer_slots = [(i, p.ref) for i, p in enumerate(params) if p.kind == "pointer"]
        self.map_slots = [(i, p.ref) for i, p in enumerate(params) if p.kind == "tensormap"]
        self.record_slots = [i for i, p in enumerate(params) if p.kind == "fault_record"]

    def pack(self, pointers: Sequence[int], tensormaps: Sequence[Any],
             record: int = 0) -> ParamBuffer:
        """record: the device pointer of the context's fault record (a debug-mode kernel)."""
        words = self.words()
        base = ctypes.addressof(words)
        slots = [base + o for o in self.offsets]
        for i, m in self.map_slots:
            slots[i] = tensormaps[m].getPtr()
        cells = self.cells[:]
        for i, a in self.pointer_slots:
            cells[i] = pointers[a]
        for i in self.record_slots:
            cells[i] = record
        if self.n:
            words[:] = slots + cells
        return ParamBuffer(words, base if self.n else 0, tensormaps)


class ParamBuffer:
    """cuLaunchKernel's kernelParams for one call's pointers, packed once and never changed (so
    that threads may launch it at once): `address` (0: no parameters) is the void*[] the driver
    reads, n slots followed by n 8-byte cells in one array (`words`). Pointer and dim slots point
    at their cell (an int32 dim is read from its cell's low 4 bytes: CUDA hosts are
    little-endian); a tensor-map slot points at the 128 bytes of the map, which the driver copies
    (a map is passed by value) and which the buffer keeps alive."""
    __slots__ = ("words", "address", "tensormaps")

    def __init__(self, words: Any, address: int, tensormaps: Sequence[Any]) -> None:
        self.words, self.address, self.tensormaps = words, address, tensormaps


class Plan:
    """One argument signature's launch: grid, block, shared memory, the outputs to allocate
    (argument index, shape), each tensor map's (dims, strides) and the dims passed as
    parameters (packer). `tensormaps` keeps the encoded maps by (map, pointer); `heads` the launches
    without parameters by (stream, context); `launches` the prepared launches by (pointers,
    stream), each in the context it was last made for: a call that finds its own launches it
    at once."""
    __slots__ = ("grid", "block", "smem", "empty", "device_id", "allocations", "map_layouts",
                 "packer", "tensormaps", "heads", "launches", "env", "exported")

    def __init__(self, kernel: Kernel, env: Env, views: Sequence[Optional[ArrayView]]) -> None:
        self.env = env                               # the dims (a fault's message needs them)
        self.grid = tuple(evaluate(e, env) for e in kernel.grid)
        self.empty = min(self.grid) <= 0            # nothing to launch (an empty problem)
        self.device_id = next((v.device_id for v in views if v is not None and
                               v.device_id is not None), None)
        self.block = tuple(evaluate(e, env) for e in kernel.block)
        self.smem = evaluate(kernel.smem, env)
        # (argument index, shape, declared strides or None) of every omitted output
        self.allocations = [(i, tuple(evaluate(e, env) for e in kernel.arguments[i].shape),
                             None if kernel.arguments[i].strides is None else
                             tuple(evaluate(e, env) for e in kernel.arguments[i].strides))
                            for i, v in enumerate(views) if v is None]
        self.map_layouts = [(tuple(evaluate(e, env) for e in t["dims"]),
                             tuple(evaluate(e, env) for e in t["strides"]))
                            for t in kernel.tensormaps]
        if not self.empty:
            check_layouts(kernel, self.map_layouts)
        self.packer = Packer(kernel.params, dim_params(kernel, env))
        self.tensormaps: dict = {}
        self.heads: dict = {}
        self.launches: dict = {}
        self.exported = False      # whether the compiled launcher may repeat its calls (the run
                                   # time sets it: all of its arrays have an exchange API)


def dim_params(kernel: Kernel, env: Env) -> dict:
    """The values of the dims passed as kernel parameters, range-checked for their C type."""
    out = {}
    for p in kernel.params:
        if p.kind == "dim":
            v = env[p.ref]
            bits = 32 if p.ctype == "int32" else 64
            if not -2 ** (bits - 1) <= v < 2 ** (bits - 1):
                raise ValueError(f"{kernel.name}(): {p.ref} = {v} does not fit in {p.ctype}")
            out[p.ref] = v
    return out


def bounded_put(cache: dict, key: Any, value: Any, limit: int) -> None:
    """cache[key] = value, the oldest entry dropped first when the cache holds `limit`. Called
    under the kernel's lock (readers look up without it)."""
    if len(cache) >= limit:
        cache.pop(next(iter(cache)))
    cache[key] = value
