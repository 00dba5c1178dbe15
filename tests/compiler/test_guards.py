"""Bounds guards (tlspec/compiler/guards.py, run by LegalizeNegativeIndex and
LegalizeSafeMemoryAccess) on many stages."""
import pytest

tvm = pytest.importorskip("tvm", reason="the passes run on tvm IR")
import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx


def gathers(stages: int) -> str:
    """A kernel of `stages` gathers whose sizes are all symbolic: every access is guarded."""
    return """
tlspec: 1
name: gathers
target: sm_90a
dims:
  M: {symbolic: true}
  N: {symbolic: true}
  V: {symbolic: true}
buffers:
  table: {scope: global, shape: [V, N], dtype: float16, io: in}
  idx: {scope: global, shape: [M], dtype: int32, io: in}
  out: {scope: global, shape: [M, N], dtype: float16, io: out}
launch:
  grid: {bx: "ceildiv(M, 16)"}
  threads: 128
stages:
""" + "".join(f'  - gather: {{src: "table[:, {64 * i} : +64]", dst: "out[bx*16 : +16, '
              f'{64 * i} : +64]", index: "idx[bx*16 : +16]"}}\n' for i in range(stages))


def test_each_loop_variable_is_bound_once_per_pass(monkeypatch):
    """The guard passes bind each loop's range once, where the loop is entered: binding every
    loop seen so far again for each access (a new analyzer per access) made them quadratic in
    the number of stages (40 gathers: 7360 binds per pass instead of 85)."""
    mod = tile_ir(gathers(40))
    lowered = run_through(mod, "LowerTileOp")
    loops = []
    tvm_ffi.structural_walk(lowered["main"].body, (tirx.For, loops.append), order="pre")
    binds = []
    bind = tvm.sym.Analyzer.bind
    monkeypatch.setattr(tvm.sym.Analyzer, "bind",
                        lambda self, *args, **kwargs: binds.append(args) or bind(self, *args, **kwargs))
    guarded = run_through(mod, "LegalizeSafeMemoryAccess")
    fixed = 16                  # the block indices, symbolic dims and thread index, bound first
    assert len(binds) <= 2 * (len(loops) + fixed)
    guards = []
    tvm_ffi.structural_walk(guarded["main"].body, (tirx.IfThenElse, guards.append), order="pre")
    assert len(guards) >= 40                  # each gather guarded
