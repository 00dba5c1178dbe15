"""Global tensors are indexed by their shape alone: an access is one affine offset, with no
division or remainder by a dim. The tile IR used to give them a tirx layout whose strides read
`N // m * m` (a dim with `multiple_of: m`); tirx flattened an access by the shape and split it
again by that layout, and the `// N` and `% N` of the split stayed around the vector lane where
nothing proved the row in range (a 3-D tensor copied row by row by two loops, differential run
k3_1257): an 8-lane vector division CUDA code generation could not print (NVRTC: too many
arguments in function call). The kernel is tests/gpu/edges/row_blocks.tlspec.yaml, which
tests/gpu/test_edges_gpu.py runs on the GPU."""
import pytest

tvm = pytest.importorskip("tvm", reason="the tile IR is tvm IR")
import tvm_ffi
from conftest import ROOT
from pipeline_support import run_through, tile_ir
from tvm import tirx

from tlspec.compiler.driver import compile_kernel
from tlspec.validate import validate_paths

SPEC = ROOT / "tests" / "gpu" / "edges" / "row_blocks.tlspec.yaml"


def stores_to(func, name: str) -> list:
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.BufferStore, lambda s: found.append(s)
                                        if s.buffer.name.startswith(name) else None), order="pre")
    return found


def divisions(expr) -> list:
    found = []
    for kind in (tirx.FloorDiv, tirx.FloorMod, tirx.Div, tirx.Mod):
        tvm_ffi.structural_walk(expr, (kind, found.append), order="pre")
    return found


def test_global_buffers_are_plain_row_major():
    func = tile_ir(SPEC.read_text())["main"]
    tensors = {p.name: p for p in func.params[1:]}
    assert sorted(tensors) == ["A", "B"]
    for tensor in tensors.values():            # tirx's default layout: strides of the shape
        assert str(tensor.layout) == "T.TileLayout(T.S[(M1 * 4 + 1, 5, M2):(M2 * 5, M2, 1)])"


def test_an_access_is_one_offset_without_division_by_a_dim():
    func = run_through(tile_ir(SPEC.read_text()), "LowerTIRxOpaque")["main"]
    stores = stores_to(func, "B")
    assert stores
    for store in stores:
        assert len(store.indices) == 1
        assert not divisions(store.indices[0]), store
        assert not divisions(store.value), store


def test_the_row_blocks_compile_into_whole_vector_copies():
    (kernel,) = validate_paths([str(SPEC)]).kernels
    source = compile_kernel(kernel).source           # raises what the driver would report
    assert "*(uint4*)(((half*)B_ptr)" in source and "= *(uint4*)(((half*)A_ptr)" in source
    assert "make_longlong4" not in source and "[v_." not in source
