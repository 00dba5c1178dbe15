"""The launch manifest (tlspec/compiler/manifest.py) read from a compiled kernel's host code."""
import re

import pytest

pytest.importorskip("tvm", reason="the manifest is read from tvm's lowered host code")

from tlspec.compiler.driver import compile_kernel
from tlspec.validate import validate_text

TWO_BOXES = """
tlspec: 1
name: two_boxes
target: sm_90a
dims:
  M: 4096
  N: 128
buffers:
  A: {scope: global, shape: [M, N], dtype: float16, io: in}
  B: {scope: global, shape: [M, N], dtype: float16, io: out}
  S16: {scope: shared.dyn, shape: [16, 64], dtype: float16}
  S32: {scope: shared.dyn, shape: [32, 64], dtype: float16}
launch:
  grid: {bx: M // 32}
  threads: 128
stages:
  - copy: {src: "A[bx*32 : +16, 0 : +64]", dst: S16, prefer_instruction: tma}
  - copy: {src: "A[bx*32 : +32, 64 : +64]", dst: S32, prefer_instruction: tma}
  - copy: {src: S16, dst: "B[bx*32 : +16, 0 : +64]", prefer_instruction: tma}
  - copy: {src: S32, dst: "B[bx*32 : +32, 64 : +64]", prefer_instruction: tma}
"""


def test_each_descriptor_parameter_gets_its_own_tensor_map():
    """Two descriptors of one tensor (16- and 32-row boxes) have variables of the same name in
    the host code; each kernel parameter must still point at its own map (matched by name, all
    four pointed at the last map of their tensor: a 16-row box for the 32-row tile, whose
    mbarrier then waits for bytes that never come)."""
    artifact = compile_kernel(validate_text(TWO_BOXES).kernels[0])
    manifest = artifact.manifest
    maps = [p["map"] for p in manifest["params"] if p["kind"] == "tensormap"]
    assert sorted(maps) == [0, 1, 2, 3]
    boxes = {(m["argument"], tuple(m["box"])) for m in manifest["tensormaps"]}
    assert boxes == {("A", (64, 16)), ("A", (64, 32)), ("B", (64, 16)), ("B", (64, 32))}
    # each load's descriptor parameter has the box of the bytes its mbarrier expects
    signature = re.search(r"two_boxes_kernel\((.*?)\)", artifact.source).group(1)
    names = [p.split()[-1] for p in signature.split(",")]
    loads = re.findall(r"&\((\w+)\)\)\)\), .*\n.*expect_tx.*\(uint\)(\d+)\)", artifact.source)
    assert len(loads) == 2
    for name, expected in loads:
        box = manifest["tensormaps"][maps[names.index(name)]]["box"]
        assert box[0] * box[1] * 2 == int(expected), name
