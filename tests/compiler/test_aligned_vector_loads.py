"""Vector loads whose alignment only the dims' multiple_of proves (a gather from a table of one
row, row strides such as `M2 + 16` or `K * 2`) compile, each one vector access of the width
InstructionAnnotation chose (AlignVectorLoads). tvm's code generation used to load their lanes
one by one: for 8 or 16 one-byte lanes or 8 two-byte lanes that did not compile (differential
run k2_3958, an NVRTC error), for 4-byte lanes it was slow. The kernels are those of
tests/gpu/edges/aligned.tlspec.yaml, which tests/gpu/test_edges_gpu.py runs on the GPU."""
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT

from tlspec.compiler.driver import compile_kernel
from tlspec.validate import validate_paths

SPECS = ROOT / "tests" / "gpu" / "edges" / "aligned.tlspec.yaml"
# kernel -> (the global tensor its vector loads read, the CUDA type of one vector)
LOADS = {
    "one_row_gather_e4m3": ("T4", "uint2"),
    "one_row_gather_u8": ("table", "uint4"),
    "one_row_gather_f16": ("table", "uint4"),
    "one_row_gather_f32": ("table", "uint4"),
    "one_row_scatter_i8": ("src", "uint4"),
    "offset_rows_u8": ("a", "uint4"),
    "scaled_rows_u8": ("a", "uint4"),
    "scaled_channels_im2col_u8": ("img", "uint4"),
}


@pytest.fixture(scope="module")
def kernels():
    validation = validate_paths([str(SPECS)])
    assert validation.ok, [str(d) for d in validation.diagnostics]
    return {k.name: k for k in validation.kernels}


def test_every_kernel_of_the_spec_is_checked(kernels):
    assert sorted(kernels) == sorted(LOADS)


@pytest.mark.parametrize("name", LOADS)
def test_the_loads_are_whole_vectors(kernels, name):
    source = compile_kernel(kernels[name]).source       # raises what the driver would report
    tensor, vector = LOADS[name]
    assert re.search(rf"= \*\({vector}\*\)\(\W*(\w+\*\W*)?{tensor}_ptr\b", source), source
    assert "[v_." not in source                          # no lane loaded on its own
