"""Derived dims at a call (codegen/runtime.py): the kernels of tests/gpu/derived/ compiled on
the CPU, their wrappers called with fake arrays. A derived dim is no kernel argument; the
manifest's `dims` gives its expression and value, each argument the axes written with it, and
`checks` that it is at least 1. A tensor whose extent disagrees with the derived value is refused
with a message naming the dim, its expression and both values. No GPU: no CUDA call is reached."""
import json

import pytest
from conftest import ROOT, compiled_once
from device_arrays import FakeArray as Fake, bound_dims

F32 = "<f4"


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    yield from compiled_once(tmp_path_factory, ROOT / "tests/gpu/derived", "tlspec_derived_cpu")


def manifest(derived, name):
    return json.loads((derived[1] / f"{name}.json").read_text())


def test_a_derived_dim_is_described_by_the_manifest_and_is_no_kernel_argument(derived):
    m = manifest(derived, "copy_derived")
    assert m["dims"]["WI"] == {"value": None, "derived": {
        "expr": "W - 2", "value": {"op": "-", "args": [{"dim": "W"}, 2]}}}
    assert m["arguments"][1]["derived"] == [[1, "WI"]]
    assert "WI" not in [p.get("dim") for p in m["params"]]
    assert {"expr": {"op": "-", "args": [{"dim": "W"}, 2]}, "op": ">=", "bound": 1,
            "message": "dim WI = W - 2 must be at least 1"} in m["checks"]


def test_the_call_binds_derived_dims_from_the_others(derived):
    dims = bound_dims(derived[0], "copy_derived", Fake(5, 70, typestr=F32), Fake(5, 68, typestr=F32))
    assert dims == {"M": 5, "W": 70, "WI": 68}
    dims = bound_dims(derived[0], "im2col_derived", Fake(2, 9, 6, 32), Fake(2 * 5 * 3, 288))
    assert (dims["OH"], dims["OW"]) == (5, 3)


def test_an_extent_that_disagrees_with_a_derived_dim_names_it(derived):
    with pytest.raises(ValueError) as refused:
        bound_dims(derived[0], "copy_derived", Fake(5, 70, typestr=F32), Fake(5, 70, typestr=F32))
    assert str(refused.value) == (
        "copy_derived(): argument 'B' has shape (5, 70); its extent 1 is 70, but with the "
        "derived dim WI = W - 2 = 68 it must be 68; expected (M, (W - 2))")


def test_a_column_matrix_of_the_wrong_oh_is_refused_at_the_call(derived):
    with pytest.raises(ValueError, match=r"argument 'col' has shape \(36, 288\); its extent 0 is "
                                         r"36, but with the derived dims OH = .* = 5 and "
                                         r"OW = .* = 3 it must be 30"):
        bound_dims(derived[0], "im2col_derived", Fake(2, 9, 6, 32), Fake(36, 288))


def test_a_derived_dim_below_one_is_refused(derived):
    with pytest.raises(ValueError, match=r"dim WI = W - 2 must be at least 1 \(\(W - 2\) = -1"):
        bound_dims(derived[0], "copy_derived", Fake(5, 1, typestr=F32), None)


def test_the_docstring_gives_a_derived_dims_expression(derived):
    doc = derived[0].copy_derived.__doc__
    assert "        W: any size\n        WI: W - 2 (derived)\n" in doc
