"""LowerHopperIntrin: lower the TMA copies (tirx `copy_async`, dispatch `tma_explicit`) with
tirx's own tile-primitive dispatch: host code that encodes each CUtensorMap, and
`cp.async.bulk.tensor` in the kernel. tirx's scalar `copy/fallback` must never be picked: its
warning is turned into an error at the stage, as is a TMA stage left without a bulk copy."""
from __future__ import annotations

import warnings

import tvm
import tvm_ffi
from tvm import tirx

from ..analysis import stage_kind
from ..errors import StageError

FALLBACK = "copy/fallback"


def _tma_stages(mod) -> list:
    found = []
    for func in mod.functions.values():
        tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, lambda a: found.append(a)
                                            if stage_kind(a) == "copy:tma" else None), order="pre")
    return found


@tvm.transform.module_pass(opt_level=0, name="tlspec.LowerHopperIntrin")
def LowerHopperIntrin(mod, ctx):  # noqa: N802 (named like a pass)
    stages = _tma_stages(mod)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lowered = tirx.transform.LowerTIRx()(mod)
    fallbacks = [w for w in caught if FALLBACK in str(w.message)]
    if fallbacks:
        pointer = str(stages[0].node.value) if stages else "/stages"
        raise StageError(pointer, "tirx would lower this copy to its scalar single-thread "
                         f"fallback ({fallbacks[0].message})",
                         "set prefer_instruction: sync, or make the tile a multiple of the "
                         "thread count and 16 bytes wide")
    for stage in _tma_stages(lowered):
        if "bulk" not in str(stage.body):
            raise StageError(str(stage.node.value), "tirx did not lower this copy to a TMA bulk "
                             "copy", "set prefer_instruction: sync")
    return lowered
