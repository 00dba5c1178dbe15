"""The TMA scatter4 store as a dispatch of tirx's `copy_async` tile primitive (`DISPATCH`).

tirx's TMA dispatch (`tma_explicit`) has the gather4 load (config `gather4`: four row
coordinates) but no scatter4. This variant takes the one-row store of the box, from the first of
the tile's 4 rows to `table[0 : 1, col : +K]` with the 4 row coordinates in config `ROWS`, and
has tirx plan it as that store: tirx encodes the same tensor map as for a gather4 of the table
region (a box of 1 row x K columns, the swizzle of the tile's layout) and finds the shared
address of the tile's rows. The instruction is then the scatter4 form, whose coordinates are the
box's column and the 4 rows:

    cp.async.bulk.tensor.2d.global.shared::cta.tile::scatter4.bulk_group
        [tensor map, {col, row0, row1, row2, row3}], [4 dense rows in shared memory]

It uses tirx's planner and descriptor cache (private names of tvm 0.27's TMA dispatch, which
tlspec pins), so that both forms share tirx's checks of the descriptor and the shared layout.
"""
from __future__ import annotations

from tvm import tirx
from tvm.backend.cuda.op import _resolve_cache_policy
from tvm.backend.cuda.tile_primitive.copy_async import tma
from tvm.script.ir_builder import tirx as T
from tvm.tirx.operator.tile_primitive import fail, register_dispatch

DISPATCH = "tlspec_scatter4"
ROWS = "tlspec.scatter4"        # config: the four row coordinates
INSTRUCTION = "cp.async.bulk.tensor.2d.global.shared::cta.tile::scatter4.bulk_group"


@register_dispatch("copy_async", "cuda", variant=DISPATCH, priority=-100,
                   when=tma._COMMON_PREDICATES)
def _scatter4(op, sctx):
    rows = op.config.get(ROWS)
    if rows is None or len(rows) != 4:
        fail(f"{DISPATCH} needs config {ROWS}: four row coordinates")
    store = op.replace(config={k: v for k, v in op.config.items() if k != ROWS})
    plan, _ = tma._build_explicit_plan(store, sctx)
    spec = plan.spec
    if spec.direction != "s2g" or spec.rank != 2 or int(spec.box_dims[1]) != 1:
        fail(f"{DISPATCH} stores a box of one row of a 2-D tensor")
    tensor_map, _ = tma._get_or_encode_descriptor(spec, sctx)
    policy, hinted = _resolve_cache_policy(spec.cache_hint, spec.cache_policy)
    # the shared address as tirx's own TMA copies take it: a one-element view of the tile's
    # memory, indexed by the rows' offset
    view = tirx.decl_buffer((1,), spec.smem_buffer.dtype, data=spec.smem_buffer.data,
                            elem_offset=0, scope=spec.smem_buffer.scope())
    coordinates = [tirx.Cast("int32", c) for c in (spec.coordinates[0], *rows)]
    args = [T.address_of(tensor_map), *coordinates, view.ptr_to([spec.smem_base_offset])]
    chain = INSTRUCTION + (".L2::cache_hint" if hinted else "")
    call = T.ptx[chain](*args, *([policy] if hinted else []))
    body = tirx.SeqStmt([tirx.DeclBuffer(view, data=spec.smem_buffer.data),
                         tirx.Evaluate(call)])
    return tirx.PrimFunc([], body, ret_type=None).with_attr("global_symbol", "impl")
