"""Lowering of the cluster stages: the block's rank in its cluster, the block-to-block copies of
`copy_cluster` (`dst_block`) and the cluster barrier.

A block-to-block copy writes the destination block's copy of `dst` (distributed shared memory):
The instructions are the helpers of codegen/cuda/cluster.cuh (`mapa`, the bulk copy, the remote
`mbarrier.complete_tx`), which code generation prepends to the source.

- by one `cp.async.bulk.shared::cluster.shared::cta.mbarrier::complete_tx::bytes` issued by
  thread 0, from this block's `src` to `dst` mapped into the destination block (`mapa`),
  completing its bytes on the destination's `remote_barrier` (InstructionAnnotation chose
  `bulk`: one contiguous, 16-byte aligned run of bytes of row-major tiles);
- or by the SIMT copy loop of `copy`, its stores through a generic pointer to the destination's
  tile (`mapa.u64`): any region, any vector width, then `fence.proxy.async.shared::cluster` by
  every thread (a TMA store of the tile reads it through the async proxy). With a
  `remote_barrier`, the cluster then
  meets at a cluster barrier (which orders the stores before the destination's reads) and
  thread 0 completes the copy's bytes on the destination's barrier (`mbarrier.complete_tx`),
  which is what the destination's `barrier_arrive` announced.
"""
from __future__ import annotations

import dataclasses

import tvm
from tvm import tirx
from tvm.script.ir_builder import tirx as T

from ..analysis import attr
from .common import Operand, seq


def cluster_rank(func) -> tirx.PrimExpr:
    """The block's rank in its cluster: its position in the cluster, x fastest (%cluster_ctarank
    for a grid made of whole clusters)."""
    rank, scale = tirx.IntImm("int32", 0), 1
    for var, extent in zip(attr(func, "tlspec.block_vars"), attr(func, "tlspec.cluster")):
        if int(extent) > 1:
            rank = rank + tirx.floormod(var, int(extent)) * scale
            scale *= int(extent)
    return rank


def sync_cluster() -> tirx.Stmt:
    """Every thread of every block of the cluster meets; writes before are visible after."""
    return seq([tirx.Evaluate(T.ptx["barrier.cluster.arrive.release.aligned"]()),
                tirx.Evaluate(T.ptx["barrier.cluster.wait.acquire.aligned"]())])


def _shared_address(pointer) -> tirx.PrimExpr:
    return T.cuda.cvta_generic_to_shared(pointer)


def _mapped(address, rank) -> tirx.PrimExpr:
    """A shared address of this block at the same place in the block of rank `rank`."""
    return tirx.call_extern("uint32", "tlspec_cluster_map_shared", address,
                            tirx.Cast("uint32", rank))


def bulk_copy(dst: Operand, src: Operand, nbytes: int, rank, mbar, leader) -> tirx.Stmt:
    """Thread `leader`'s one bulk copy of `nbytes` from `src` into the destination block's
    `dst`, completing on the destination's mbarrier `mbar` (this block's pointer to it)."""
    start = {d: 0 for d in range(len(dst.starts))}
    to = _mapped(_shared_address(T.address_of(tirx.BufferLoad(dst.access, dst.indices(start)))),
                 rank)
    source = _shared_address(T.address_of(tirx.BufferLoad(src.access, src.indices(start))))
    copy = tirx.call_extern("void", "tlspec_cluster_bulk_copy", to, source, T.uint32(nbytes),
                            cluster_mbarrier(mbar, rank))
    return tirx.IfThenElse(leader, tirx.Evaluate(copy), None)


def remote_operand(dst: Operand, rank) -> tuple[Operand, tirx.Var, tirx.PrimExpr]:
    """`dst` addressed in the destination block: (the operand, its pointer variable, the
    pointer's value) for a LetStmt around the copy loop."""
    dtype = str(dst.access.dtype)
    typed = tvm.ir.PointerType(tvm.ir.PrimType(dtype))     # a generic pointer: vectors need it
    pointer = tirx.Var(f"{dst.name}_remote", typed)
    base = T.address_of(tirx.BufferLoad(dst.access, [0]))
    value = tirx.call_intrin(typed, "tirx.reinterpret", tirx.call_extern(
        "handle", "tlspec_cluster_map", base, tirx.Cast("uint32", rank)))
    view = tirx.decl_buffer(dst.access.shape, dtype, name=f"{dst.name}_remote", data=pointer)
    return dataclasses.replace(dst, access=view), pointer, value


def fence_remote_stores() -> tirx.Stmt:
    """After a thread's SIMT stores into another block's shared memory: what they wrote is
    visible to the async proxy (a TMA store or bulk copy of the destination tile, in its block,
    after the cluster barrier that follows) only once the writing thread has executed this
    fence, as InjectFenceProxy's fence does for stores into the block's own tiles."""
    return tirx.Evaluate(T.ptx["fence.proxy.async.shared::cluster"]())


def cluster_mbarrier(mbar, rank) -> tirx.PrimExpr:
    """This block's pointer to an mbarrier -> that mbarrier's shared::cluster address in the
    block of rank `rank`."""
    return _mapped(_shared_address(mbar), rank)


def signal_remote(nbytes: int, rank, mbar, leader) -> tirx.Stmt:
    """After a SIMT block-to-block copy: a cluster barrier (every block runs the copy, so every
    block meets there: the stores are visible to their destinations after it, an order
    compute-sanitizer can check), then thread `leader` completes the copy's bytes on the
    destination's mbarrier, the phase the destination's barrier_arrive announced."""
    done = tirx.call_extern("void", "tlspec_cluster_complete_tx", cluster_mbarrier(mbar, rank),
                            T.uint32(nbytes))
    return seq([sync_cluster(), tirx.IfThenElse(leader, tirx.Evaluate(done), None)])
