"""The strided family: a tiling (spec_tiled.py) whose tiles are moved between a dense tensor and
a strided region of another (docs/spec.md, "Strided regions"): `A[bx*48 : +16 : 3, ...]`, steps
1 to 9 on outer dimensions (loads of those may be TMA copies with element strides) and on the
innermost one (SIMT, one element per access), loads and stores, directly, through a shared tile
or a register fragment.

The strided tensor's extent along a stepped axis is about the dense one's times the step, a few
elements more or fewer (ragged: the last tile reads the fill, or skips, past its end); a phase
(`bx*48 + 1 : +16 : 3`) and a halo (starting before the tensor) make other partial tiles. Every
block still reads and writes only its own tiles (the steps keep them disjoint).
"""
from __future__ import annotations

from math import prod

from spec_builder import Generated, Size, SpecBuilder, strides_proven, tma_fits
from spec_tiled import (CONVERT, HALO, Axis, Tiling, copy_stage, new_tile, slot_aligned,
                        through_fragment, tile_shape, tiling, wrap_loops)
from tlspec.dtypes import DTYPE_BYTES

STEPS = {1: 1, 2: 4, 3: 3, 4: 2, 5: 1, 7: 1, 8: 1, 9: 1}
STEP_PRODUCT = 18            # the strided tensor holds at most this many times the tile elements
TMA_STEP, TMA_BOX = 8, 256   # TMA element strides and traversed box extents at most


def _steps(b: SpecBuilder, t: Tiling) -> list[int]:
    """A step per axis, mostly one above 1 somewhere (the innermost sometimes); all 1 at times,
    which the region writes as explicit `: 1` steps."""
    axes = [i for i, a in enumerate(t.axes) if not a.single]
    steps = [1] * len(t.axes)
    if not axes:
        return steps
    inner = len(t.axes) - 1
    chosen = [i for i in axes if b.chance(0.35 if i == inner else 0.5)] or [b.rng.choice(axes)]
    for i in chosen:
        steps[i] = b.pick(STEPS)
        while prod(steps) > STEP_PRODUCT:
            steps[i] -= 1
    return steps


def _strided_size(b: SpecBuilder, size: Size, tile: int, step: int) -> Size:
    """The strided tensor's extent along an axis stepped by `step`: about `size` * step; a
    constant one long enough that the last tile starts inside it (whatever its phase), as
    validation requires (a symbolic one may leave the last tile wholly outside: it reads the
    fill, or skips)."""
    if step == 1:
        return size
    extra = b.rng.randint(-(step - 1), step - 1)
    if not size.symbolic:
        last_start = (-(-size.value // tile) - 1) * tile * step + step - 1
        value = max(last_start + 1, size.value * step + extra)
        return Size(str(value), value, value)
    text = size.text if size.text.isidentifier() else f"({size.text})"
    text = f"{text} * {step}" + (f" + {extra}" if extra > 0 else f" - {-extra}" if extra else "")
    return Size(text, None, size.multiple * step if extra == 0 else 1)


def _part(a: Axis, step: int, phase: int, halo: int, explicit: bool) -> str:
    """The axis's slice of the strided tensor: the dense tile's start times the step."""
    if a.single and step == 1:
        return a.start
    start = "0" if a.mode == "whole" else a.start
    start = start if step == 1 else f"({start})*{step}" if " " in start else f"{start}*{step}"
    start += f" + {phase}" if phase else ""
    start += f" - {halo}" if halo else ""
    return f"{start} : +{a.tile}" + (f" : {step}" if step > 1 or explicit else "")


def strided_region(b: SpecBuilder, t: Tiling, name: str,
                   steps: list[int]) -> tuple[str, int | None]:
    """The tile's region of the strided tensor `name` (a phase and a halo sometimes), and the
    axis along which it may start before the tensor (a halo), if any."""
    halo_axis = b.rng.choice([i for i, s in enumerate(steps) if not t.axes[i].single] or [None]) \
        if b.chance(HALO) else None
    explicit = all(s == 1 for s in steps)
    parts = []
    for i, (a, step) in enumerate(zip(t.axes, steps)):
        phase = b.rng.randrange(step) if step > 1 and b.chance(0.3) else 0
        halo = b.rng.choice([1, 2, 3]) if i == halo_axis else 0
        parts.append(_part(a, step, phase, halo, explicit and step == 1 and not a.single))
    return f"{name}[{', '.join(parts)}]", halo_axis


def _tma_load_ok(b: SpecBuilder, t: Tiling, sizes: list[Size], steps: list[int],
                 halo: int | None, name: str, region: str) -> bool:
    """Whether a strided load into the shared tile `name` may ask for TMA: steps on outer
    dimensions only, at most 8, traversed boxes of at most 256, no halo (docs/spec.md)."""
    traversed = [tile * step for tile, step in zip(t.tile, steps)]
    return (steps[-1] == 1 and max(steps) <= TMA_STEP and max(traversed) <= TMA_BOX
            and halo is None and slot_aligned(b, name, region) and strides_proven(sizes, t.dtype)
            and tma_fits(b, sizes, traversed, t.dtype, b.buffers[name].get("layout", "auto")))


def _one_per_access(stages: list[dict], elem: int) -> list[dict]:
    """A step on the innermost dimension moves one element per access: no wider vectors on any
    copy of the route (a fragment's two copies lay it out alike), and no eviction hint on
    accesses narrower than the hinted ones nor cp.async of them (4 bytes at least)."""
    for stage in stages:
        options = next(iter(stage.values()))
        if elem < 4:
            options.pop("eviction_policy", None)
            if options.get("prefer_instruction") == "cp_async":
                options["prefer_instruction"] = "sync"
        if "coalesced_width" in options:
            options["coalesced_width"] = 1
        if "vector" in options.get("loop_layout", {}):
            options["loop_layout"]["vector"] = 1
    return stages


def strided_route(b: SpecBuilder, t: Tiling) -> list[dict]:
    """Stages moving one tile between a new dense tensor and a strided region of another: a
    load (the input strided) or a store (the output strided)."""
    steps = _steps(b, t)
    loading = b.chance(0.65)
    sizes = [_strided_size(b, a.size, a.tile, s) for a, s in zip(t.axes, steps)]
    out_dtype = b.converted(t.dtype) if b.chance(CONVERT) else t.dtype
    if loading:
        src = b.global_buffer("A", sizes, t.dtype, "in")
        a_region, halo = strided_region(b, t, src, steps)
        b_region = t.region(b.global_buffer("B", t.sizes, out_dtype, "out"))
    else:
        a_region = t.region(b.global_buffer("A", t.sizes, t.dtype, "in"))
        dst = b.global_buffer("B", sizes, out_dtype, b.pick({"out": 4, "inout": 1}))
        b_region, halo = strided_region(b, t, dst, steps)
    rank = len(t.axes)
    inner_step = steps[-1] > 1
    # a step or a shift on the innermost axis leaves no vector aligned
    legal = 1 if inner_step or halo == rank - 1 else b.legal_width(
        t.dtype, t.tile[-1], sizes[-1] if len(sizes) > 1 else None)
    kind = b.pick({"g2g": 2, "shared": 5, "fragment": 2})
    if kind == "fragment":
        stages = through_fragment(b, t, a_region, b_region, legal, out_dtype=out_dtype)
    else:
        made = new_tile(b, t, tile_shape(b, t), tma=b.chance(0.5)) if kind == "shared" else None
        if made is None:
            stages = [copy_stage(b, t.dtype, a_region, b_region, kind="g2g", src_rank=rank,
                                 src_inner=t.tile[-1], legal=legal, dst_dtype=out_dtype)]
        else:
            name, region = made
            shape = b.buffers[name]["shape"]
            tma_load = loading and _tma_load_ok(b, t, sizes, steps, halo, name, region)
            tma_store = loading and slot_aligned(b, name, region) and strides_proven(
                t.sizes, t.dtype) and tma_fits(
                b, t.sizes, t.tile, t.dtype, b.buffers[name].get("layout", "auto"))
            stages = [copy_stage(b, t.dtype, a_region, region, kind="g2s", src_rank=rank,
                                 src_inner=t.tile[-1], legal=legal, tma_ok=tma_load),
                      copy_stage(b, t.dtype, region, b_region, kind="s2g", src_rank=len(shape),
                                 src_inner=shape[-1], legal=legal, tma_ok=tma_store,
                                 dst_dtype=out_dtype)]
    return _one_per_access(stages, DTYPE_BYTES[t.dtype]) if inner_step else stages


def strided(b: SpecBuilder) -> Generated:
    b.pick_threads()
    t = tiling(b)
    body: list[dict] = []
    for _ in range(b.pick({1: 4, 2: 1})):
        body += strided_route(b, t)
    b.stages = wrap_loops(b, t, b.sprinkle_syncs(body))
    return b.finish(f"Tiles of {'x'.join(str(x) for x in t.tile)} {t.dtype} moved between "
                    "dense and strided regions.")
