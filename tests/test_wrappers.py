"""Wrapper argument checks that depend on the order of the arguments, on a hand-written manifest
(no compiler, no tvm, no GPU): an extent that uses a dim bound only by a LATER argument is still
checked, and a mismatch names where the dim got its value. tests/test_compile.py runs the full
set of checks on every compiled kernel of specs/, in spec order and reversed."""
import copy
import importlib
import sys
import uuid

import pytest

from tlspec.package import KernelArtifact, write_package

# im2col-like: the output comes first and its extent is an expression of N, which only the
# input after it binds.
MANIFEST = {
    "format": 1, "name": "col_first", "doc": "col = im2col(img).", "entry": "col_first_kernel",
    "cubin": "col_first.cubin", "source": "col_first.cu", "arch": "sm_90a",
    "arguments": [
        {"name": "col", "dtype": "float16", "io": "out", "doc": "",
         "shape": [{"op": "*", "args": [{"dim": "N"}, 784]}, 2304]},
        {"name": "img", "dtype": "float16", "io": "in", "doc": "",
         "shape": [{"dim": "N"}, 56, 56, 256]}],
    "dims": {"N": {"value": None, "multiple_of": None, "min": 1, "max": None}},
    "params": [{"kind": "pointer", "argument": "col"}, {"kind": "pointer", "argument": "img"},
               {"kind": "dim", "dim": "N", "ctype": "int32"}],
    "grid": [{"op": "ceildiv", "args": [{"op": "*", "args": [{"dim": "N"}, 784]}, 64]}, 36, 1],
    "block": [128, 1, 1], "dynamic_shared_bytes": 0, "tensormaps": [], "checks": [],
}


class Fake:
    """A __cuda_array_interface__ v3 array over no memory."""

    def __init__(self, shape, ptr=0x7F00_0000_0000):
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": "<f2",
                                         "data": (ptr, False), "strides": None, "stream": 1,
                                         "version": 3}


@pytest.fixture
def col_first(tmp_path, monkeypatch):
    name = f"kernels_{uuid.uuid4().hex[:8]}"
    out = write_package(tmp_path / name, [KernelArtifact(
        "col_first", copy.deepcopy(MANIFEST), "// source\n", b"\x7fELF fake")])
    monkeypatch.syspath_prepend(str(out.parent))
    module = importlib.import_module(name)
    yield module
    for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[m]


def test_an_extent_bound_by_a_later_argument_is_checked(col_first):
    rt = col_first._runtime
    kernel = col_first.col_first.__globals__["_KERNEL"]
    _, env = rt.check_arguments(kernel, (Fake((1568, 2304)), Fake((2, 56, 56, 256))))
    assert env == {"N": 2}
    with pytest.raises(ValueError) as e:       # 16 rows where N = 2 needs 1568
        rt.check_arguments(kernel, (Fake((16, 2304)), Fake((2, 56, 56, 256))))
    assert str(e.value) == (
        "col_first(): argument 'col' has shape (16, 2304); expected ((N * 784), 2304) "
        "with N >= 1 (N = 2 from argument 'img')")


def test_a_mismatch_in_an_expression_names_where_the_dim_came_from(col_first):
    rt = col_first._runtime
    m = copy.deepcopy(MANIFEST)
    m["arguments"].reverse()                    # img first: it binds N, col is checked at once
    kernel = rt.Kernel(m, ".")
    with pytest.raises(ValueError, match=r"argument 'col' has shape \(2352, 2304\); expected "
                                         r"\(\(N \* 784\), 2304\) with N >= 1 "
                                         r"\(N = 2 from argument 'img'\)$"):
        rt.check_arguments(kernel, (Fake((2, 56, 56, 256)), Fake((2352, 2304))))
