"""The explicit family: a tiling (spec_tiled.py) whose tiles move by the asynchronous stages,
synchronised as docs/spec.md writes it, correct by construction:

- `tma`: tma_copy loads on a barrier (one barrier, or an array of `c` with `bars[n % c]` and
  tiles of `c` slots), announced by arrivals whose expect_tx add up to the boxes' bytes
  (`arrive_count` arrivals per phase), waited for with parity `n % 2` (`n // c % 2`), where n
  counts the barrier's uses over all the loops; consumers: tma_copy stores closed by
  tma_store_wait (pending the iteration's own stores when the tiles have slots, 0 otherwise;
  0 before the block exits), SIMT copies, a fragment hop or a transpose, then sync_threads
  before the next iteration's loads overwrite the tiles.
- `cp_async`: async_copy loads (maybe an async_commit of an empty group between them),
  async_wait(pending) for the groups in order, sync_threads, consumers, sync_threads.
- `tma_prefetch`, `cp_async_prefetch`: the innermost loop loads tile k + 1 into the other of two
  slots while tile k is consumed; the first tile is loaded before the loop, the last consumed
  after it (the loop runs 0 times when a symbolic dim is one tile).

The innermost loop is sometimes written as a `pipeline` (which runs it as written: its body
holds synchronisation stages). Kernels without TMA stages may target sm_80 (SpecBuilder.finish).
"""
from __future__ import annotations

import re
from dataclasses import replace
from math import prod

from spec_builder import Generated, SpecBuilder, strides_proven, tma_fits
from spec_tiled import (Tiling, copy_stage, slot_aligned, through_fragment, tile_shape, tiled,
                        tiling, transposed_store)
from tlspec.dtypes import DTYPE_BYTES

PROTOCOLS = {"tma": 5, "cp_async": 4, "tma_prefetch": 2, "cp_async_prefetch": 2}
CONSUMERS = {"tma_store": 5, "copy": 4, "fragment": 1, "transpose": 1}
TRIES = 8


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


class _Protocol:
    """One kernel's stages, built around the tiling `t` (its last loop the innermost)."""

    def __init__(self, b: SpecBuilder, t: Tiling):
        self.b, self.t = b, t
        self.elem = DTYPE_BYTES[t.dtype]
        self.box_bytes = prod(t.tile) * self.elem
        # a vector divides the tensors' rows, and for rank 1 their length (no vector past the end)
        self.legal = b.legal_width(t.dtype, t.tile[-1], t.sizes[-1])
        self.tma_stores = False          # some consumer is a tma_copy store
        self.top: list[dict] = []        # alloc_barrier stages

    # -- what the tiling allows ---------------------------------------------------------------
    def tma_ok(self) -> bool:
        """Whether TMA can copy the tiles: the validator's constraints, and row strides that
        are multiples of 16 bytes for every size (what the compiler proves from multiple_of)."""
        return (tma_fits(self.b, self.t.sizes, self.t.tile, self.t.dtype, "auto") and
                strides_proven(self.t.sizes, self.t.dtype))

    def tma_tile(self, name: str, region: str) -> bool:
        """Whether TMA can copy a tile between global memory and `region` of shared `name`."""
        b, t = self.b, self.t
        return (self.tma_ok() and slot_aligned(b, name, region) and
                tma_fits(b, t.sizes, t.tile, t.dtype, b.buffers[name].get("layout", "auto")))

    def cp_async_ok(self) -> bool:
        return self.legal * self.elem >= 4

    def use(self, inner: str | None = None) -> str:
        """n: the number of tiles handled before this one (over every loop), as an expression;
        `inner` replaces the innermost loop's tile index."""
        n = None
        for i, (var, extent, start) in enumerate(self.t.loops):
            index = var if not start else f"({var} - {start})"
            if inner is not None and i == len(self.t.loops) - 1:
                index = inner
            n = index if n is None else f"({n}) * ({extent}) + {index}"
        return n or "0"

    def at(self, name: str, inner: str) -> str:
        """The region of global `name` at tile `inner` of the innermost loop's axis."""
        var = self.t.loops[-1][0]
        axes = [replace(a, start=re.sub(rf"\b{var}\b", f"({inner})", a.start))
                for a in self.t.axes]
        return Tiling(self.t.dtype, axes).region(name)

    # -- tiles and stages ------------------------------------------------------------------------
    def tile(self, shape: list[int], slots: int, *, tma: bool) -> str | None:
        """A new shared tile of `slots` slots (1: a whole tile), or None if it does not fit."""
        declared = shape if slots == 1 else [slots] + shape
        if not self.b.fits(declared, self.t.dtype):
            return None
        return self.b.shared_tile(declared, self.t.dtype, tma=tma)

    @staticmethod
    def slot(name: str, shape: list[int], index: str | None) -> str:
        return name if index is None else f"{name}[{index}{', :' * len(shape)}]"

    def tma_load(self, src: str, dst: str, barrier: str) -> dict:
        options = {"src": src, "dst": dst, "barrier": barrier}
        if self.b.chance(0.25):
            options["eviction_policy"] = self.b.rng.choice(["evict_first", "evict_last",
                                                            "evict_normal"])
        return {"tma_copy": options}

    def async_copy(self, src: str, dst: str) -> dict:
        b, options = self.b, {"src": src, "dst": dst}
        widths = [w for w in (1, 2, 4, 8, 16) if w * self.elem in (4, 8, 16)
                  and w <= self.legal and self.t.tile[-1] % w == 0]
        if widths and b.chance(0.35):
            options["coalesced_width"] = b.rng.choice(widths)
        if b.chance(0.15):
            options["loop_layout"] = b.loop_layout(len(self.t.axes), options.get("coalesced_width"))
        return {"async_copy": options}

    def consume(self, region: str, name: str, shape: list[int], *, tma: bool) -> list[dict]:
        """Stages reading the tile `region` (of buffer `name`) into a new output."""
        b, t = self.b, self.t
        kinds = dict(CONSUMERS, transpose=CONSUMERS["transpose"] if len(shape) >= 2 and
                     len(t.axes) >= 2 and shape[-2:] == t.tile[-2:] else 0)
        if not (tma and self.tma_tile(name, region)):
            kinds["tma_store"] = 0
        kind = b.pick(kinds)
        if kind == "transpose":
            store = transposed_store(b, t, region, shape, slot=region != name)
            if store is not None:
                return store()
        out = t.region(b.global_buffer("B", t.sizes, t.dtype, "out"))
        if kind == "tma_store":
            self.tma_stores = True
            return [{"tma_copy": {"src": region, "dst": out}}]
        if kind == "fragment":
            return through_fragment(b, t, region, out, self.legal, src_global=False,
                                    src_rank=len(shape))
        return [copy_stage(b, t.dtype, region, out, kind="s2g", src_rank=len(shape),
                           src_inner=shape[-1], legal=self.legal)]

    def close(self, consumed: list[dict], looped: bool, pending: int = 0) -> list[dict]:
        """What must follow the consumers before the tiles are overwritten: tma_store_wait for
        the stores, sync_threads for the other readers."""
        stores = sum(1 for s in consumed if "tma_copy" in s)
        out = []
        if stores:
            out.append({"tma_store_wait": {"pending": pending * stores}})
        if looped and len(consumed) > stores:
            out.append({"sync_threads": None})
        return out

    # -- the protocols ---------------------------------------------------------------------------
    def barrier(self, name: str, count: int, arrive_count: int) -> None:
        options: dict = {"name": name}
        if count > 1 or self.b.chance(0.3):
            options["count"] = count
        if arrive_count > 1 or self.b.chance(0.3):
            options["arrive_count"] = arrive_count
        self.top.append({"alloc_barrier": options})

    def arrivals(self, barrier: str, sizes: list[int], arrive_count: int) -> tuple[list, list]:
        """(before the loads, after them): `arrive_count` arrivals whose expect_tx add up to
        `sizes`; announced before the loads, or one per load when there are enough."""
        b = self.b
        if arrive_count >= len(sizes) > 1 and b.chance(0.5):
            before = [{"barrier_arrive": {"barrier": barrier, "expect_tx": s}} for s in sizes]
        else:
            before = [{"barrier_arrive": {"barrier": barrier, "expect_tx": sum(sizes)}}]
        after = []
        for _ in range(arrive_count - len(before)):
            (after if b.chance(0.4) else before).append({"barrier_arrive": {"barrier": barrier}})
        return before, after

    def tma(self, looped: bool) -> list[dict]:
        b, t = self.b, self.t
        count = b.pick({1: 3, 2: 2, 3: 1, 4: 1})
        arrive_count = b.pick({1: 5, 2: 2, 3: 1})
        bar = b.fresh("bar")
        n = self.use()
        ref = bar if count == 1 else f"{bar}[({n}) % {count}]"
        parity = f"({n}) % 2" if count == 1 else f"({n}) // {count} % 2"
        slots = count if count > 1 and b.chance(0.7) else 1
        index = f"({n}) % {count}" if slots > 1 else None
        loads, tiles = [], []
        for _ in range(b.pick({1: 3, 2: 1})):
            shape = tile_shape(b, t, keep_last=2 if len(t.axes) >= 2 and b.chance(0.3) else 1)
            name = self.tile(shape, slots, tma=True)
            if name is None or not self.tma_tile(name, self.slot(name, shape, index)):
                continue
            region = self.slot(name, shape, index)
            src = t.region(b.global_buffer("A", t.sizes, t.dtype, "in"))
            loads.append(self.tma_load(src, region, ref))
            tiles.append((region, name, shape))
        if not loads:
            return self.cp_async(looped) if self.cp_async_ok() else []
        self.barrier(bar, count, arrive_count)
        before, after = self.arrivals(ref, [self.box_bytes] * len(loads), arrive_count)
        consumed = [s for tile in tiles for s in self.consume(*tile, tma=True)]
        pending = 1 if slots > 1 and looped and b.chance(0.6) else 0
        stages = before + loads + after + [{"barrier_wait": {"barrier": ref, "parity": parity}}]
        return stages + consumed + self.close(consumed, looped, pending)

    def cp_async(self, looped: bool) -> list[dict]:
        b, t = self.b, self.t
        slots = b.pick({1: 3, 2: 1})
        index = f"({self.use()}) % {slots}" if slots > 1 else None
        groups, tiles = [], []
        for _ in range(b.pick({1: 2, 2: 1})):
            shape = tile_shape(b, t)
            name = self.tile(shape, slots, tma=b.chance(0.3))
            if name is None:
                continue
            src = t.region(b.global_buffer("A", t.sizes, t.dtype, "in"))
            groups.append([self.async_copy(src, self.slot(name, shape, index))])
            if b.chance(0.2):
                groups.append([{"async_commit": None}])          # an empty group
            tiles.append((self.slot(name, shape, index), name, shape))
        if not tiles:
            return []
        stages = [s for group in groups for s in group]
        if len(tiles) == 2 and b.chance(0.6):   # wait for the first copy's group alone
            first = self.consume(*tiles[0], tma=True)
            second = self.consume(*tiles[1], tma=True)
            return (stages + [{"async_wait": {"pending": len(groups) - 1}},    # groups after it
                              {"sync_threads": None}] + first
                    + [{"async_wait": {"pending": 0}}, {"sync_threads": None}] + second
                    + self.close(first + second, looped))
        consumed = [s for tile in tiles for s in self.consume(*tile, tma=True)]
        wait = {"async_wait": {"pending": 0}} if b.chance(0.7) else {"async_wait": None}
        return stages + [wait, {"sync_threads": None}] + consumed + self.close(consumed, looped)

    def prefetch(self, by_tma: bool) -> tuple[list[dict], list[dict], list[dict]] | None:
        """(before the loop, its body, after it): tile k + 1 loaded into slot (k + 1) % 2 while
        tile k is consumed; None when no tile fits."""
        b, t = self.b, self.t
        var, extent, _ = t.loops[-1]
        shape = tile_shape(b, t)
        name = self.tile(shape, 2, tma=by_tma)
        if name is None:
            return None
        slot = self.slot(name, shape, "0")
        if by_tma and not self.tma_tile(name, slot):
            return None
        src = b.global_buffer("A", t.sizes, t.dtype, "in")
        out = b.global_buffer("B", t.sizes, t.dtype, "out")
        last = f"({extent}) - 1"
        bar = b.fresh("bar")
        if by_tma:
            self.barrier(bar, 2, 1)

        def load(j: str) -> list[dict]:
            n = self.use(j)
            dst = self.slot(name, shape, f"({n}) % 2")
            if not by_tma:
                return [self.async_copy(self.at(src, j), dst)]
            ref = f"{bar}[({n}) % 2]"
            return [{"barrier_arrive": {"barrier": ref, "expect_tx": self.box_bytes}},
                    self.tma_load(self.at(src, j), dst, ref)]

        def consume(j: str, pending: int) -> list[dict]:
            n = self.use(j)
            region = self.slot(name, shape, f"({n}) % 2")
            if by_tma:
                waits = [{"barrier_wait": {"barrier": f"{bar}[({n}) % 2]",
                                           "parity": f"({n}) // 2 % 2"}}]
            else:
                waits = [{"async_wait": {"pending": pending}}, {"sync_threads": None}]
            if b.chance(0.5) and self.tma_tile(name, region):
                self.tma_stores = True
                consumed = [{"tma_copy": {"src": region, "dst": self.at(out, j)}}]
            else:
                consumed = [copy_stage(b, t.dtype, region, self.at(out, j), kind="s2g",
                                       src_rank=len(shape), src_inner=shape[-1], legal=self.legal)]
            return waits + consumed + self.close(consumed, True)

        return load("0"), load(f"{var} + 1") + consume(var, 1), consume(last, 0)


def _max_count(b: SpecBuilder, t: Tiling) -> int | None:
    """The innermost loop's largest trip count, when bounded."""
    axis = next(a for a in t.axes if a.mode == "loop" and
                re.search(rf"\b{t.loops[-1][0]}\b", a.start))
    if not axis.size.symbolic:
        return _ceil(axis.size.value, axis.tile)
    plan = b.plans.get(axis.size.text)
    return _ceil(plan.max, axis.tile) if plan is not None and plan.max else None


def _inner_loop(b: SpecBuilder, var: str, extent: str, start: int, count: int | None,
                body: list[dict]) -> dict:
    """The innermost loop: a `for`, or (starting at 0) sometimes a `pipeline`."""
    if start or not b.chance(0.3):
        return b.loop(var, extent, start, body)
    stages = b.pick({1: 1, 2: 2, 3: 1, 4: 1})
    if count is not None:
        stages = min(stages, count)
    return {"pipeline": {"var": var, "extent": extent, "num_stages": stages, "stages": body}}


def explicit(b: SpecBuilder) -> Generated:
    b.pick_threads()
    protocol = b.pick(PROTOCOLS)
    prefetch = protocol.endswith("prefetch")
    for _ in range(TRIES):          # a tiling the protocol's copies can move
        t = tiling(b, looped=prefetch or b.chance(0.7))
        p = _Protocol(b, t) if t is not None else None
        if p is not None and (p.tma_ok() if protocol.startswith("tma") else p.cp_async_ok()):
            break
        b.reset()
    else:
        return tiled(b)
    count = _max_count(b, t) if t.loops else None
    made = p.prefetch(protocol == "tma_prefetch") if prefetch else None
    if made is not None:
        before, body, after = made
        var, extent, _ = t.loops[-1]
        looped = count is None or count >= 2
        inner = before + ([_inner_loop(b, var, f"({extent}) - 1", 0,
                                       None if count is None else count - 1, body)]
                          if looped else []) + after
    else:
        inner = p.tma(bool(t.loops)) if protocol.startswith("tma") else p.cp_async(bool(t.loops))
        if not inner:
            return tiled(b.reset())
        if t.loops:
            var, extent, start = t.loops[-1]
            inner = [_inner_loop(b, var, extent, start, count, inner)]
    for var, extent, start in reversed(t.loops[:-1]):
        inner = [b.loop(var, extent, start, inner)]
    b.stages = p.top + inner
    if p.tma_stores:
        b.stages.append({"tma_store_wait": {"pending": 0}})    # before the block exits
    shape = "x".join(str(x) for x in t.tile)
    return b.finish(f"Tiles of {shape} {t.dtype} moved by explicit {protocol} stages in "
                    f"{len(t.loops)} loops.")
