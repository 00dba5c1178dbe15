"""compile_cuda: NVRTC and nvcc produce cubins; failures raise CudaCompileError. No GPU needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tlspec.compiler.cuda_compile import CudaCompileError, compile_cuda

COPY = """
extern "C" __global__ void tiny_copy(const float* a, float* b) {
  b[threadIdx.x] = a[threadIdx.x];
}
"""
TMA = 'extern "C" __global__ void tma_arg(const __grid_constant__ CUtensorMap m) {}\n'


def assert_cubin(cubin: bytes, symbol: bytes) -> None:
    assert cubin[:4] == b"\x7fELF"
    assert symbol in cubin


def test_nvrtc_compiles_a_cubin() -> None:
    assert_cubin(compile_cuda(COPY, name="tiny_copy"), b"tiny_copy")


def test_nvrtc_compiles_a_tma_kernel() -> None:
    assert_cubin(compile_cuda(TMA, name="tma_arg"), b"tma_arg")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_nvcc_compiles_a_cubin() -> None:
    assert_cubin(compile_cuda(COPY, name="tiny_copy", nvcc="nvcc"), b"tiny_copy")


NVCC = pytest.param(
    "nvcc", marks=pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
)


@pytest.mark.parametrize("nvcc", [None, NVCC])
def test_syntax_error_names_the_kernel_and_the_error_line(nvcc: str | None) -> None:
    with pytest.raises(CudaCompileError) as info:
        compile_cuda(COPY.replace("];\n", "]\n"), name="broken_copy", nvcc=nvcc)
    message = info.value.message
    assert "'broken_copy'" in message
    assert 'broken_copy.cu(4): error: expected a ";"' in message
    assert "\n" not in message
    assert message.split(": ", 1)[1] in info.value.log


BIG_PARAMETER = """struct Big { char b[40000]; };
extern "C" __global__ void big_param(Big p, char* out) { int unused = 1; out[0] = p.b[0]; }
"""


def test_an_error_after_warnings_is_the_one_reported() -> None:
    """NVRTC writes some errors as 'Error:' (here the parameter space overflow, after a
    warning): the message names the error, not the first warning."""
    with pytest.raises(CudaCompileError) as info:
        compile_cuda(BIG_PARAMETER, name="big_param")
    assert "warning" in info.value.log
    assert "Error: Formal parameter space overflowed" in info.value.message
    assert "warning" not in info.value.message


def test_missing_nvcc_suggests_nvrtc(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-nvcc")
    with pytest.raises(CudaCompileError, match="nvcc not found: there is no executable") as info:
        compile_cuda(COPY, name="tiny_copy", nvcc=missing)
    assert missing in info.value.message
    assert "drop --nvcc to compile with NVRTC" in info.value.hint


def test_missing_nvrtc_wheel_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from cuda import pathfinder

    def not_found(libname: str) -> None:
        raise pathfinder.DynamicLibNotFoundError(f"lib{libname} not found")

    monkeypatch.setattr(pathfinder, "load_nvidia_dynamic_lib", not_found)
    with pytest.raises(CudaCompileError, match="pip install nvidia-cuda-nvrtc"):
        compile_cuda(COPY, name="tiny_copy")
