"""A symbolic dim used only inside shape expressions (`shape: [B * 64, 128]`) compiles: the kernel
takes it as a parameter of its own (it was "variables (B,) are used, but are not passed in as API
arguments"), and the manifest tells the wrapper how to solve it from the extent at a call."""
import json

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import compile_and_import, forget
from device_arrays import FakeArray as Fake, bound_dims

SPEC = """
tlspec: 1
name: blocks
target: sm_90a
dims:
  B: symbolic
  D: symbolic
buffers:
  a:   {scope: global, shape: [B * 64, 128], dtype: float16, io: in}
  b:   {scope: global, shape: [B * 64, 128], dtype: float16, io: out}
  x:   {scope: global, shape: [D + 2], dtype: float16, io: inout}
  a_s: {scope: shared, shape: [64, 128], dtype: float16}
launch:
  grid: {bx: B}
  threads: 128
stages:
  - copy: {src: "a[bx*64 : +64, :]", dst: a_s}
  - copy: {src: a_s, dst: "b[bx*64 : +64, :]"}
  - copy: {src: "x[0 : +2]", dst: "x[D : +2]", prefer_instruction: sync}
"""



@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    root = tmp_path_factory.mktemp("affine")
    (root / "blocks.tlspec.yaml").write_text(SPEC)
    package = compile_and_import(root / "affine_dims", root / "blocks.tlspec.yaml")
    yield package, json.loads((root / "affine_dims" / "blocks.json").read_text())
    forget(package.__name__)


def test_the_kernel_takes_the_dims_as_parameters(compiled):
    _, manifest = compiled
    assert {p["dim"] for p in manifest["params"] if p["kind"] == "dim"} == {"B", "D"}


def test_the_manifest_says_which_extent_each_dim_is_solved_from(compiled):
    _, manifest = compiled
    assert manifest["dims"]["B"]["bind"] == {"argument": "a", "axis": 0, "scale": 64, "offset": 0}
    assert manifest["dims"]["D"]["bind"] == {"argument": "x", "axis": 0, "scale": 1, "offset": 2}


def test_the_wrapper_solves_the_dims_at_a_call(compiled):
    package, _ = compiled
    assert bound_dims(package, "blocks", Fake(192, 128), Fake(192, 128), Fake(9)) == \
        {"B": 3, "D": 7}
