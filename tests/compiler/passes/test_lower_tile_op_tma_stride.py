"""LowerTileOp on a TMA load of a strided region: tirx's `copy_async` with tlspec's strided
dispatch (`..lower.tma_strided`), the steps in its config, the mbarrier armed with the bytes of
the elements loaded (the tile's, not the traversed box's); a pipelined strided load (a
`tma_copy` of each slot) keeps its steps. (The tensor maps the run time then encodes:
tests/compiler/test_manifest_tensormaps.py.)"""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm
import tvm_ffi
from copy_kernels import copy_kernel
from pipeline_support import run_through, tile_ir
from tvm.tirx.tile_primitive import TilePrimitiveCall

from tlspec.compiler.lower import tma_strided

ROWS = ['- copy: {src: "A[bx*128 : +64 : 2, 0 : +64]", dst: A_s}',
        '- copy: {src: A_s, dst: "B[bx*64 : +64, 0 : +64]"}']


def lowered(text):
    """(the TMA copies tirx will lower, the byte counts the mbarriers are armed with)."""
    body = run_through(tile_ir(text), "LowerTileOp")["main"].body
    copies, armed = [], []
    tvm_ffi.structural_walk(body, (TilePrimitiveCall, copies.append), order="pre")
    tvm_ffi.structural_walk(body, (tvm.ir.expr.Call, lambda c: armed.append(
        _number(c.args[1])) if "expect_tx" in str(c.op) else None), order="pre")
    return copies, armed


def _number(expr) -> int:
    """The constant of an IntImm, or of one cast to another type."""
    while not isinstance(expr, int):
        expr = expr.value
    return expr


def test_a_strided_load_is_the_strided_dispatch_armed_with_the_tiles_bytes():
    copies, armed = lowered(copy_kernel({"A_s": ((64, 64), "auto")}, ROWS, grid="{bx: 8}"))
    load = copies[0]
    assert load.dispatch == tma_strided.DISPATCH
    assert [int(s) for s in load.config[tma_strided.STRIDES]] == [2, 1]
    assert "mbar" in load.config
    assert armed == [64 * 64 * 2]
    assert copies[1].dispatch == "tma_explicit"         # the dense store


def test_a_pipelined_strided_load_keeps_its_steps():
    text = copy_kernel({"A_s": ((2, 32, 64), "auto")}, [
        "- pipeline:", "    var: k", "    extent: 4", "    num_stages: 2", "    stages:",
        '      - copy: {src: "A[bx*64 : +32 : 2, k*64 : +64]", dst: "A_s[k % 2, :, :]"}',
        '      - copy: {src: "A_s[k % 2, :, :]", dst: "B[bx*32 : +32, k*64 : +64]"}'],
        grid="{bx: 16}")
    copies, armed = lowered(text)
    loads = [c for c in copies if c.dispatch == tma_strided.DISPATCH]
    assert loads and all([int(s) for s in c.config[tma_strided.STRIDES]] == [2, 1]
                         for c in loads)
    assert set(armed) == {32 * 64 * 2}
