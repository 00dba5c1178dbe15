"""AlignVectorLoads: make the alignment of every vector load visible to tvm's CUDA code
generation.

Code generation emits a load of a contiguous vector (`B[Ramp(base, 1, lanes)]`) as one vector
access (`*(uint4*)(B + base)`) only when a fresh analyzer's modular set shows `base` to be a
multiple of `lanes`; otherwise it loads the lanes one by one, which is slow and, for vectors of
8 or 16 one-byte lanes or 8 two-byte lanes, does not even compile (it packs the lanes into one
32-bit word). A fresh analyzer knows nothing of the dims' `multiple_of`, so a row stride `N`
(`multiple_of: 8`), `N + 16` or `K * 2` hides the alignment. InstructionAnnotation proved every vector legal
with the dims' `multiple_of` (`..analysis.divisible`); this pass proves each vector load's base
again the same way and writes a base that code generation cannot see aligned as
`base // lanes * lanes` (the same value: the wrapper checks `multiple_of` at the call), whose
modular set shows the multiple. A base nothing proves aligned is left alone (what code
generation then does is what it did before), and so are loads already seen aligned: kernels
that never fell back are unchanged. Stores need nothing: code generation emits every contiguous
vector store whole. Runs after the pipeline's simplifications; the one among tvm's final device
passes keeps the form (it only moves the parts it proves divisible out of the quotient)."""
from __future__ import annotations

import tvm
import tvm_ffi
from tvm import tirx
from tvm.ir.expr import TensorLoad

from ..analysis import divisible


def _seen_aligned(base: tirx.PrimExpr, lanes: int) -> bool:
    """What code generation checks: the modular set of `base` by a fresh analyzer."""
    known = tvm.sym.Analyzer().modular_set(base)
    return known.coeff % lanes == 0 and known.base % lanes == 0


def _aligned_load(func: tirx.PrimFunc, load: TensorLoad) -> TensorLoad:
    ramp = load.indices[-1] if load.indices else None
    if not isinstance(ramp, tirx.Ramp) or not isinstance(ramp.stride, tirx.IntImm) \
            or ramp.stride.value != 1:
        return load
    lanes = int(ramp.lanes)
    if _seen_aligned(ramp.base, lanes) or not divisible(func, ramp.base, lanes):
        return load
    base = tirx.floordiv(ramp.base, lanes) * lanes
    return tirx.BufferLoad(load.source, [*load.indices[:-1], tirx.Ramp(base, 1, lanes)])


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.AlignVectorLoads")
class AlignVectorLoads:
    def transform_function(self, func, mod, ctx):
        body = tvm_ffi.structural_map(func.body, (TensorLoad,
                                                  lambda load: _aligned_load(func, load)),
                                      order="post")
        return func.with_body(body)
