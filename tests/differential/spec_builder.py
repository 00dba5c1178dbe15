"""The pieces random specs are built from: sizes, dims, buffers, copy options, loops; the families
of kernels (spec_families.py) assemble them into one spec.

A spec is built as plain data (the dict that becomes the YAML document) together with what the
batch builder needs to run it: for every symbolic dim the tile extent along it (`granule`, so
that some call sizes divide the tiles and some do not) and the largest size a call may give it
(`cap`, so that tensors stay small).

Everything here draws from one `random.Random`, so a spec is a function of its seed.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from math import gcd, prod

from spec_features import hopper_only
from tlspec.conversions import CONVERTIBLE
from tlspec.dtypes import DTYPE_BYTES, MAX_VECTOR_BYTES
from tlspec.fill import FillError, fill_bits
from tlspec.layouts import SWIZZLES as SWIZZLE_SPAN
from tlspec.layouts import TileStorage
from tlspec.rules.declarations import STATIC_SHARED_BYTES
from tlspec.tensormap_rules import ALIGN as TMA_ALIGN
from tlspec.tensormap_rules import MAX_BOX, MAX_RANK

DTYPES = list(DTYPE_BYTES)
LAYOUTS = ["auto", "row_major", "padded", "swizzle_32B", "swizzle_64B", "swizzle_128B"]
EVICTION = ["evict_normal", "evict_first", "evict_last"]
THREADS = {32: 2, 64: 3, 96: 1, 128: 4, 256: 4, 512: 2, 1024: 1}
SHARED_BUDGET = 160 * 1024          # of the 227 KB: leaves room for alignment and mbarriers
ELEMENTS_CAP = 1 << 17              # elements per tensor at the largest call size
# names a spec may use that clash with names in tvm's printing (T, I), the generated code or
# Python; the generator gives them to some kernels' buffers (RENAME_SHARE)
AWKWARD_NAMES = ["T", "I", "R", "Axis", "data", "shape", "tid", "lane", "slot", "main", "kernel",
                 "half", "tvm", "tirx", "value", "out"]
RENAME_SHARE = 0.1
BLOCKS_CAP = 1024                   # blocks x loop iterations at the largest call size
ODD_LENGTHS = [1, 3, 5, 7, 13, 33, 63, 100, 1001]
# fill values to draw from; each is used only where it converts to the stage's element types
FILLS = ["-inf", "inf", "nan", -99, 1.5, 7, 127, 448, -128, 60000, 0]
SM80_SHARE = 0.25                   # of the specs that sm_80 can compile


@dataclass
class Size:
    """One extent of a global tensor: as the spec writes it, its value when constant, and an
    integer it is known to be a multiple of (what vector widths may rely on)."""
    text: str
    value: int | None
    multiple: int

    @property
    def symbolic(self) -> bool:
        return self.value is None


@dataclass
class DimPlan:
    """A symbolic dim: call sizes are chosen from multiples of `granule` and ragged sizes, at
    most `cap`, within the spec's own multiple_of/min/max."""
    granule: int
    cap: int
    multiple_of: int | None = None
    min: int | None = None
    max: int | None = None


@dataclass
class Generated:
    name: str
    spec: dict
    dims: dict[str, DimPlan]               # the symbolic dims


@dataclass
class SpecBuilder:
    rng: random.Random
    name: str
    dims: dict = field(default_factory=dict)           # spec dims section
    plans: dict[str, DimPlan] = field(default_factory=dict)
    buffers: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    stages: list = field(default_factory=list)
    threads: int = 128
    shared_bytes: int = 0
    static_bytes: int = 0
    counter: int = 0

    def reset(self) -> "SpecBuilder":
        """Drop what was built (a family that cannot make its kind of kernel hands over to
        another); the random stream and the names' counter go on."""
        self.dims, self.plans, self.buffers, self.grid, self.stages = {}, {}, {}, {}, []
        self.shared_bytes = self.static_bytes = 0
        return self

    # -- random choices --------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, weights: dict):
        keys = list(weights)
        return self.rng.choices(keys, weights=[weights[k] for k in keys])[0]

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def dtype(self) -> str:
        return self.rng.choice(DTYPES)

    def converted(self, dtype: str) -> str:
        """Another element type a copy converts `dtype` to (the same one where it converts to
        none)."""
        if dtype not in CONVERTIBLE:
            return dtype
        return self.rng.choice([d for d in CONVERTIBLE if d != dtype])

    def fill(self, *dtypes: str) -> str | int | float | None:
        """A fill value that converts to every one of `dtypes` (the stage's read and written
        element types), or None when none of those drawn does."""
        for value in self.rng.sample(FILLS, 4):
            try:
                for dtype in dtypes:
                    fill_bits(value, dtype)
            except FillError:
                continue
            return value
        return None

    def pick_threads(self) -> int:
        self.threads = self.pick(THREADS)
        return self.threads

    # -- sizes -----------------------------------------------------------------------------
    def size(self, granule: int, count: int, *, inner: bool = False, elem: int = 1,
             symbolic: float = 0.35, min_value: int = 1) -> Size:
        """An extent tiled by `granule`, about `count` tiles long at most: a constant (a multiple
        of the tile, a ragged one, or an odd length) or a symbolic dim (with or without
        multiple_of, min, max), named or written as an integer."""
        cap = max(granule * count, min_value)
        if self.chance(symbolic):
            return self.symbolic(granule, cap, inner=inner, elem=elem, min_value=min_value)
        roll = self.rng.random()
        if roll < 0.4:
            value = granule * self.rng.randint(1, count)
        elif roll < 0.8 or not inner:
            value = max(1, granule * self.rng.randint(1, count) - self.rng.randint(1, granule))
        else:
            value = self.rng.choice([v for v in ODD_LENGTHS if v <= cap] or [1])
        value = max(value, min_value)
        if self.chance(0.5):
            return Size(str(value), value, value)
        name = self.fresh("D")
        self.dims[name] = value
        return Size(name, value, value)

    def symbolic(self, granule: int, cap: int, *, inner: bool, elem: int,
                 min_value: int = 1) -> Size:
        name = self.fresh("M")
        plan = DimPlan(granule, cap)
        entry: dict = {"symbolic": True}
        if self.chance(0.45):
            vector = MAX_VECTOR_BYTES // elem
            plan.multiple_of = self.rng.choice(
                [m for m in {2, 4, vector, granule, max(1, vector // 2)} if m <= cap])
            entry["multiple_of"] = plan.multiple_of
        if min_value > 1 or self.chance(0.2):
            plan.min = max(min_value, self.rng.randint(1, max(1, cap // 4)))
            if plan.multiple_of:
                plan.min = -(-plan.min // plan.multiple_of) * plan.multiple_of
            entry["min"] = plan.min
        if self.chance(0.2):
            plan.max = max(cap, plan.min or 1, plan.multiple_of or 1)
            plan.cap = plan.max
            entry["max"] = plan.max
        plan.cap = max(plan.cap, plan.min or 1, plan.multiple_of or 1)
        self.dims[name] = entry if len(entry) > 1 or self.chance(0.5) else "symbolic"
        self.plans[name] = plan
        return Size(name, None, plan.multiple_of or 1)

    def cap(self, size: Size) -> int:
        """The largest value `size` takes at a call."""
        return size.value if not size.symbolic else self.plans[size.text].cap

    def affine(self, size: Size) -> Size:
        """`size` written `S * a + b` of a new symbolic dim S (a shape expression binds it)."""
        if not size.symbolic or not self.chance(0.1):
            return size
        plan = self.plans[size.text]
        a = self.rng.choice([1, 2, 4])
        b = self.rng.choice([0, 0, 1, 3]) if a > 1 else self.rng.choice([1, 2])
        self.plans[size.text] = DimPlan(1, max(1, (plan.cap - b) // a))
        self.dims[size.text] = "symbolic"
        return Size(f"{size.text} * {a} + {b}" if b else f"{size.text} * {a}", None,
                    a if b == 0 else 1)

    # -- buffers ---------------------------------------------------------------------------
    def global_buffer(self, prefix: str, shape: list[Size], dtype: str, io: str) -> str:
        name = self.fresh(prefix)
        self.buffers[name] = {"scope": "global", "shape": [s.text if s.symbolic or
                                                           not s.text.isdigit() else s.value
                                                           for s in shape],
                              "dtype": dtype, "io": io}
        return name

    def fits(self, shape: list[int], dtype: str, layout: str = "padded") -> bool:
        tile = TileStorage(layout, tuple(shape), DTYPE_BYTES[dtype])
        return self.shared_bytes + tile.alignment + tile.nbytes <= SHARED_BUDGET

    def layout(self, shape: list[int], dtype: str, *, tma: bool = False) -> str:
        """A layout for a shared tile of `shape`; for a TMA tile one the validator accepts (a row
        no wider than the swizzle span, not padded)."""
        row = shape[-1] * DTYPE_BYTES[dtype]
        options = [x for x in LAYOUTS if not (tma and (x == "padded" or
                                                        SWIZZLE_SPAN.get(x, row) < row))
                   and self.fits(shape, dtype, x)]     # swizzled rows are padded to the span
        return self.rng.choice(options)

    def shared_tile(self, shape: list[int], dtype: str, layout: str | None = None, *,
                    tma: bool = False) -> str:
        layout = layout or self.layout(shape, dtype, tma=tma)
        tile = TileStorage(layout, tuple(shape), DTYPE_BYTES[dtype])
        size, align = tile.nbytes, tile.alignment
        self.shared_bytes = -(-self.shared_bytes // align) * align + size
        scope = "shared.dyn" if self.static_bytes + size > STATIC_SHARED_BYTES or \
            self.chance(0.3) else "shared"
        if scope == "shared":
            self.static_bytes += size
        name = self.fresh("S")
        entry = {"scope": scope, "shape": shape, "dtype": dtype}
        if layout != "auto" or self.chance(0.3):
            entry["layout"] = layout
        self.buffers[name] = entry
        return name

    def fragment(self, shape: list[int], dtype: str) -> str:
        name = self.fresh("F")
        self.buffers[name] = {"scope": "fragment", "shape": shape, "dtype": dtype}
        return name

    # -- stage options ---------------------------------------------------------------------
    def legal_width(self, dtype: str, inner_extent: int, row: Size | None) -> int:
        """The widest vector a SIMT loop may use: dividing the moved innermost extent and the
        global rows (`row`: the innermost extent of a global tensor of rank > 1)."""
        limit = MAX_VECTOR_BYTES // DTYPE_BYTES[dtype]
        g = gcd(inner_extent, row.multiple) if row is not None else inner_extent
        width = 1
        while width * 2 <= limit and g % (width * 2) == 0:
            width *= 2
        return width

    def width_option(self, dtype: str, src_inner: int, legal: int) -> int:
        """A coalesced_width the validator accepts: a power of two of at most 16 bytes dividing
        the src region's innermost extent; mostly the legal one, sometimes a wider one (which the
        compiler refuses, located)."""
        limit = MAX_VECTOR_BYTES // DTYPE_BYTES[dtype]
        widths = [w for w in (1, 2, 4, 8, 16) if w <= limit and src_inner % w == 0]
        if self.chance(0.8) and legal in widths:
            return self.rng.choice([w for w in widths if w <= legal])
        return self.rng.choice(widths)

    def loop_layout(self, rank: int, vector: int | None) -> dict:
        """threads: 1 to 3 factors of launch.threads (at most the copy's rank), vector maybe."""
        count = self.rng.randint(1, min(3, rank))
        factors = [1] * count
        left = self.threads
        for p in _prime_factors(left):
            factors[self.rng.randrange(count)] *= p
        layout: dict = {"threads": factors}
        if vector is not None:
            layout["vector"] = vector
        return layout

    def simt_options(self, options: dict, dtype: str, src_rank: int, src_inner: int,
                     legal: int, *, global_side: bool) -> None:
        """coalesced_width, loop_layout, eviction_policy for a SIMT-capable stage."""
        if self.chance(0.35):
            options["coalesced_width"] = self.width_option(dtype, src_inner, legal)
        if self.chance(0.2):
            vector = options.get("coalesced_width") if self.chance(0.5) else None
            options["loop_layout"] = self.loop_layout(src_rank, vector)
        if global_side and self.chance(0.25):
            options["eviction_policy"] = self.rng.choice(EVICTION)

    # -- loops and stages ------------------------------------------------------------------
    def loop(self, var: str, extent: str, start: int, body: list) -> dict:
        options = {"var": var}
        if start or self.chance(0.2):
            options["start"] = start
        options["extent"] = extent
        options["stages"] = body
        return {"for": options}

    def sprinkle_syncs(self, stages: list) -> list:
        """sync_threads between some stages (redundant between synchronous stages: harmless)."""
        out = []
        for stage in stages:
            out.append(stage)
            if self.chance(0.12):
                out.append({"sync_threads": None})
        return out

    def finish(self, doc: str) -> Generated:
        """The spec; one without Hopper's stages and options sometimes targets sm_80."""
        target = "sm_80" if not hopper_only(self.stages) and self.chance(SM80_SHARE) else "sm_90a"
        spec = {"tlspec": 1, "name": self.name, "doc": doc, "target": target}
        if self.dims:
            spec["dims"] = self.dims
        spec["buffers"] = self.buffers
        spec["launch"] = {"grid": self.grid or {"bx": 1}, "threads": self.threads}
        spec["stages"] = self.stages
        if self.chance(RENAME_SHARE):
            spec = self._awkward_names(spec)
        return Generated(self.name, spec, self.plans)

    def _awkward_names(self, spec: dict) -> dict:
        """The spec with its buffers renamed to names of AWKWARD_NAMES, everywhere they occur
        (the generator's own names are a letter and a number, so a whole-word match is one)."""
        names = self.rng.sample(AWKWARD_NAMES, min(len(AWKWARD_NAMES), len(self.buffers)))
        renames = dict(zip(self.buffers, names))
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")

        def renamed(node):
            if isinstance(node, str):
                return pattern.sub(lambda m: renames[m.group(1)], node)
            if isinstance(node, dict):
                return {renamed(k): renamed(v) for k, v in node.items()}
            if isinstance(node, list):
                return [renamed(x) for x in node]
            return node
        return renamed(spec)


def tma_fits(builder: SpecBuilder, tensor: list[Size], box: list[int], dtype: str,
             layout: str) -> bool:
    """Whether the validator's TMA constraints (tlspec/rules/tma.py) hold for a copy of the box
    `box` of a tensor of extents `tensor` through a tile of `layout`."""
    elem = DTYPE_BYTES[dtype]
    if len(tensor) > MAX_RANK or any(b > MAX_BOX for b in box) or box[-1] * elem % TMA_ALIGN:
        return False
    if layout == "padded" or SWIZZLE_SPAN.get(layout, box[-1] * elem) < box[-1] * elem:
        return False
    # the byte strides, and for rank 1 the tensor's own span, are multiples of 16 bytes
    for inner in [tensor[i + 1:] for i in range(len(tensor) - 1)] or [tensor]:
        if all(not s.symbolic for s in inner) and prod(s.value for s in inner) * elem % TMA_ALIGN:
            return False
    return True


def strides_proven(sizes: list[Size], dtype: str) -> bool:
    """Whether a tensor of extents `sizes` has row strides (for rank 1, its length) that are
    multiples of 16 bytes for every size: what the compiler proves from multiple_of, and TMA
    needs."""
    strides = [sizes[i + 1:] for i in range(len(sizes) - 1)] or [sizes]
    return all(prod(s.multiple for s in inner) * DTYPE_BYTES[dtype] % TMA_ALIGN == 0
               for inner in strides)


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out
