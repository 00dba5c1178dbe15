"""AlignVectorLoads: a vector access whose first index only the dims' multiple_of proves a
multiple of its lanes gets an index CUDA code generation sees aligned, the dims written
`M // m * m` (so that loads and stores keep the same address arithmetic); accesses it already
sees aligned and accesses nothing proves aligned are left as they are."""
import pytest

tvm = pytest.importorskip("tvm", reason="the passes run on tvm IR")
import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx
from tvm.ir.expr import TensorLoad
from tvm.script import tirx as T

from tlspec.compiler.passes.align_vector_loads import AlignVectorLoads


@T.prim_func
def _loads(a: T.handle, b: T.handle, M: T.int32, row: T.int32, col: T.int32):
    A = T.match_buffer(a, (M * 4,), "uint8")
    B = T.match_buffer(b, (64,), "uint8")
    B[T.Ramp(0, 1, 8)] = A[T.Ramp(row * M + col * 8, 1, 8)]          # aligned by M's multiple_of
    B[T.Ramp(16, 1, 16)] = A[T.Ramp(col * 16, 1, 16)]                # seen aligned already
    B[T.Ramp(32, 1, 8)] = A[T.Ramp(row * M + col, 1, 8)]             # proven by nothing
    A[T.Ramp(row * M, 1, 16)] = B[T.Ramp(48, 1, 16)]                 # a store, aligned by M


def vector_loads(func) -> list[TensorLoad]:
    found = []
    tvm_ffi.structural_walk(func.body, (TensorLoad, lambda l: found.append(l) if isinstance(
        l.indices[-1], tirx.Ramp) else None), order="pre")
    return found


def seen_aligned(load: TensorLoad) -> bool:
    """What tvm's CUDA code generation checks before it emits a load as one vector access."""
    ramp = load.indices[-1]
    known = tvm.sym.Analyzer().modular_set(ramp.base)
    return known.coeff % int(ramp.lanes) == 0 and known.base % int(ramp.lanes) == 0


def aligned(func, multiple_of: int | None):
    if multiple_of:
        func = func.with_attr("tlspec.multiples", {func.params[2]: multiple_of})
    return AlignVectorLoads()(tvm.IRModule({"main": func}))["main"]


def test_an_access_aligned_by_a_multiple_of_writes_the_dim_as_a_multiple():
    """M is written a multiple of gcd(multiple_of, lanes): 8 for the 8-lane load, 16 for the
    16-lane store."""
    before, after = vector_loads(_loads), vector_loads(aligned(_loads, 16))
    assert not seen_aligned(before[0]) and seen_aligned(after[0])
    assert str(after[0].indices[0].base) == "row * (M // 8 * 8) + col * 8"
    store = aligned(_loads, 16).body.seq[3]
    assert str(store.indices[0].base) == "row * (M // 16 * 16)"


def test_a_multiple_of_near_2_to_the_31_writes_no_constant_past_int32():
    """multiple_of 2**30 with 8 lanes: M // 8 * 8, not a constant 2**30 that later folding
    multiplies past int32."""
    after = vector_loads(aligned(_loads, 2**30))
    assert str(after[0].indices[0].base) == "row * (M // 8 * 8) + col * 8"


def test_other_accesses_are_left_as_they_are():
    before, after = _loads.body.seq, aligned(_loads, 16).body.seq
    for i in (1, 2):                # seen aligned, proven by nothing
        assert tvm_ffi.structural_equal(before[i], after[i])


def test_without_multiple_of_nothing_changes():
    assert tvm_ffi.structural_equal(aligned(_loads, None).body, _loads.body)


def test_a_multiple_smaller_than_the_vector_proves_nothing():
    """M a multiple of 4 does not make row * M a multiple of 8."""
    assert tvm_ffi.structural_equal(aligned(_loads, 4).body, _loads.body)


GATHER = """
tlspec: 1
name: k
target: sm_90a
dims:
  M1: symbolic
  M2: {symbolic: true, multiple_of: 16}
buffers:
  T4: {scope: global, shape: [1, M2], dtype: float8_e4m3, io: in}
  B5: {scope: global, shape: [M1, M2], dtype: float8_e4m3, io: out}
  I6: {scope: global, shape: [M1], dtype: int32, io: in}
  S7: {scope: shared, shape: [2, 64], dtype: float8_e4m3, layout: swizzle_128B}
launch:
  grid: {bx: 'ceildiv(M1, 2)', by: 'ceildiv(M2, 64)'}
  threads: 64
stages:
- gather: {src: 'T4[:, by*64 : +64]', dst: S7, index: 'I6[bx*2 : +2]', coalesced_width: 8}
- copy: {src: S7, dst: 'B5[bx*2 : +2, by*64 : +64]', prefer_instruction: sync}
"""


def test_a_gather_from_a_table_of_one_row():
    """The table's row stride is folded away (`I6[i] * M2` is left): the 8-byte vector load of a
    row is not seen aligned before the pass, and is after it; the other loads are unchanged."""
    mod = run_through(tile_ir(GATHER), "VerifyMemory")          # the pass before this one
    before, after = vector_loads(mod["main"]), vector_loads(AlignVectorLoads()(mod)["main"])
    assert [seen_aligned(l) for l in before].count(False) == 1
    assert all(seen_aligned(l) for l in after)
    assert sum(not tvm_ffi.structural_equal(b, a) for b, a in zip(before, after)) == 1
