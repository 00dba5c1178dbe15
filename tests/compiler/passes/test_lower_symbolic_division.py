"""LowerSymbolicDivision on small kernels and expressions.

Floor division and modulo by a non-constant divisor become C division: plain where the signs are
provably non-negative (im2col's pixel index over symbolic image sizes), exact with a floor
correction elsewhere; constant divisors stay floor divisions. tvm's FlattenBuffer, which failed
an internal check of its iter-map analysis on the symbolic im2col kernels of the differential run
(k2_2258, k2_4451), then runs on them."""
import itertools

import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm
import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx

from tlspec.compiler.passes.lower_symbolic_division import _lowered

# the differential run's k2_2258, as generated
K2_2258 = """
tlspec: 1
name: k2_2258
target: sm_90a
dims:
  M1: {symbolic: true}
  M2: {symbolic: true}
buffers:
  X3: {scope: global, shape: [M1, M2, 6, 3], dtype: float16, io: in}
  C4: {scope: global, shape: [M1 * ((M2 + 2) // 2 + 1) * 5, 12], dtype: float16, io: out}
launch:
  grid: {bx: 'ceildiv(M1 * ((M2 + 2) // 2 + 1) * 5, 64)'}
  threads: 128
stages:
- for:
    var: c
    extent: ceildiv(12, 2)
    stages:
    - im2col: {img: X3, col: 'C4[bx*64 : +64, c*2 : +2]', nhw_step: bx, c_step: c, kernel: 2, stride: 2, pad: 2}
"""

# the differential run's k2_4451, as generated
K2_4451 = """
tlspec: 1
name: k2_4451
doc: im2col, kernel 2, stride 1, dilation 2, pad 2.
target: sm_90a
dims:
  M1: {symbolic: true}
  M2: {symbolic: true}
  D3: 1
  D4: 9
buffers:
  X5: {scope: global, shape: [M1, M2, D3, D4], dtype: float32, io: in}
  C6: {scope: global, shape: [M1 * ((M2 + 1) // 1 + 1) * 3, 36], dtype: float32, io: out}
  S7: {scope: shared, shape: [4, 2], dtype: float32}
launch:
  grid: {bx: 'ceildiv(M1 * ((M2 + 1) // 1 + 1) * 3, 4)', by: 'ceildiv(36, 2)'}
  threads: 64
stages:
- im2col: {img: X5, col: S7, nhw_step: bx, c_step: by, kernel: 2, stride: 1, dilation: 2, pad: 2, eviction_policy: evict_last}
- copy: {src: S7, dst: 'C6[bx*4 : +4, by*2 : +2]', prefer_instruction: sync, coalesced_width: 2}
"""


def found(node, kinds) -> list:
    nodes = []
    tvm_ffi.structural_walk(node, (kinds, nodes.append), order="pre")
    return nodes


def body(spec: str, last: str):
    return list(run_through(tile_ir(spec), last).functions.values())[0].body


@pytest.mark.parametrize("spec", [K2_2258, K2_4451], ids=["k2_2258", "k2_4451"])
def test_symbolic_im2col_divisions_become_plain_c_division(spec):
    before = body(spec, "LowerTIRxOpaque")
    after = body(spec, "LowerSymbolicDivision")
    symbolic = [op for op in found(before, (tirx.FloorDiv, tirx.FloorMod))
                if not isinstance(op.b, tirx.IntImm)]
    assert symbolic                                         # R // (OH*OW), R // OW % OH
    assert all(isinstance(op.b, tirx.IntImm) for op in found(after, (tirx.FloorDiv, tirx.FloorMod)))
    assert found(after, (tirx.Div, tirx.Mod))
    assert not found(after, tirx.Select)                    # pixel and sizes are >= 0: no correction


@pytest.mark.parametrize("spec", [K2_2258, K2_4451], ids=["k2_2258", "k2_4451"])
def test_flatten_buffer_runs_on_symbolic_im2col(spec):
    assert found(body(spec, "FlattenBuffer"), tirx.BufferStore)


def evaluate(expr, values: dict) -> int:
    expr = tvm_ffi.structural_map(expr, (tirx.Var, lambda v: next(
        (tirx.IntImm("int32", x) for var, x in values.items() if var.same_as(v)), v)), order="post")
    result = tvm.sym.Analyzer().simplify(expr)
    assert isinstance(result, tirx.IntImm), result
    return int(result.value)


def test_unknown_signs_keep_floor_semantics():
    a, b = tirx.Var("a", "int32"), tirx.Var("b", "int32")
    lower = _lowered(tvm.sym.Analyzer())
    quotient, remainder = lower(tirx.floordiv(a, b)), lower(tirx.floormod(a, b))
    assert not found(quotient, tirx.FloorDiv) and not found(remainder, tirx.FloorMod)
    for x, y in itertools.product([-7, -6, -1, 0, 1, 6, 7], [-3, -2, -1, 1, 2, 3]):
        assert evaluate(quotient, {a: x, b: y}) == x // y, (x, y)
        assert evaluate(remainder, {a: x, b: y}) == x % y, (x, y)


def test_known_signs_give_plain_c_division():
    a, b = tirx.Var("a", "int32"), tirx.Var("b", "int32")
    analyzer = tvm.sym.Analyzer()
    analyzer.bind(a, tvm.ir.Range(0, 1000))
    analyzer.bind(b, tvm.ir.Range(1, 50))
    lower = _lowered(analyzer)
    assert isinstance(lower(tirx.floordiv(a, b)), tirx.Div)
    assert isinstance(lower(tirx.floormod(a, b)), tirx.Mod)


def test_constant_divisors_stay_floor_divisions():
    a = tirx.Var("a", "int32")
    lower = _lowered(tvm.sym.Analyzer())
    assert isinstance(lower(tirx.floordiv(a, 5)), tirx.FloorDiv)
    assert isinstance(lower(tirx.floormod(a, 5)), tirx.FloorMod)
