"""The guards store a stage's fill (tlspec.fills, from LowerTileOp) where its loads of the filled
tensor lie outside it: the fill's bits, as a constant of the bit type the loads move (a float16
reinterpretation of them for 2-byte elements), never the value converted as a number."""
import pytest

tvm = pytest.importorskip("tvm", reason="the passes run on tvm IR")
import sys
from pathlib import Path

import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx

sys.path.insert(0, str(Path(__file__).parent / "passes"))
from copy_kernels import one_d_copy  # noqa: E402


def fallbacks(text, last="LegalizeSafeMemoryAccess"):
    """(condition, value stored when it fails) of every guarded load of the first stage."""
    found = []

    def visit(node):
        if isinstance(node, tirx.IfThenElse) and isinstance(node.else_case, tirx.BufferStore):
            found.append((str(node.condition), node.else_case.value))

    mod = run_through(tile_ir(text), last)
    tvm_ffi.structural_walk(mod["main"].body, (tirx.IfThenElse, visit), order="pre")
    return found


def bits_of(value):
    if not isinstance(value, tirx.IntImm):          # reinterpret("float16", uint16 bits)
        assert value.op.name == "tirx.reinterpret", value
        value = value.args[0]
    return int(value.value)


def test_a_partial_tile_reads_the_fill_bits_past_the_end():
    [(cond, value)] = fallbacks(one_d_copy(1000, fill="-inf", load=None))
    assert "997" in cond                               # the vector's last lane inside
    assert str(value.ty) == "uint32" and bits_of(value) == 0xFF800000


def test_a_halo_reads_the_fill_before_the_start_as_float16_bits():
    [(cond, value)] = fallbacks(one_d_copy(1024, dtype="float16", region="bx*256 - 1 : +256",
                                           fill="-inf", load=None), "LegalizeNegativeIndex")
    assert cond.startswith("1 <=")
    assert str(value.ty) == "float16" and bits_of(value) == 0xFC00


def test_without_a_fill_the_guards_read_zero():
    [(_, value)] = fallbacks(one_d_copy(1000, load="sync"))
    assert bits_of(value) == 0


GATHER = """
tlspec: 1
name: gather_fill
target: sm_90a
dims: {V: 1000, D: 64, T: 100}
buffers:
  table: {scope: global, shape: [V, D], dtype: int8, io: in}
  index: {scope: global, shape: [T], dtype: int32, io: in}
  out:   {scope: global, shape: [T, D], dtype: int8, io: out}
  rows:  {scope: shared, shape: [32, 64], dtype: int8}
launch:
  grid: {bx: "ceildiv(T, 32)"}
  threads: 64
stages:
  - gather: {src: "table[:, :]", index: "index[bx*32 : +32]", dst: rows, fill: -99}
  - copy: {src: rows, dst: "out[bx*32 : +32, :]"}
"""


def test_a_gather_fills_an_index_outside_the_table():
    """Below 0 (LegalizeNegativeIndex) and past the last row (LegalizeSafeMemoryAccess): -99
    as int8 bits; the index loads in the guards' conditions stay loads."""
    values = [v for _, v in fallbacks(GATHER)]
    assert len(values) == 2
    assert {(str(v.ty), bits_of(v)) for v in values} == {("uint8", 0x9D)}
