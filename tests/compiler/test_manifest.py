"""The launch manifest (tlspec/compiler/manifest.py) read from a compiled kernel's host code."""
import re
import shutil

import pytest

pytest.importorskip("tvm", reason="the manifest is read from tvm's lowered host code")

from conftest import ROOT, compile_and_import, forget
from test_wrappers import Fake

from tlspec.compiler.driver import compile_kernel
from tlspec.validate import validate_paths, validate_text

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


WIDE = """
tlspec: 1
name: wide
target: sm_90a
dims:
  N: symbolic
buffers:
  A: {scope: global, shape: [N], dtype: float16, io: in}
  B: {scope: global, shape: [N], dtype: float16, io: out}
launch:
  grid: {bx: "4 * N"}
  threads: 32
stages:
  - copy: {src: "A[bx // 4 : +1]", dst: "B[bx // 4 : +1]"}
"""


@pytest.fixture(scope="module")
def grids(tmp_path_factory):
    """The matrix's tensor-map kernels (tma_shared_maps_f16: grid y ceildiv(M, 16)) and WIDE."""
    folder = tmp_path_factory.mktemp("grids")
    (folder / "wide.tlspec.yaml").write_text(WIDE)
    shutil.copy(MATRIX_MAPS, folder)
    out = folder / "grid_kernels"
    yield compile_and_import(out, folder)
    forget(out.name)


@pytest.mark.parametrize("name, at_limit, past_limit, message", [
    ("tma_shared_maps_f16", (16 * 65535, 8), (16 * 65535 + 1, 8),
     r"tma_shared_maps_f16\(\): grid index 'by' \(blockIdx.y\) would have more than the 65535 "
     r"blocks CUDA allows on that axis \(ceildiv\(M, 16\) = 65536, expected <= 65535\)"),
    ("wide", ((2**31 - 1) // 4,), ((2**31 - 1) // 4 + 1,),
     r"wide\(\): grid index 'bx' \(blockIdx.x\) would have more than the 2147483647 blocks CUDA "
     r"allows on that axis \(\(N \* 4\) = 2147483648, expected <= 2147483647\)"),
])
def test_a_symbolic_grid_extent_past_its_axis_limit_is_refused_before_launch(
        grids, name, at_limit, past_limit, message):
    """A grid extent of symbolic dims is checked at the call (docs/spec.md said so; nothing did,
    and the launch failed in the driver): at the limit the arguments pass the checks, one row
    more is a ValueError naming the kernel, the grid index and the dims."""
    fn = getattr(grids, name)
    runtime, kernel = fn.__globals__["_runtime"], fn.__globals__["_KERNEL"]
    runtime.check_arguments(kernel, [Fake(at_limit), Fake(at_limit)])
    with pytest.raises(ValueError, match=message):
        fn(Fake(past_limit), Fake(past_limit))


SMALL_IMAGE = """
tlspec: 1
name: small_image
target: sm_90a
dims:
  H: symbolic
  W: symbolic
buffers:
  img: {scope: global, shape: [1, H, W, 8], dtype: float16, io: in}
  col: {scope: global, shape: ["(H - 2) * (W - 2)", 72], dtype: float16, io: out}
launch:
  grid: {bx: "ceildiv((H - 2) * (W - 2), 16)"}
  threads: 128
stages:
  - im2col: {img: img, col: "col[bx*16 : +16, :]", nhw_step: bx, c_step: 0, kernel: 3}
"""


def test_an_image_smaller_than_the_kernel_at_a_call_is_refused_before_launch(tmp_path):
    """With symbolic H and W, a 2 x 2 image makes OH = OW = 0 and the kernel would divide by
    OW: the wrapper checks the output extents (validation checks constant ones)."""
    (tmp_path / "small.tlspec.yaml").write_text(SMALL_IMAGE)
    out = tmp_path / "small_kernels"
    module = compile_and_import(out, tmp_path)
    try:
        fn = module.small_image
        runtime, kernel = fn.__globals__["_runtime"], fn.__globals__["_KERNEL"]
        runtime.check_arguments(kernel, [Fake((1, 3, 3, 8)), Fake((1, 72))])
        with pytest.raises(ValueError, match=r"small_image\(\): im2col over img: its output "
                                             r"height must be at least 1"):
            fn(Fake((1, 2, 3, 8)), Fake((0, 72)))
    finally:
        forget(out.name)


ALIAS_NAMES = """
tlspec: 1
name: alias_names
target: sm_90a
dims: {Axis: {symbolic: true, multiple_of: 64}, N: 256}
buffers:
  T: {scope: global, shape: [Axis, N], dtype: float16, io: in}
  I: {scope: global, shape: [Axis, N], dtype: float16, io: out}
  S: {scope: shared, shape: [64, 64], dtype: float16}
launch:
  grid: {bx: N // 64, by: Axis // 64}
  threads: 128
stages:
  - copy: {src: "T[by*64 : +64, bx*64 : +64]", dst: S}
  - copy: {src: S, dst: "I[by*64 : +64, bx*64 : +64]", disable_tma: true}
"""


def test_tensors_named_like_tvmscript_aliases_are_the_kernels_arguments():
    """tvm prints a buffer named T or I (TVMScript's aliases of its tirx and ir modules) as T_1
    and I_1; the parameters and the TMA descriptors' tensors are read from the variables, not
    from the printing (the kernel failed to compile: "kernel parameter 'T_1.data' is not an
    argument")."""
    (kernel,) = validate_text(ALIAS_NAMES).kernels
    manifest = compile_kernel(kernel).manifest
    assert [p["argument"] for p in manifest["params"] if p["kind"] == "pointer"] == ["I"]
    assert [m["argument"] for m in manifest["tensormaps"]] == ["T"]
    assert {"kind": "dim", "dim": "Axis", "ctype": "int32"} in manifest["params"]


DIVIDED_GRID = """
tlspec: 1
name: divided_grid
target: sm_90a
dims:
  M: {symbolic: true, min: 1}
buffers:
  A: {scope: global, shape: [M, 128], dtype: float16, io: in}
  B: {scope: global, shape: [M, 128], dtype: float16, io: out}
launch:
  grid: {bx: "(M + 3) // M", by: "(M + 3) % M + 1"}
  threads: 128
stages:
  - copy: {src: "A[bx : +1, :]", dst: "B[bx : +1, :]"}
"""


def test_a_grid_divided_by_a_symbolic_dim_is_in_the_manifest(tmp_path):
    """tvm turns // and % of operands it proved not negative into C's division (Div, Mod):
    the manifest keeps them (truncdiv, truncmod); an internal error before (a fuzzer's find)."""
    (tmp_path / "divided.tlspec.yaml").write_text(DIVIDED_GRID)
    out = tmp_path / "divided_kernels"
    module = compile_and_import(out, tmp_path)
    try:
        kernel = module.divided_grid.__globals__["_KERNEL"]
        runtime = module.divided_grid.__globals__["_runtime"]
        for m in (1, 2, 3, 5, 64):
            grid = [runtime.evaluate(e, {"M": m}) for e in kernel.grid]
            assert grid == [(m + 3) // m, (m + 3) % m + 1, 1], m
    finally:
        forget(out.name)
