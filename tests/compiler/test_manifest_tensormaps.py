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


STRIDED = """
tlspec: 1
name: strided
target: sm_90a
dims: {M: 96, N: 64}
buffers:
  A:   {scope: global, shape: [8, M, N], dtype: int8, io: in}
  B:   {scope: global, shape: [2, 16, N], dtype: int8, io: out}
  A_s: {scope: shared, shape: [2, 16, 64], dtype: int8}
launch:
  grid: {bx: 1}
  threads: 128
stages:
  - copy: {src: "A[1 : +2 : 4, 0 : +16 : 3, 0 : +64]", dst: A_s}
  - copy: {src: A_s, dst: "B[:, :, :]"}
"""


def test_a_strided_load_maps_count_x_step_with_the_steps_as_element_strides():
    """A TMA load of a strided region (..lower.tma_strided): the map traverses a box of count x
    step elements along each dimension with the steps as element strides (innermost first, as
    the driver takes them; the innermost one 1); the dense store's map has strides of 1."""
    maps = {t["argument"]: t for t in manifest(STRIDED)["tensormaps"]}
    assert (maps["A"]["box"], maps["A"]["element_strides"]) == ([64, 48, 8], [1, 3, 4])
    assert (maps["B"]["box"], maps["B"]["element_strides"]) == ([64, 16, 2], [1, 1, 1])
