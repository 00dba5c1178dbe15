"""The manifest's tensor maps (tlspec/compiler/manifest.py): each names its argument's own dtype,
and every map's constant parts are checked against the driver's rules when the kernel is
compiled (a map that breaks one is a compiler bug, reported as one, never a package whose every
call fails in cuTensorMapEncodeTiled)."""
import pytest

pytest.importorskip("tvm", reason="the manifest is read from tvm's lowered host code")

from tlspec.compiler.codegen import lower
from tlspec.compiler.manifest import ManifestError, _check_tensormap, build_manifest
from tlspec.compiler.tileir import build_tile_ir
from tlspec.validate import validate_text

FLOAT8 = """
tlspec: 1
name: f8
target: sm_90a
dims: {M: 256, N: 256}
buffers:
  A:   {scope: global, shape: [M, N], dtype: float8_e4m3, io: in}
  B:   {scope: global, shape: [M, N], dtype: float8_e4m3, io: out}
  A_s: {scope: shared, shape: [16, 128], dtype: float8_e4m3}
launch:
  grid: {bx: 2, by: 16}
  threads: 128
stages:
  - copy: {src: "A[by*16 : +16, bx*128 : +128]", dst: A_s, prefer_instruction: tma}
  - copy: {src: A_s, dst: "B[by*16 : +16, bx*128 : +128]", prefer_instruction: tma}
"""


def manifest(text):
    kernel = validate_text(text).kernels[0]
    lowered = lower(build_tile_ir(kernel), "sm_90a", None)
    return build_manifest(kernel, lowered.host, lowered.device, "sm_90a")


def test_a_tensor_map_names_its_arguments_dtype():
    """tirx describes float8_e4m3 as float8_e4m3fn, a name the run time has no driver type for
    (every call of such a kernel failed with a KeyError before encoding)."""
    assert [t["dtype"] for t in manifest(FLOAT8)["tensormaps"]] == ["float8_e4m3"] * 2


MAP = {"argument": "A", "dtype": "float16", "rank": 2, "dims": [{"dim": "N"}, 4096],
       "strides": [{"op": "*", "args": [{"dim": "N"}, 2]}], "box": [64, 64],
       "element_strides": [1, 1], "interleave": "none", "swizzle": "none",
       "l2_promotion": "128B", "oob_fill": "none"}


def test_the_constant_parts_of_each_map_are_checked():
    _check_tensormap(0, MAP)                   # the parts given by N are left to the run time
    with pytest.raises(ManifestError) as caught:
        _check_tensormap(3, dict(MAP, box=[64, 300], swizzle="32B"))
    assert str(caught.value) == (
        "TMA descriptor 3 (of 'A') breaks a rule of cuTensorMapEncodeTiled: TMA boxes have 1 to "
        "256 elements per dimension; this one has 300")
