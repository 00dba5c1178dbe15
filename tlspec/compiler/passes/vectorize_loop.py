"""VectorizeLoop: turn the vectorized innermost loops into vector loads and stores (tvm's
VectorizeLoop), then check that every SIMT stage got the vector width InstructionAnnotation
chose: a stage whose stores did not become vectors of that width is a compile error at the stage,
never a silently scalar kernel."""
from __future__ import annotations

import tvm
import tvm_ffi
from tvm import tirx

from ..analysis import STAGE_ATTR
from ..errors import StageError


def _store_lanes(stmt) -> set[int]:
    lanes = set()
    tvm_ffi.structural_walk(stmt, (tirx.BufferStore, lambda s: lanes.add(
        tvm.DataType(str(s.value.ty)).lanes)), order="pre")
    return lanes


def _vector_loops(stmt) -> dict[str, int]:
    """Per stage pointer: the widest vectorized loop it has before vectorization."""
    widths = {}

    def on_attr(attr):
        if attr.attr_key != STAGE_ATTR:
            return
        loops = []
        tvm_ffi.structural_walk(attr.body, (tirx.For, lambda f: loops.append(int(f.extent.value))
                                            if f.kind == tirx.ForKind.VECTORIZED else None),
                                order="pre")
        if loops:
            widths[str(attr.node.value)] = max(loops)

    tvm_ffi.structural_walk(stmt, (tirx.AttrStmt, on_attr), order="pre")
    return widths


def _packed(b):
    t = tvm.DataType(str(b.ty))
    if t.bits != 8 or t.lanes not in (8, 16) or not isinstance(b.value, tirx.IntImm):
        return b
    byte = int(b.value.value) & 0xFF
    word = byte * 0x01010101
    word = word - (1 << 32) if word >= 1 << 31 else word
    return tirx.reinterpret(str(b.ty), tirx.Broadcast(tirx.IntImm("int32", word), t.lanes // 4))


def _pack_byte_broadcasts(mod):
    """tvm's CUDA code generation prints an 8- or 16-lane broadcast of a byte as make_int2 /
    make_int4 with 8 or 16 arguments; write it as the broadcast of the packed 32-bit word."""
    for gv, func in mod.functions.items():
        body = tvm_ffi.structural_map(func.body, (tirx.Broadcast, _packed), order="post")
        mod[gv] = func.with_body(body)
    return mod


@tvm.transform.module_pass(opt_level=0, name="tlspec.VectorizeLoop")
def VectorizeLoop(mod, ctx):  # noqa: N802 (named like a pass)
    wanted = {}
    for func in mod.functions.values():
        wanted.update(_vector_loops(func.body))
    mod = tirx.transform.VectorizeLoop(True)(mod)
    mod = _pack_byte_broadcasts(mod)
    lanes: dict[str, set[int]] = {}     # per stage pointer (a stage may have several parts)
    for func in mod.functions.values():
        def on_attr(attr):
            if attr.attr_key == STAGE_ATTR:
                lanes.setdefault(str(attr.node.value), set()).update(_store_lanes(attr.body))

        tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, on_attr), order="pre")
    for pointer, width in wanted.items():
        if width > 1 and width not in lanes.get(pointer, set()):
            raise StageError(pointer, f"the loop of this stage did not vectorize to {width} "
                             "elements per access", "set coalesced_width to a width the tile allows")
    return mod
