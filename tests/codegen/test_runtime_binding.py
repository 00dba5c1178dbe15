"""The run time's binding of symbolic dims (codegen/runtime.py, check_arguments): a dim alone in
an extent takes the first such extent's value; a dim alone in none is solved from the affine
extent its manifest entry names (`bind`: extent = scale * dim + offset), exactly, and then
checked like any other. No GPU: arrays are fakes, no CUDA call is reached."""
import copy
import sys
import uuid

import pytest
from device_arrays import FakeArray as Fake, bound_dims

from tlspec.package import KernelArtifact, write_package

MANIFEST = {
    "format": 1, "name": "rows", "doc": "b = a, rows of 64 per block; x has D + 2 columns.",
    "entry": "rows_kernel", "cubin": "rows.cubin", "source": "rows.cu", "arch": "sm_90a",
    "arguments": [
        {"name": "a", "dtype": "float16", "shape": [{"op": "*", "args": [{"dim": "B"}, 64]}, 128],
         "io": "in", "doc": ""},
        {"name": "x", "dtype": "float16", "shape": [4, {"op": "+", "args": [{"dim": "D"}, 2]}],
         "io": "in", "doc": ""},
        {"name": "b", "dtype": "float16", "shape": [{"op": "*", "args": [{"dim": "B"}, 64]}, 128],
         "io": "out", "doc": ""}],
    "dims": {"B": {"value": None, "multiple_of": 2, "min": None, "max": None,
                   "bind": {"argument": "a", "axis": 0, "scale": 64, "offset": 0}},
             "D": {"value": None, "multiple_of": None, "min": None, "max": None,
                   "bind": {"argument": "x", "axis": 1, "scale": 1, "offset": 2}}},
    "params": [{"kind": "pointer", "argument": "a"}, {"kind": "pointer", "argument": "b"},
               {"kind": "dim", "dim": "B", "ctype": "int32"}],
    "grid": [{"dim": "B"}, 1, 1], "block": [128, 1, 1], "dynamic_shared_bytes": 0,
    "tensormaps": [], "checks": [],
}



@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    name = f"binding_{uuid.uuid4().hex[:8]}"
    out = write_package(tmp_path_factory.mktemp("binding") / name,
                        [KernelArtifact("rows", copy.deepcopy(MANIFEST), "// source\n", b"\x7fELF")])
    sys.path.insert(0, str(out.parent))
    try:
        package = __import__(name)
    finally:
        sys.path.remove(str(out.parent))
    return lambda *arrays: bound_dims(package, "rows", *arrays)


def test_a_dim_alone_in_no_extent_is_solved_from_its_affine_extent(rows):
    assert rows(Fake(128, 128), Fake(4, 7), Fake(128, 128)) == {"B": 2, "D": 5}


def test_an_extent_that_no_size_gives_names_the_argument(rows):
    with pytest.raises(ValueError) as refused:
        rows(Fake(100, 128), Fake(4, 7), Fake(100, 128))
    assert str(refused.value) == ("rows(): argument 'a' has shape (100, 128); expected "
                                  "((B * 64), 128) with B a multiple of 2 (100 is not (B * 64) "
                                  "for any size B)")
    with pytest.raises(ValueError, match=r"\(1 is not \(D \+ 2\) for any size D\)"):
        rows(Fake(128, 128), Fake(4, 1), Fake(128, 128))


def test_a_solved_dim_meets_its_constraints_and_every_other_extent(rows):
    with pytest.raises(ValueError, match=r"argument 'a' has shape \(192, 128\); .* \(got B = 3\)"):
        rows(Fake(192, 128), Fake(4, 7), Fake(192, 128))
    with pytest.raises(ValueError, match=r"argument 'b' has shape \(256, 128\); expected "
                                         r"\(\(B \* 64\), 128\) .*\(B = 2 from argument 'a'\)"):
        rows(Fake(128, 128), Fake(4, 7), Fake(256, 128))


def test_an_omitted_output_does_not_bind(rows):
    assert rows(Fake(128, 128), Fake(4, 7), None) == {"B": 2, "D": 5}
