"""The operands and configs of a TMA copy as tirx's `tma_explicit` dispatch takes them, for
LowerTileOp: the global side (a view where tirx has no tensor map for the element type, or the
tensor has declared strides), the multicast mask and L2 cache hint of the copy's config, and
thread 0's wait for its bulk stores."""
from __future__ import annotations

from tvm import tirx
from tvm.script.ir_builder import tirx as T

from ..analysis import dtype_bytes, region_parts
from . import pitched
from .common import seq

# the element types tirx's TMA dispatch encodes tensor maps for (its _dtype_contract)
TIRX_TMA_DTYPES = frozenset({"int8", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                             "float16", "float32", "float64", "bfloat16", "float8_e4m3fn",
                             "float8_e5m2"})


def multicast(config: dict) -> dict:
    """The config of tirx's TMA copy for a multicast: the ranks that receive the box."""
    return {"cta_mask": int(config["cluster_mask"])} if "cluster_mask" in config else {}


def cache_hint(config: dict) -> dict:
    """The config of tirx's TMA copy for the stage's eviction_policy (tirx adds
    .L2::cache_hint)."""
    policy = config.get("eviction_policy", "evict_normal")
    return {} if policy == "evict_normal" else {"cache_hint": str(policy)}


def store_wait(pending: int, complete: bool):
    """Thread 0's wait for its TMA stores: until at most `pending` groups still read shared
    memory, or (`complete`: a stage reads what they write) until they are written, then a proxy
    fence so that the threads' ordinary loads see the async proxy's writes."""
    if not complete:
        return tirx.Evaluate(T.ptx["cp.async.bulk.wait_group.read"](pending))
    return seq([tirx.Evaluate(T.ptx["cp.async.bulk.wait_group"](pending)),
                tirx.Evaluate(T.ptx["fence.proxy.async.global"]())])


def tma_operand(region) -> tuple:
    """The global side of a TMA copy as tirx's dispatch takes it, and the declaration it needs
    (or None): a tensor of an element type tirx has no tensor map for is described as the
    unsigned integers of its size (a TMA copy moves bits; the run time picks the driver's type
    from the argument's own dtype); one with declared strides, over a layout of them
    (`..lower.pitched.tma_view`), so that the tensor map takes them as its global strides."""
    buffer, starts, extents = region_parts(region)
    if str(buffer.dtype) in TIRX_TMA_DTYPES and not pitched.declared(buffer):
        return region, None
    layout = pitched.tma_view(buffer).layout if pitched.declared(buffer) else buffer.layout
    dtype = buffer.dtype if str(buffer.dtype) in TIRX_TMA_DTYPES else \
        f"uint{dtype_bytes(buffer.dtype) * 8}"
    view = tirx.decl_buffer(buffer.shape, dtype, name=buffer.name, data=buffer.data,
                            strides=buffer.strides, elem_offset=buffer.elem_offset, layout=layout)
    return (view[tuple(slice(b, b + e) for b, e in zip(starts, extents))],
            tirx.DeclBuffer(view, data=buffer.data))
