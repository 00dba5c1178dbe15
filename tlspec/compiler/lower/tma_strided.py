"""The TMA load of a strided region (`A[r0 : +R : 2, c0 : +C]`) as a dispatch of tirx's
`copy_async` tile primitive (`DISPATCH`).

tirx's TMA dispatch (`tma_explicit`) encodes every element stride as 1. This variant has tirx
plan the dense copy of the region's elements into the tile (the same shared address, swizzle,
coordinates and checks), then gives the tensor map the region's steps as its element strides
(config `STRIDES`, outermost first, as the spec writes them) and a box of count x step elements
along each dimension: the driver's reference, "if elementStrides[i] is not equal to one, then
TMA loads ceil(boxDim[i] / elementStrides[i]) elements along the i-th dimension; to load N
elements, boxDim[i] must be set to N * elementStrides[i]". Element i of the tile along a
dimension is the tensor's element start + i x step there (zero where that lies past the end),
and the tile is dense: the box being a multiple of the step, no partial stride is ever asked
for. The instruction is tirx's own; the elements it writes into shared memory, and so the bytes
it completes on the mbarrier, are the count's (the tile's), which is what LowerTileOp arms the
mbarrier with.

InstructionAnnotation (`..passes.tma_blockers`) chose this only for loads whose innermost step is
1 (the driver ignores elementStrides[0] without interleave), with steps of at most 8 and boxes of
at most 256 traversed elements per dimension.
"""
from __future__ import annotations

import dataclasses

from tvm import tirx
from tvm.backend.cuda.tile_primitive.copy_async import tma
from tvm.tirx.operator.tile_primitive import fail, register_dispatch

DISPATCH = "tlspec_tma_strided"
STRIDES = "tlspec.element_strides"      # config: the global region's steps, outermost first


@register_dispatch("copy_async", "cuda", variant=DISPATCH, priority=-100,
                   when=tma._COMMON_PREDICATES)
def _strided_load(op, sctx):
    steps = op.config.get(STRIDES)
    if steps is None:
        fail(f"{DISPATCH} needs config {STRIDES}: the steps of the global region")
    dense = op.replace(config={k: v for k, v in op.config.items() if k != STRIDES})
    plan, candidates = tma._build_explicit_plan(dense, sctx)
    spec = plan.spec
    strides = [int(s) for s in reversed(list(steps))]
    if spec.direction != "g2s" or candidates or len(strides) != spec.rank:
        fail(f"{DISPATCH} loads one region of a global tensor by its {len(strides)} steps")
    box = tuple(tirx.IntImm("int32", int(b) * s) for b, s in zip(spec.box_dims, strides))
    spec = dataclasses.replace(spec, box_dims=box, element_strides=tuple(strides))
    tma._validate_explicit(spec, "strided-descriptor")
    tensor_map, _ = tma._get_or_encode_descriptor(spec, sctx)
    return tma._emit_plan(dataclasses.replace(plan, spec=spec), tensor_map, None, False, sctx)
