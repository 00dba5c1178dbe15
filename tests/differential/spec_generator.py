"""Random valid specs over the language this release compiles (tlspec/compiler/support.py):
every stage kind, dtype, rank 1 to 5, constant and symbolic dims, partial tiles, layouts, loops,
slots and copy options; strided regions, computed indices, pitched views. `generate(seed, index)` is the spec of that seed and index: reproducible,
and independent of the specs generated before it.

The generator has no switch around known compiler bugs: every bug the batches found is fixed
(issue 10), so every batch covers the whole language this release compiles.
"""
from __future__ import annotations

import random

from spec_builder import Generated, SpecBuilder
from spec_cluster import clustered
from spec_computed import computed_gather, computed_scatter
from spec_explicit import explicit
from spec_indexed import gather, im2col, scatter
from spec_pipelined import pipelined
from spec_pitched import pitched
from spec_strided import strided
from spec_tiled import tiled

# the asynchronous half (pipelined, explicit) about a fifth of the specs; strided regions and
# computed indices about a sixth (with pitched views, NCHW im2col and derived dims, recent forms
# are in about 30 %)
FAMILIES = {tiled: 12, gather: 3, scatter: 3, im2col: 3, pipelined: 4, explicit: 3,
            strided: 3, computed_gather: 2, computed_scatter: 1}


def generate(seed: int, index: int) -> Generated:
    rng = random.Random(f"tlspec-differential:{seed}:{index}")
    builder = SpecBuilder(rng, f"k{seed}_{index}")
    family = builder.pick(FAMILIES)
    generated = family(builder)
    if family in (tiled, pipelined):
        generated = clustered(builder, generated)
    return pitched(builder, generated)

