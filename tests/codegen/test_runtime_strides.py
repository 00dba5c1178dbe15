"""The run time's checks of declared strides (codegen/runtime.py, check_arguments; the spec's
`strides: [LD, 1]`): a bare dim in a stride is bound from the argument's own stride, the
argument's strides must be the declared ones (dimensions of extent 1 excepted), each a multiple
of the next and at least the next dimension's span; an argument without declared strides must
still be C-contiguous. No GPU: arrays are fakes (__cuda_array_interface__ strides in bytes)."""
import pytest
from device_arrays import bound_dims, manifest_package

MANIFEST = {
    "format": 1, "name": "pitched", "doc": "b = a, a's rows LD elements apart.",
    "entry": "pitched_kernel", "cubin": "pitched.cubin", "source": "pitched.cu", "arch": "sm_90a",
    "arguments": [
        {"name": "a", "dtype": "float16", "shape": [{"dim": "M"}, {"dim": "N"}],
         "strides": [{"dim": "LD"}, 1], "io": "in", "doc": ""},
        {"name": "b", "dtype": "float16", "shape": [{"dim": "M"}, {"dim": "N"}], "io": "out",
         "doc": ""}],
    "dims": {"M": {"value": None, "multiple_of": None, "min": None, "max": None},
             "N": {"value": None, "multiple_of": None, "min": None, "max": None},
             "LD": {"value": None, "multiple_of": 8, "min": None, "max": None}},
    "params": [{"kind": "pointer", "argument": "a"}, {"kind": "pointer", "argument": "b"},
               {"kind": "dim", "dim": "LD", "ctype": "int32"}],
    "grid": [{"dim": "M"}, 1, 1], "block": [128, 1, 1], "dynamic_shared_bytes": 0,
    "tensormaps": [], "checks": [],
}


class Strided:
    """A float16 device array of `shape` and `strides` (in elements; None: C-contiguous)."""

    def __init__(self, shape, strides=None):
        self.__cuda_array_interface__ = {
            "shape": tuple(shape), "typestr": "<f2", "data": (0x7F0000000000, False),
            "strides": None if strides is None else tuple(2 * s for s in strides), "version": 3}


@pytest.fixture(scope="module")
def pitched(tmp_path_factory):
    package = manifest_package(tmp_path_factory.mktemp("strides"), MANIFEST)
    return lambda *arrays: bound_dims(package, "pitched", *arrays)


def test_a_stride_dim_is_bound_from_the_arguments_stride(pitched):
    assert pitched(Strided((100, 60), (64, 1)), Strided((100, 60))) == \
        {"M": 100, "N": 60, "LD": 64}


def test_a_contiguous_array_has_its_width_as_the_pitch(pitched):
    assert pitched(Strided((100, 64)), Strided((100, 64)))["LD"] == 64


def test_a_pitch_that_breaks_the_dims_rule_is_refused(pitched):
    with pytest.raises(ValueError, match=r"expected \(M, N\) with strides \(LD, 1\) with LD a "
                                         r"multiple of 8 \(got LD = 70\)$"):
        pitched(Strided((100, 60), (70, 1)), Strided((100, 60)))


def test_other_strides_than_the_declared_are_refused(pitched):
    with pytest.raises(ValueError, match=r"pitched\(\): argument 'a' has strides \(64, 2\) \(in "
                                         r"elements\); expected \(64, 1\)"):
        pitched(Strided((100, 60), (64, 2)), Strided((100, 60)))


def test_rows_closer_than_their_width_are_refused(pitched):
    with pytest.raises(ValueError, match=r"stride 0 must be a multiple of stride 1 and at least "
                                         r"60 \(dimension 1 spans that many elements\)"):
        pitched(Strided((100, 60), (56, 1)), Strided((100, 60)))


def test_an_argument_without_declared_strides_must_be_contiguous(pitched):
    with pytest.raises(ValueError, match=r"argument 'b' is not C-contiguous .*declare its "
                                         r"strides in the spec"):
        pitched(Strided((100, 60), (64, 1)), Strided((100, 60), (64, 1)))
