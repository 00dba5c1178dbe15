"""Bounds guards (tlspec/compiler/guards.py, run by LegalizeNegativeIndex and
LegalizeSafeMemoryAccess) on many stages."""
import pytest

tvm = pytest.importorskip("tvm", reason="the passes run on tvm IR")
import tvm_ffi
from pipeline_support import gathers, run_through, tile_ir
from tvm import tirx


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
