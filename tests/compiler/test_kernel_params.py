"""The kernel's parameter space (tlspec/compiler/kernel_params.py, checked by SplitHostDevice):
sizes and alignments, and the located error at the stage whose parameters cross the limit."""
import pytest

tvm = pytest.importorskip("tvm", reason="the check reads tvm IR")
from tvm import tirx
from conftest import ROOT
from tvm.ir import PointerType, PrimType

from tlspec.compiler import kernel_params
from tlspec.compiler.driver import compile_paths
from tlspec.compiler.errors import StageError
from tlspec.compiler.kernel_params import PARAM_SPACE, check_parameter_space, space


def tensor_map(name):
    return tirx.Var(name, PointerType(tirx.TensorMapType()))


def pointer(name):
    return tirx.Var(name, PointerType(PrimType("float16")))


def stage(index, *uses):
    return tirx.AttrStmt(tvm.ir.StringImm(f"/stages/{index}/copy"), "tlspec.stage",
                         tvm.ir.StringImm("copy:tma"), tirx.SeqStmt([tirx.Evaluate(u) for u in uses])
                         if len(uses) > 1 else tirx.Evaluate(uses[0]))


def kernel(params, stages):
    return tirx.PrimFunc(params, tirx.SeqStmt(stages) if len(stages) > 1 else stages[0])


def test_each_parameter_is_placed_at_its_alignment():
    """A pointer, an int32 dim, then a tensor map: 8 + 4 bytes, the map at 64 (its alignment),
    192 in all; an int32 then a pointer: the pointer at 8."""
    dim = tirx.Var("N", "int32")
    assert space([pointer("p"), dim, tensor_map("m")]) == 192
    assert space([dim, pointer("p")]) == 16
    assert space([tirx.Var("K", "int64"), dim]) == 12


def test_a_kernel_at_the_limit_passes_and_one_over_is_refused_where_it_crosses():
    """255 maps and a pointer fit in 32764 bytes; with a 256th map (introduced by stage 300,
    after stages that only reuse earlier maps) the kernel is refused at that stage."""
    maps = [tensor_map(f"m{i}") for i in range(256)]
    ptr = pointer("p")
    within = [stage(i, maps[i], ptr) for i in range(255)]
    assert space([ptr, *maps[:255]]) <= PARAM_SPACE
    check_parameter_space(kernel([ptr, *maps[:255]], within))
    over = within + [stage(255 + i, maps[i]) for i in range(45)] + [stage(300, maps[255])]
    with pytest.raises(StageError) as info:
        check_parameter_space(kernel([ptr, *maps], over))
    assert info.value.pointer == "/stages/300/copy"
    assert "256 distinct TMA descriptors" in info.value.message
    assert f"past the {PARAM_SPACE} bytes" in info.value.message


MATRIX_MAPS = ROOT / "tests" / "gpu" / "matrix" / "tma_maps.tlspec.yaml"


def test_the_compile_error_is_located_at_the_stage_and_leaves_no_package(tmp_path, monkeypatch):
    """The whole compile of the matrix's tensor-map kernels, with the limit lowered to 400 bytes
    (a kernel past the real limit takes 256 TMA copies, seconds to lower): tma_two_boxes_f16
    takes four maps and two int32 dims, 520 bytes, and its fourth map's stage is the error, at its
    line; no package is written (NVRTC, which would refuse the kernel naming no stage, is never
    reached)."""
    monkeypatch.setattr(kernel_params, "PARAM_SPACE", 400)
    result = compile_paths([str(MATRIX_MAPS)], str(tmp_path / "out"))
    [error] = result.diagnostics.errors
    assert error.pointer == "/stages/3/copy"
    lines = MATRIX_MAPS.read_text().splitlines()
    assert 'dst: "B[by*48 + 16 : +32' in lines[error.location.line - 1]
    assert "past the 400 bytes a CUDA kernel may take: they would take 520 bytes" in error.message
    assert not (tmp_path / "out").exists()
