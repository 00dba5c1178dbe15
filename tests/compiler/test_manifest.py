"""The launch manifest (tlspec/compiler/manifest.py) read from a compiled kernel's host code."""
import re

import pytest

pytest.importorskip("tvm", reason="the manifest is read from tvm's lowered host code")

from conftest import ROOT

from tlspec.compiler.driver import compile_kernel
from tlspec.validate import validate_paths

MATRIX_MAPS = ROOT / "tests" / "gpu" / "matrix" / "tma_maps.tlspec.yaml"


def test_each_descriptor_parameter_gets_its_own_tensor_map():
    """Two descriptors of one tensor (16- and 32-row boxes) have variables of the same name in
    the host code; each kernel parameter must still point at its own map (matched by name, all
    four pointed at the last map of their tensor: a 16-row box for the 32-row tile, whose
    mbarrier then waits for bytes that never come)."""
    [kernel] = [k for k in validate_paths([str(MATRIX_MAPS)]).kernels
                if k.name == "tma_two_boxes_f16"]
    artifact = compile_kernel(kernel)
    manifest = artifact.manifest
    maps = [p["map"] for p in manifest["params"] if p["kind"] == "tensormap"]
    assert sorted(maps) == [0, 1, 2, 3]
    boxes = {(m["argument"], tuple(m["box"])) for m in manifest["tensormaps"]}
    assert boxes == {("A", (64, 16)), ("A", (64, 32)), ("B", (64, 16)), ("B", (64, 32))}
    # each load's descriptor parameter has the box of the bytes its mbarrier expects
    signature = re.search(r"tma_two_boxes_f16_kernel\((.*?)\)", artifact.source).group(1)
    names = [p.split()[-1] for p in signature.split(",")]
    loads = re.findall(r"&\((\w+)\)\)\)\), .*\n.*expect_tx.*\(uint\)(\d+)\)", artifact.source)
    assert len(loads) == 2
    for name, expected in loads:
        box = manifest["tensormaps"][maps[names.index(name)]]["box"]
        assert box[0] * box[1] * 2 == int(expected), name
