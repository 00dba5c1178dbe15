"""tlspec.dim_binding: where each symbolic dim takes its value at a call (the rule of the
wrappers, the interpreter and validation), and the validation error for a dim nothing binds."""
import pytest

from tlspec.dim_binding import Source, dim_sources
from tlspec.validate import validate_text


def kernel(dims: str, *shapes: str) -> str:
    buffers = "\n".join(f"  g{i}: {{scope: global, shape: {shape}, dtype: float16, io: inout}}"
                        for i, shape in enumerate(shapes))
    return f"""tlspec: 1
name: binding
target: sm_90a
dims: {dims}
buffers:
{buffers}
launch:
  grid: {{bx: 1}}
  threads: 128
stages:
  - sync_threads:
"""


def sources(text):
    result = validate_text(text)
    assert result.ok, [str(d) for d in result.diagnostics]
    return dim_sources(result.kernels[0])


def test_a_dim_alone_is_bound_by_its_first_extent_even_after_an_affine_one():
    assert sources(kernel("{M: symbolic}", "[M * 2, 8]", "[4, M]")) == {"M": Source(1, 1, 1, 0)}


@pytest.mark.parametrize("extent, scale, offset", [
    ("B * 64", 64, 0), ("64 * B", 64, 0), ("D + 2", 1, 2), ("(B + 1) * 4", 4, 4),
    ("2 - B", -1, 2), ("K * B + 1", 3, 1)])
def test_a_dim_alone_in_no_extent_is_bound_by_its_first_affine_one(extent, scale, offset):
    dim = "B" if "B" in extent else "D"
    assert sources(kernel(f"{{{dim}: symbolic, K: 3}}", "[4]",
                          f"[8, {extent}]")) == {dim: Source(1, 1, scale, offset)}


def test_a_symbolic_dim_that_no_extent_binds_is_a_validation_error_at_the_dim():
    result = validate_text(kernel("{M: symbolic, N: symbolic}", "[M // 2, N]", "[M * N]"))
    assert [(d.pointer, d.message) for d in result.diagnostics] == [
        ("/dims/M", "symbolic dim 'M' can never be known at a call: no global buffer has an "
                    "extent that is M alone or a * M + b")]
