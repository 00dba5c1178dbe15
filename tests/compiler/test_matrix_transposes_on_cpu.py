"""The GPU matrix's transposes (tests/gpu/matrix/transpose.tlspec.yaml), both forms, lowered by
tlspec's passes and run whole on the CPU by tests/tir_run.py (TMA loads and stores complete at
once, the tiles laid out as the hardware's swizzle lays them): B and C are A transposed, each on
one partial tile. The GPU tests run the compiled kernels (tests/gpu/test_matrix_gpu.py);
this keeps the lowering of every commit checked where no GPU is."""
import numpy as np
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from conftest import ROOT
from pipeline_support import run_through
from tir_run import run_kernel

from tlspec.compiler.tileir import build_tile_ir
from tlspec.validate import validate_paths

MATRIX = ROOT / "tests" / "gpu" / "matrix" / "transpose.tlspec.yaml"
KERNELS = {k.name: k for k in validate_paths([str(MATRIX)]).kernels}
BITS = {"float16": np.uint16, "bfloat16": np.uint16, "float32": np.uint32, "int8": np.uint8}


@pytest.mark.parametrize("form", ["", "blocks_"])
@pytest.mark.parametrize("tag, shape", [("f16", (40, 24)), ("bf16", (24, 40)), ("f32", (8, 8)),
                                        ("i8", (48, 16)), ("batched_f16", (2, 24, 16))])
def test_a_transpose_of_the_matrix_leaves_a_transposed(tag, shape, form):
    kernel = KERNELS[f"transpose_{form}{tag}"]
    func = run_through(build_tile_ir(kernel), "ThreadSync", kernel.target.name)["main"]
    bits = BITS[kernel.buffers["A"].dtype]
    a = np.random.default_rng(5).integers(1, np.iinfo(bits).max, shape, dtype=bits)
    transposed = (*shape[:-2], shape[-1], shape[-2])
    b, c = np.full(transposed, 0x5A, bits), np.full(transposed, 0x5A, bits)
    run_kernel(func, {"A": a, "B": b, "C": c})
    assert np.array_equal(b, np.swapaxes(a, -1, -2)), "B"
    assert np.array_equal(c, np.swapaxes(a, -1, -2)), "C"
