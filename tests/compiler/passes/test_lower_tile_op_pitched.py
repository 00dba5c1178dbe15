"""LowerTileOp on a pitched tensor (declared strides) copied into a register fragment: the
fragments' layouts are read before the stages are lowered, which takes the pitched view of the
tensor too (its rows indexed by the pitch later, at the pitched view's declaration)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from pipeline_support import run_through, tile_ir
from test_lower_tile_op import stages
from test_lower_tile_op_strided import loads_of

# found by the differential generator (a pitched rows tensor staged in a fragment)
PITCHED_FRAGMENT = """
tlspec: 1
name: pitched_fragment
dims: {M: symbolic, LD: symbolic}
buffers:
  A: {scope: global, shape: [M, 8], strides: [LD, 1], dtype: float32, io: in}
  B: {scope: global, shape: [M, 8], dtype: float32, io: out}
  F: {scope: fragment, shape: [4, 8], dtype: float32}
launch:
  grid: {bx: "ceildiv(M, 4)"}
  threads: 32
stages:
  - copy: {src: "A[bx*4 : +4, :]", dst: F, coalesced_width: 1}
  - copy: {src: F, dst: "B[bx*4 : +4, :]", coalesced_width: 1}
"""


def test_a_pitched_tensor_into_a_fragment_lowers():
    """(It raised AttributeError: the fragments were read before the lowerer's state was set.)"""
    load, store = stages(run_through(tile_ir(PITCHED_FRAGMENT), "LowerTileOp")["main"])
    (index,) = loads_of(load, "A")
    assert index.startswith("bx * 4 + ")
    assert loads_of(store, "A") == []
