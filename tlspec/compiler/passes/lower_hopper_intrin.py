"""LowerHopperIntrin: lower the TMA copies (tirx `copy_async`, dispatch `tma_explicit`, and
tlspec's `tlspec_scatter4`, registered with tirx by `..lower.scatter4`) with tirx's own
tile-primitive dispatch: host code that encodes each CUtensorMap, and
`cp.async.bulk.tensor` in the kernel. tirx's scalar `copy/fallback` must never be picked: its
warning is turned into an error at the stage, as is a copy tirx's dispatch cannot lower at all
and a TMA stage left without a bulk copy.

tirx lowers the whole module at once, and neither its fallback warning nor its dispatch error
names the stage. So when either occurs, each tile operation left for tirx is lowered again on its
own (the others replaced by no-ops), in program order, and the first one that falls back or fails
is the stage reported: its `tlspec.stage` attribute (a stage LowerTileOp lowered) or its own
`tlspec.stage` config (one it left as it was). This costs nothing when tirx succeeds.

tirx encodes one descriptor per copy (its cache of descriptors never hits in tvm 0.27: the key
holds the hash of a Python object made afresh for every copy), and each descriptor is a 128-byte
kernel parameter. Copies whose encodings are identical (the same tensor, dims, strides, box,
swizzle, ...; only their coordinates differ) share one: the duplicates' encodings are dropped
and their uses read the first, so a kernel takes one parameter per distinct tensor map."""
from __future__ import annotations

import re
import warnings

import tvm
import tvm_ffi
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from .. import ops
from ..analysis import is_tma, stage_kind
from ..errors import StageError
from ..lower.common import seq

FALLBACK = "copy/fallback"
ENCODE = "tirx.tensormap_encode_tiled"


def _tma_stages(mod) -> list:
    found = []
    for func in mod.functions.values():
        tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, lambda a: found.append(a)
                                            if is_tma(a) else None), order="pre")
    return found


def _stage_calls(mod) -> list[tuple[str, TilePrimitiveCall]]:
    """Every tile primitive call of the module, in program order, with its stage's pointer."""
    calls, stages = [], []
    for func in mod.functions.values():
        tvm_ffi.structural_walk(func.body, (TilePrimitiveCall, calls.append), order="pre")
        tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, lambda a: stages.append(a)
                                            if stage_kind(a) is not None else None), order="pre")
    owner = []                     # (call, pointer of the stage attribute around it)
    for stage in stages:
        tvm_ffi.structural_walk(stage.body, (TilePrimitiveCall, lambda c, p=str(stage.node.value):
                                             owner.append((c, p))), order="pre")
    result = []
    for call in calls:
        pointer = ops.config_of(call).get(ops.STAGE) if ops.kind_of(call) else None
        pointer = pointer or next((p for c, p in owner if c.same_as(call)), None)
        if pointer is not None:
            result.append((str(pointer), call))
    return result


def _only(mod, keep):
    """The module with every tile primitive call but `keep` replaced by a no-op."""
    def replace(call):
        return call if call.same_as(keep) else tirx.Evaluate(0)

    return tvm.IRModule({gv: func.with_body(tvm_ffi.structural_map(
        func.body, (TilePrimitiveCall, replace), order="pre"))
        for gv, func in mod.functions.items()}, attrs=mod.attrs)


def _lower(mod):
    """(lowered module or None, the exception tirx raised or None, its fallback warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            lowered, error = tirx.transform.LowerTIRx()(mod), None
        except Exception as e:  # noqa: BLE001  (tirx's dispatch failure, as tvm raises it)
            lowered, error = None, e
    return lowered, error, [w for w in caught if FALLBACK in str(w.message)]


def _dispatch_reason(error: BaseException) -> str:
    """The reason tirx's dispatch gives in its failure table, else the error's first line."""
    text = str(error)
    found = re.search(r"(?:declined|rejected)\W+(.*?)\s*\|\s*$", text, re.MULTILINE)
    if found:
        return found.group(1).strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)


def _fallback_error(pointer: str, fallback) -> StageError:
    return StageError(pointer, "tirx would lower this copy to its scalar single-thread "
                      f"fallback ({fallback.message})",
                      "set prefer_instruction: sync, or make the tile a multiple of the "
                      "thread count and 16 bytes wide")


def _dispatch_error(pointer: str, error: BaseException) -> StageError:
    return StageError(pointer, f"tirx cannot lower this copy: {_dispatch_reason(error)}",
                      "set prefer_instruction: sync to copy with a SIMT loop instead")


def _at_fault(mod) -> StageError | None:
    """The error of the first tile operation that falls back or fails when lowered alone."""
    for pointer, call in _stage_calls(mod):
        _, error, fallbacks = _lower(_only(mod, call))
        if error is not None:
            return _dispatch_error(pointer, error)
        if fallbacks:
            return _fallback_error(pointer, fallbacks[0])
    return None


def _encodings(func) -> list[tvm.ir.Call]:
    """The tensor-map encodings of the host code, in program order."""
    found = []
    tvm_ffi.structural_walk(func.body, (tvm.ir.Call, lambda c: found.append(c) if isinstance(
        c.op, tvm.ir.Op) and c.op.name == ENCODE else None), order="pre")
    return found


def _share_descriptors(func):
    """`func` with every descriptor whose encoding repeats an earlier one replaced by that one
    (its encoding, and the Bind that allocates it, removed)."""
    first: dict = {}                    # encoding (all but the descriptor) -> first descriptor
    same: dict = {}                     # repeated descriptor -> the first
    for call in _encodings(func):
        descriptor = call.args[0]
        kept = first.setdefault(tvm_ffi.StructuralKey([*call.args[1:], call.attrs]), descriptor)
        if not kept.same_as(descriptor):
            same[descriptor] = kept
    if not same:
        return func

    def repeated(stmt) -> bool:
        if isinstance(stmt, tirx.Bind):
            return stmt.var in same
        value = stmt.value if isinstance(stmt, tirx.Evaluate) else None
        return (isinstance(value, tvm.ir.Call) and isinstance(value.op, tvm.ir.Op)
                and value.op.name == ENCODE and value.args[0] in same)

    body = tvm_ffi.structural_map(func.body, (tirx.SeqStmt, lambda stmts: seq(
        [s for s in stmts.seq if not repeated(s)])), order="post")
    body = tvm_ffi.structural_map(body, (tirx.Var, lambda v: same.get(v, v)), order="post")
    return func.with_body(body)


@tvm.transform.module_pass(opt_level=0, name="tlspec.LowerHopperIntrin")
def LowerHopperIntrin(mod, ctx):  # noqa: N802 (named like a pass)
    lowered, error, fallbacks = _lower(mod)
    if error is not None or fallbacks:
        found = _at_fault(mod)
        if found is not None:
            raise found
        if error is not None:       # only the operations together fail: not one stage's fault
            raise error
        stages = _tma_stages(mod)
        raise _fallback_error(str(stages[0].node.value) if stages else "/stages", fallbacks[0])
    for stage in _tma_stages(lowered):
        if "bulk" not in str(stage.body):
            raise StageError(str(stage.node.value), "tirx did not lower this copy to a TMA bulk "
                             "copy", "set prefer_instruction: sync")
    return tvm.IRModule({gv: _share_descriptors(func) for gv, func in lowered.functions.items()},
                        attrs=lowered.attrs)
