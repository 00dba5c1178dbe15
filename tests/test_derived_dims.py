"""Derived dims in the kernel model (tlspec/derived_dims.py, through build): those of constant
dims folded to constants, those of symbolic dims expanded into every expression that names them
(shapes, the grid, regions) and kept out of the kernel's dims (no kernel arguments); cycles,
non-positive values and names other than dims refused, located at the expression."""
import textwrap

import pytest

from tlspec.expr import to_source
from tlspec.validate import validate_text


def spec(dims: str, shape_b: str = "[M, WI]", grid: str = "{bx: \"ceildiv(M, 16)\", by: \"ceildiv(WI, 64)\"}",
         src: str = "A[bx*16 : +16, by*64 + 1 : +64]", dst: str = "B[bx*16 : +16, by*64 : +64]"):
    return "tlspec: 1\n" + textwrap.dedent(f"""\
        name: interior
        dims: {dims}
        buffers:
          A: {{scope: global, shape: [M, W], dtype: float32, io: in}}
          B: {{scope: global, shape: {shape_b}, dtype: float32, io: out}}
        launch:
          grid: {grid}
          threads: 128
        stages:
          - copy: {{src: "{src}", dst: "{dst}"}}
        """)


def kernel_of(text):
    result = validate_text(text, "t.tlspec.yaml")
    assert result.ok, result.diagnostics.render_text()
    (kernel,) = result.kernels
    return kernel


def errors(text):
    result = validate_text(text, "t.tlspec.yaml")
    return [line for line in result.diagnostics.render_text().splitlines() if ": error: " in line]


def test_a_derived_dim_of_symbolic_dims_is_expanded_and_no_kernel_argument():
    k = kernel_of(spec('{M: symbolic, W: symbolic, WI: {expr: "W - 2"}}'))
    assert list(k.dims) == ["M", "W"]
    assert to_source(k.derived["WI"].expr) == "W - 2"
    assert to_source(k.derived["WI"].expansion) == "W - 2"
    assert [to_source(e) for e in k.buffers["B"].shape] == ["M", "W - 2"]
    assert k.buffers["B"].derived == [(1, "WI")]
    assert to_source(k.launch.grid[1].extent) == "(W + 61) // 64"


def test_derived_dims_may_use_each_other_in_any_order():
    k = kernel_of(spec('{M: symbolic, WI: {expr: "V - 1"}, V: {expr: "W - 1"}, W: symbolic}',
                       src="A[bx*16 : +16, W - WI - 1 + by*64 : +64]"))
    assert to_source(k.derived["WI"].expansion) == "W - 2"
    assert to_source(k.stages[0].regions["src"].dims[1][0]) == "by * 64 + 1"


def test_a_derived_dim_of_constant_dims_is_a_constant():
    k = kernel_of(spec('{M: symbolic, W: 130, WI: {expr: "W - 2"}}'))
    assert k.dims["WI"].value == 128 and not k.dims["WI"].symbolic
    assert [to_source(e) for e in k.buffers["B"].shape] == ["M", "WI"]
    assert not k.derived


@pytest.mark.parametrize("dims, message", [
    ('{M: symbolic, W: symbolic, WI: {expr: "WI - 2"}}',
     "3:46: error: derived dims are defined in terms of each other: WI -> WI"),
    ('{M: symbolic, W: symbolic, WI: {expr: "X + 1"}, X: {expr: "WI - W"}}',
     "3:46: error: derived dims are defined in terms of each other: WI -> X -> WI"),
    ('{M: symbolic, W: 2, WI: {expr: "W - 2"}}',
     "3:39: error: dim 'WI' = W - 2 is 0; a dim must be positive"),
    ('{M: symbolic, W: 2, WI: {expr: "64 // (W - 2)"}}',
     "3:39: error: dim 'WI' cannot be evaluated: division by zero"),
    ('{M: symbolic, W: symbolic, WI: {expr: "W - Q"}}',
     "3:50: error: unknown name 'Q' in the definition of dim 'WI'"),
    ('{M: symbolic, W: symbolic, WI: {expr: "W -"}}',
     "3:49: error: invalid expression in the definition of dim 'WI'"),
])
def test_bad_definitions_are_located_at_the_expression(dims, message):
    found = errors(spec(dims))
    assert found and found[0].startswith("t.tlspec.yaml:" + message), found


def test_a_tile_sized_by_a_derived_dim_of_symbolic_dims_names_it():
    text = spec('{M: symbolic, W: symbolic, WI: {expr: "W - 2"}}').replace(
        "  B: {scope", "  S: {scope: shared, shape: [16, WI], dtype: float32}\n  B: {scope")
    assert errors(text) == ["t.tlspec.yaml:6:34: error: shared buffer 'S' has the non-constant "
                            "extent 'W - 2' (derived dim WI)"]
