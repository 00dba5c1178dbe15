"""The pipelined family: a tiling (spec_tiled.py) whose innermost loop is a `pipeline` of plain
copies, maybe inside `for` loops. Each route loads its tile into slot `k % s` of a multi-slot
shared tile (s >= num_stages, sometimes more, and sometimes more slots declared than the modulus)
and its consumers read the same slot: a store to global memory (SIMT or TMA), a hop through a
register fragment, a transpose into another tile, a copy into another tile. Some routes load
converting into a slot of another dtype (a SIMT copy: cp.async and TMA move bits) and store
converting back. Trip counts are
constant or symbolic, `ceildiv` (partial last tiles) or floor division (0 iterations when the
dim is smaller than a tile).

Some loops ask for warp specialization (a producer warp issuing the TMA loads; a loop that
cannot have it is refused with a located error). Some bodies are ones the planner must run
serially (PipelinePlanning), and which must still be
right: a stage touching another slot of the loaded tile, a slot overwritten after it was read,
a sync_threads in the body, a route without slots (spec_tiled.route).
"""
from __future__ import annotations

import re

from spec_builder import Generated, SpecBuilder, tma_fits
from tlspec.dtypes import DTYPE_BYTES
from spec_tiled import (Tiling, copy_stage, route, slot_aligned, through_fragment, tile_shape,
                        tiled, tiling, transposed_store)

NUM_STAGES = {1: 1, 2: 3, 3: 3, 4: 2}
SERIAL = {None: 12, "other_slot": 2, "overwrite": 2, "sync": 1}
CONSUMERS = {"store": 5, "fragment": 2, "transpose": 2, "shared": 1}
CONVERT = 0.12        # a route whose load converts into its slot (and whose store converts back)


def _trip_count(b: SpecBuilder, t: Tiling, var: str, extent: str) -> tuple[str, int | None]:
    """The pipeline's extent (`extent` as the tiling counts it, or sometimes the whole tiles
    only: `M // 64`, 0 when M < 64) and its value when constant."""
    axis = next(a for a in t.axes if a.mode == "loop" and re.search(rf"\b{var}\b", a.start))
    size, tile = axis.size, axis.tile
    text = size.text if size.text.isidentifier() or size.text.isdigit() else f"({size.text})"
    floor = tile > 1 and (size.symbolic or size.value >= tile) and b.chance(0.3)
    if floor:
        extent = f"{text} // {tile}"
    if size.symbolic:
        return extent, None
    return extent, size.value // tile if floor else -(-size.value // tile)


class _Body:
    """The body of one pipeline loop over `var` with `stages` stages, route by route."""

    def __init__(self, b: SpecBuilder, t: Tiling, var: str, stages: int):
        self.b, self.t, self.var, self.stages = b, t, var, stages
        self.serial = b.pick(SERIAL)
        self.stmts: list[dict] = []

    def slot_tile(self, shape: list[int], dtype: str | None = None) -> tuple[str, int, str] | None:
        """(buffer, slots in the modulus, region of slot `var % slots`) of a new tile (of the
        tiling's dtype unless `dtype`)."""
        b = self.b
        dtype = dtype or self.t.dtype
        slots = self.stages + b.pick({0: 4, 1: 1, 2: 1})
        if self.serial == "other_slot":
            slots = max(slots, 2)
        declared = [slots + (1 if b.chance(0.15) else 0)] + shape
        if not b.fits(declared, dtype):
            return None
        name = b.shared_tile(declared, dtype, tma=b.chance(0.5))
        return name, slots, self.region(name, f"{self.var} % {slots}", len(shape))

    @staticmethod
    def region(name: str, slot: str, rank: int) -> str:
        return f"{name}[{slot}{', :' * rank}]"

    def route(self) -> None:
        b, t = self.b, self.t
        if self.serial is None and b.chance(CONVERT) and self.converting_route():
            return
        transposing = len(t.axes) >= 2 and b.chance(0.3)
        shape = tile_shape(b, t, keep_last=2 if transposing else 1)
        made = self.slot_tile(shape)
        if made is None:
            self.stmts += route(b, t)
            return
        name, slots, region = made
        src = b.global_buffer("A", t.sizes, t.dtype, "in")
        legal = b.legal_width(t.dtype, t.tile[-1], t.sizes[-1] if len(t.axes) > 1 else None)
        tma_ok = tma_fits(b, t.sizes, t.tile, t.dtype, b.buffers[name].get("layout", "auto")) \
            and slot_aligned(b, name, region)
        self.stmts.append(self.load(t.region(src), region, legal, tma_ok))
        if self.serial == "other_slot":
            other = self.region(name, f"({self.var} + 1) % {slots}", len(shape))
            self.stmts.append(copy_stage(b, t.dtype, region, other, kind="s2s",
                                         src_rank=len(shape), src_inner=shape[-1], legal=legal))
            region, self.serial = other, None
        self.consume(region, shape, legal, tma_ok, transposing)
        if self.serial == "overwrite":
            src = b.global_buffer("A", t.sizes, t.dtype, "in")
            self.stmts.append(self.load(t.region(src), region, legal, tma_ok))
            self.consume(region, shape, legal, tma_ok, transposing)
            self.serial = None

    def converting_route(self) -> bool:
        """A load that converts into its slot (float32 into bfloat16, ...): a SIMT copy, which
        the planner must not issue ahead as a cp.async (cp.async moves bits), then a store
        that converts back. False when no slot tile fits."""
        b, t = self.b, self.t
        slot_dtype = b.converted(t.dtype)
        shape = tile_shape(b, t)
        made = self.slot_tile(shape, slot_dtype)
        if made is None:
            return False
        region = made[2]
        legal = b.legal_width(t.dtype, t.tile[-1], t.sizes[-1] if len(t.axes) > 1 else None)
        src = b.global_buffer("A", t.sizes, t.dtype, "in")
        out = t.region(b.global_buffer("B", t.sizes, t.dtype, "out"))
        self.stmts.append({"copy": {"src": t.region(src), "dst": region}} if b.chance(0.6) else
                          copy_stage(b, t.dtype, t.region(src), region, kind="g2s",
                                     src_rank=len(t.axes), src_inner=t.tile[-1], legal=legal,
                                     dst_dtype=slot_dtype))   # mostly plain: as a load would be
        self.stmts.append(copy_stage(b, slot_dtype, region, out, kind="s2g",
                                     src_rank=len(shape), src_inner=shape[-1], legal=legal,
                                     dst_dtype=t.dtype))
        return True

    def load(self, src: str, dst: str, legal: int, tma_ok: bool) -> dict:
        """A load into a slot: mostly one the planner can issue ahead (TMA, cp.async, or the
        compiler's choice, without options that make it a plain SIMT loop), else any copy."""
        b, t = self.b, self.t
        choices = ["auto"] + ["tma"] * tma_ok + ["cp_async"] * (legal * DTYPE_BYTES[t.dtype] >= 4)
        prefer = b.rng.choice(choices)
        if b.chance(0.35):
            return copy_stage(b, t.dtype, src, dst, kind="g2s", src_rank=len(t.axes),
                              src_inner=t.tile[-1], legal=legal, tma_ok=tma_ok)
        return {"copy": {"src": src, "dst": dst} |
                ({"prefer_instruction": prefer} if prefer != "auto" else {})}

    def consume(self, region: str, shape: list[int], legal: int, tma_ok: bool,
                transposing: bool) -> None:
        """One or two consumers of the slot `region` (a tile of `shape`)."""
        b, t = self.b, self.t
        kinds = dict(CONSUMERS, transpose=CONSUMERS["transpose"] if transposing else 0)
        for _ in range(b.pick({1: 3, 2: 1})):
            kind = b.pick(kinds)
            store = None if kind != "transpose" else \
                transposed_store(b, t, region, shape, slot=True)
            if store is not None:
                self.stmts += store()
                continue
            out = t.region(b.global_buffer("B", t.sizes, t.dtype, "out"))
            if kind == "fragment":
                self.stmts += through_fragment(b, t, region, out, legal, src_global=False,
                                        src_rank=len(shape))
                continue
            src, src_tma = region, tma_ok
            if kind == "shared" and b.fits(shape, t.dtype):
                src = b.shared_tile(shape, t.dtype)
                self.stmts.append(copy_stage(b, t.dtype, region, src, kind="s2s",
                                             src_rank=len(shape), src_inner=shape[-1],
                                             legal=legal))
                src_tma = tma_fits(b, t.sizes, t.tile, t.dtype,
                                   b.buffers[src].get("layout", "auto"))
            self.stmts.append(copy_stage(b, t.dtype, src, out, kind="s2g",
                                         src_rank=len(shape), src_inner=shape[-1], legal=legal,
                                         tma_ok=src_tma))

    def finish(self) -> list[dict]:
        if self.serial == "sync" and len(self.stmts) > 1:
            at = self.b.rng.randrange(1, len(self.stmts))
            self.stmts.insert(at, {"sync_threads": None})
        return self.stmts


def pipelined(b: SpecBuilder) -> Generated:
    b.pick_threads()
    t = tiling(b, looped=True)
    if t is None:                       # every axis one whole tile: nothing to loop over
        return tiled(b.reset())
    var, extent, _ = t.loops[-1]
    extent, count = _trip_count(b, t, var, extent)
    stages = b.pick(NUM_STAGES) if count is None else min(b.pick(NUM_STAGES), max(count, 1))
    body = _Body(b, t, var, stages)
    for _ in range(b.pick({1: 3, 2: 2})):
        if b.chance(0.15):
            body.stmts += route(b, t)       # plain copies beside the pipelined ones
        else:
            body.route()
    options = {"var": var, "extent": extent}
    if stages != 2 or b.chance(0.5):
        options["num_stages"] = stages
    if stages >= 2 and b.chance(0.3):     # refused with the reason where it cannot be
        options["warp_specialize"] = True
    options["stages"] = body.finish()
    stmts = [{"pipeline": options}]
    for var, outer, start in reversed(t.loops[:-1]):
        stmts = [b.loop(var, outer, start, stmts)]
    b.stages = stmts
    shape = "x".join(str(x) for x in t.tile)
    return b.finish(f"Tiles of {shape} {t.dtype} through a pipeline of {stages} stages "
                    f"inside {len(t.loops) - 1} loops.")
