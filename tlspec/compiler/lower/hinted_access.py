"""L2 eviction hints (`eviction_policy`) on the global side of a SIMT vector access.

A vector loop `for v in vectorized(V): D[d + v] = S[s + v]` whose global side carries a hint
becomes one `ld.global` / `st.global` `.L1::evict_*.L2::cache_hint` of V * element bytes (16, 8,
4 or 2) with a 64-bit L2 cache-policy operand. On sm_90, `.L2::evict_first` / `.L2::evict_last`
alone are only valid on 256-bit accesses (sm_100), so the policy operand is how a 128-bit access
gets an L2 priority. The policies are the constants CUTLASS and tvm's own TMA lowering use
(CacheHintSm90); ptxas folds `createpolicy.fractional.L2::evict_* 1.0` to the same bits.
A load from a global tensor that no stage of the kernel writes uses the non-coherent path
(`ld.global.nc`, what `__ldg` gives).
"""
from __future__ import annotations

import tvm
from tvm import tirx
from tvm.ir.expr import TensorLoad
from tvm.script.ir_builder import tirx as T

from ..analysis import dtype_bytes, scope_kind, uses
from .common import substitute

# eviction_policy -> (64-bit L2 cache policy, L1 eviction priority of the global ld/st)
HINTS = {
    "evict_first": (0x12F0000000000000, "L1::evict_first"),
    "evict_last": (0x14F0000000000000, "L1::evict_last"),
}
# access bytes -> (ptx {.vec}.type, registers, register dtype)
FORMS = {16: ("v4.u32", 4, "uint32"), 8: ("v2.u32", 2, "uint32"),
         4: ("u32", 1, "uint32"), 2: ("u16", 1, "uint16")}


class NotHintable(Exception):
    """A marked vector loop that has no hinted form; the message says why."""


def _at(indices, var, value):
    return [substitute(i, var, value) for i in indices]


def _contiguous(indices, var) -> bool:
    """Whether the lanes of `var` are consecutive elements (only the last index moves with the
    lane, by one element per lane)."""
    *outer, last = indices
    step = _at([last], var, tirx.IntImm("int32", 1))[0] - _at([last], var, tirx.IntImm("int32", 0))[0]
    return not any(uses(i, var) for i in outer) and tvm.sym.Analyzer().can_prove(step == 1)


def hint_vector_copy(loop: tirx.For, eviction: str, read_only: set[str]) -> tirx.Stmt:
    """`loop` (vectorized, body one store of one load, a global side) as hinted ptx ld/st.
    read_only: the global tensors no stage writes. Raises NotHintable."""
    store = loop.body
    if not isinstance(store, tirx.BufferStore) or not isinstance(store.value, TensorLoad):
        raise NotHintable("the loop is not a plain element copy")
    load = store.value
    dst, src = store.buffer, load.source
    g_src, g_dst = scope_kind(src) == "global", scope_kind(dst) == "global"
    lanes = int(loop.extent)
    nbytes = lanes * dtype_bytes(dst.dtype)
    if dst.dtype != src.dtype:
        raise NotHintable(f"it converts {src.dtype} to {dst.dtype}")
    if nbytes not in FORMS:
        raise NotHintable(f"its accesses are {nbytes} byte(s); hinted accesses move 2, 4, 8 or "
                          "16 bytes")
    lane = loop.loop_var
    for buffer, indices, is_global in ((src, load.indices, g_src), (dst, store.indices, g_dst)):
        if is_global and not _contiguous(indices, lane):
            raise NotHintable(f"its accesses of {buffer.name} are not contiguous")
    policy, l1 = HINTS[eviction]
    policy = tirx.IntImm("uint64", policy)
    tail, nregs, rdtype = FORMS[nbytes]
    zero = tirx.IntImm("int32", 0)
    out = []

    def registers(buffer, indices):
        """The ptx register operands: the local buffer at `indices`, else a fresh temporary."""
        fresh = None
        if buffer is None or buffer.scope() != "local":
            buffer = fresh = tirx.decl_buffer((lanes,), dst.dtype, name="hint_tmp", scope="local")
            out.append(tirx.AllocBuffer(buffer))
            index = zero
        else:
            index = _at(indices, lane, zero)[0]
        size = int(buffer.shape[0]) * dtype_bytes(buffer.dtype)
        words = tirx.decl_buffer((size * nregs // nbytes,), rdtype, name=buffer.name + "_w",
                                 data=buffer.data, scope="local")
        out.append(tirx.DeclBuffer(words, data=buffer.data))
        base = tirx.floordiv(index * dtype_bytes(buffer.dtype), nbytes // nregs)
        return [tirx.BufferLoad(words, [base + k]) for k in range(nregs)], fresh

    def vector_copy(to, to_indices, frm, frm_indices):
        v = tirx.Var("v", "int32")
        return tirx.For(v, zero, loop.extent, tirx.ForKind.VECTORIZED,
                        tirx.BufferStore(to, tirx.BufferLoad(frm, _at(frm_indices, lane, v)),
                                         _at(to_indices, lane, v)))

    if g_src:                                   # hinted global load into registers
        regs, tmp = registers(None if g_dst else dst, store.indices)
        nc = ".nc" if src.name in read_only else ""
        out.append(tirx.Evaluate(T.ptx[f"ld.global{nc}.{l1}.L2::cache_hint.{tail}"](
            *regs, src.ptr_to(_at(load.indices, lane, zero)), policy)))
        if tmp is not None and not g_dst:       # then a plain vector store to shared
            out.append(vector_copy(dst, store.indices, tmp, [lane]))
    else:                                       # shared or register source
        regs, tmp = registers(src, load.indices)
        if tmp is not None:
            out.append(vector_copy(tmp, [lane], src, load.indices))
    if g_dst:                                   # hinted global store from registers
        out.append(tirx.Evaluate(T.ptx[f"st.global.{l1}.L2::cache_hint.{tail}"](
            dst.ptr_to(_at(store.indices, lane, zero)), *regs, policy)))
    return tirx.SeqStmt(out)
