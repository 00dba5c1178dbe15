"""Bytes per launch for given or example sizes, and the roofline time."""
import pytest

from tlspec.explain.traffic import EXAMPLE_SIZE, example_value, traffic
from tlspec.model import Dim
from tlspec.validate import validate_paths

from conftest import SPECS


def kernel(name, spec):
    return next(k for k in validate_paths([str(SPECS / spec)]).kernels if k.name == name)


@pytest.mark.parametrize("dim, value", [
    (Dim("M", "/dims/M", None), EXAMPLE_SIZE),
    (Dim("M", "/dims/M", None, multiple_of=96), 1056),
    (Dim("M", "/dims/M", None, min=5000), 5000),
    (Dim("M", "/dims/M", None, multiple_of=64, max=300), 256),
])
def test_example_value_is_the_first_legal_one_from_1024(dim, value):
    assert example_value(dim) == value


def test_given_dims_and_examples():
    k = kernel("copy_symbolic", "copy_symbolic.tlspec.yaml")
    moved = traffic(k, {"M": 8192})
    assert moved.dims == {"M": 8192, "N": 1024} and moved.examples == ["N"]
    assert [(t.name, t.shape, t.io, t.bytes, t.whole) for t in moved.tensors] == [
        ("A", [8192, 1024], "in", 8192 * 1024 * 2, True),
        ("B", [8192, 1024], "out", 8192 * 1024 * 2, True)]
    assert moved.bytes == 2 * 8192 * 1024 * 2
    assert moved.blocks == (1024 // 128) * (8192 // 64)


def test_roofline_is_bytes_over_bandwidth():
    moved = traffic(kernel("copy_symbolic", "copy_symbolic.tlspec.yaml"), {"M": 8192, "N": 8192})
    assert moved.microseconds(4800) == pytest.approx(268435456 / 4800e9 * 1e6)


def test_gather_table_is_an_upper_bound_and_inout_counts_twice():
    gathered = traffic(kernel("gather_rows", "gather_rows.tlspec.yaml"), {})
    assert {t.name: t.whole for t in gathered.tensors} == {"table": False, "idx": True, "out": True}
    scattered = traffic(kernel("scatter_rows", "scatter_rows.tlspec.yaml"), {})
    table = next(t for t in scattered.tensors if t.name == "table")
    assert (table.io, table.bytes, table.whole) == ("inout", 2 * 262144 * 1024 * 2, False)


def test_examples_shrink_until_every_tensor_fits_a_call():
    """N a multiple of 2**30: M = 1024 would make tensors of 2**40 elements, which no call
    passes (the wrapper takes 2**31 - 1 at most); M is halved down to 1, N is as small as it
    can be."""
    text = (SPECS / "copy_symbolic.tlspec.yaml").read_text()
    text = text.replace("  M: {symbolic: true, multiple_of: 64, min: 64}", "  M: symbolic").replace(
        "  N: {symbolic: true, multiple_of: 128, min: 128}",
        "  N: {symbolic: true, multiple_of: 1073741824}")
    assert "M: symbolic" in text and "multiple_of: 1073741824" in text
    from tlspec.validate import validate_text

    (k,) = validate_text(text).kernels
    moved = traffic(k, {})
    assert moved.dims == {"M": 1, "N": 2**30} and moved.examples == ["M", "N"]
    assert traffic(k, {"M": 4}).dims == {"M": 4, "N": 2**30}     # given: kept
