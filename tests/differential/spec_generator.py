"""Random valid specs over the language this release compiles (tlspec/compiler/support.py):
every stage kind, dtype, rank 1 to 5, constant and symbolic dims, partial tiles, layouts, loops,
slots and copy options. `generate(seed, index)` is the spec of that seed and index: reproducible,
and independent of the specs generated before it.

`avoid_known_bugs=True` steers around compiler bugs already reported: a `for` whose body is one
stage, swizzled tiles of fewer than 8 rows, symbolic dims bound only through a shape expression,
1-byte dtypes moved 8 per access (issue 10); and those the differential runs found: a gather into
or a scatter from a fragment, a fragment of more than 2 dimensions, a loop_layout of more thread
entries than the copy moves dimensions, swizzled tiles that are not whole swizzle atoms (8 rows
of the span), 1-byte elements moved 8 at a time by default (a width of at most 4 is set). It is
off by default: the batches include them.
"""
from __future__ import annotations

import random

import yaml

from spec_builder import Generated, SpecBuilder
from spec_indexed import gather, im2col, scatter
from spec_tiled import tiled

FAMILIES = {tiled: 12, gather: 3, scatter: 3, im2col: 3}


def generate(seed: int, index: int, *, avoid_known_bugs: bool = False) -> Generated:
    rng = random.Random(f"tlspec-differential:{seed}:{index}")
    builder = SpecBuilder(rng, f"k{seed}_{index}", avoid_known_bugs=avoid_known_bugs)
    family = builder.pick(FAMILIES)
    return family(builder)


def to_yaml(spec: dict) -> str:
    """The spec as a YAML document (flow style for the leaves: one line per buffer and stage)."""
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=1000)
