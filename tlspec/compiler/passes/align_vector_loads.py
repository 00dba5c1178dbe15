"""AlignVectorLoads: make the alignment of every vector access visible to tvm's CUDA code
generation.

Code generation emits a load of a contiguous vector (`B[Ramp(base, 1, lanes)]`) as one vector
access (`*(uint4*)(B + base)`) only when a fresh analyzer's modular set shows `base` to be a
multiple of `lanes`; otherwise it loads the lanes one by one, which is slow and, for vectors of
8 or 16 one-byte lanes or 8 two-byte lanes, does not even compile (it packs the lanes into one
32-bit word). A fresh analyzer knows nothing of the dims' `multiple_of`, so a row stride `N`
(`multiple_of: 8`), `N + 16` or `K * 2` hides the alignment. InstructionAnnotation proved every
vector legal with the dims' `multiple_of` (`..analysis.divisible`, which writes each such dim
as a multiple); this pass proves each vector access's base again the same way and, where code
generation cannot see it aligned, writes every such dim in it as `N // m * m` (the same value:
the wrapper checks `multiple_of` at the call), whose modular set shows the multiple. Stores get
the same form although code generation emits them whole anyway: a load and a store of the same
address then share its arithmetic. Accesses already seen aligned, and ones nothing proves
aligned, are left alone. Runs after the pipeline's simplifications; the one among tvm's final
device passes keeps the form."""
from __future__ import annotations

import tvm
import tvm_ffi
from tvm import tirx
from tvm.ir.expr import TensorLoad

from ..analysis import divisible, with_multiples


def _seen_aligned(base: tirx.PrimExpr, lanes: int) -> bool:
    """What code generation checks: the modular set of `base` by a fresh analyzer."""
    known = tvm.sym.Analyzer().modular_set(base)
    return known.coeff % lanes == 0 and known.base % lanes == 0


def _aligned_base(func: tirx.PrimFunc, index) -> tirx.PrimExpr | None:
    """The base to write for a contiguous vector access at `index`, or None to keep it."""
    if not isinstance(index, tirx.Ramp) or not isinstance(index.stride, tirx.IntImm) \
            or index.stride.value != 1:
        return None
    lanes = int(index.lanes)
    if _seen_aligned(index.base, lanes) or not divisible(func, index.base, lanes):
        return None
    # each dim of a `multiple_of` written `N // g * g`: the same value (the wrapper checks the
    # multiple), and a modular set that shows it
    base = with_multiples(func, index.base, lanes, lambda var, g: tirx.floordiv(var, g) * g)
    return base if _seen_aligned(base, lanes) else None


def _aligned(func: tirx.PrimFunc, access):
    base = _aligned_base(func, access.indices[-1]) if access.indices else None
    if base is None:
        return access
    index = tirx.Ramp(base, 1, int(access.indices[-1].lanes))
    if isinstance(access, TensorLoad):
        return tirx.BufferLoad(access.source, [*access.indices[:-1], index])
    return tirx.BufferStore(access.buffer, access.value, [*access.indices[:-1], index])


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.AlignVectorLoads")
class AlignVectorLoads:
    def transform_function(self, func, mod, ctx):
        body = tvm_ffi.structural_map(
            func.body, [(TensorLoad, lambda load: _aligned(func, load)),
                        (tirx.BufferStore, lambda store: _aligned(func, store))], order="post")
        return func.with_body(body)
