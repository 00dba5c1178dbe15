"""Arguments of an interpreted kernel: symbolic dims bound from the shapes as the compiled wrapper
binds them (a dim alone in an extent first, then an affine extent a*D + b), their constraints,
and the checks of the arrays themselves (dtype size, layout, writability, overlap)."""
from __future__ import annotations

import numpy as np
import pytest

from interpret_support import assert_same, kernel, random
from tlspec.interpret import run
from tlspec.validate import validate_text

BLOCKS = """
    name: blocks
    dims: {B: {symbolic: true, max: 8}}
    buffers:
      A: {scope: global, shape: [B * 4, 3], dtype: int32, io: in}
      C: {scope: global, shape: ["B * 4 + 2", 3], dtype: int32, io: out}
    launch:
      grid: {bx: B}
      threads: 32
    stages:
      - copy: {src: "A[bx*4 : +4, :]", dst: "C[bx*4 : +4, :]"}
"""


def test_a_dim_alone_in_no_extent_is_bound_from_an_affine_one():
    a = random((12, 3), "int32")
    c = kernel(BLOCKS)(a)
    assert c.shape == (14, 3)
    assert_same(c[:12], a)


@pytest.mark.parametrize("shape, message", [
    ((13, 3), "blocks(): argument 'A' has shape (13, 3); expected (B * 4, 3) with B <= 8 (13 is "
              "not B * 4 for any size B)"),
    ((36, 3), "blocks(): argument 'A' has shape (36, 3); expected (B * 4, 3) with B <= 8 "
              "(got B = 9)"),
    ((12,), "blocks(): argument 'A' has shape (12,) (1 dimensions); expected (B * 4, 3) with "
            "B <= 8"),
    ((12, 4), "blocks(): argument 'A' has shape (12, 4); expected (B * 4, 3) with B <= 8"),
])
def test_shapes_that_do_not_fit(shape, message):
    with pytest.raises(ValueError) as err:
        kernel(BLOCKS)(random(shape, "int32"))
    assert str(err.value) == message


def test_an_extent_checked_against_a_dim_another_argument_bound():
    with pytest.raises(ValueError) as err:
        kernel(BLOCKS)(random((8, 3), "int32"), random((12, 3), "int32"))
    assert str(err.value) == ("blocks(): argument 'C' has shape (12, 3); expected (B * 4 + 2, 3) "
                              "with B <= 8 (B = 2 from argument 'A')")


def test_a_dim_alone_binds_before_an_affine_extent_of_an_earlier_argument():
    pairs = kernel("""
        name: pairs
        dims: {M: symbolic, K: 2}
        buffers:
          A: {scope: global, shape: ["M * K"], dtype: uint8, io: in}
          B: {scope: global, shape: [M], dtype: uint8, io: out}
        launch:
          grid: {bx: 1}
          threads: 32
        stages:
          - copy: {src: "A[0 : +M]", dst: "B[0 : +M]"}
    """)
    with pytest.raises(ValueError) as err:
        pairs(random((7,), "uint8"), random((3,), "uint8"))
    assert str(err.value) == ("pairs(): argument 'A' has shape (7,); expected (M * 2,) "
                              "(M = 3 from argument 'B')")


def test_an_output_that_alone_has_a_dim_must_be_passed():
    pad = kernel("""
        name: pad
        dims: {N: symbolic, NP: {symbolic: true, multiple_of: 8}}
        buffers:
          A: {scope: global, shape: [N], dtype: float32, io: in}
          B: {scope: global, shape: [NP], dtype: float32, io: out}
        launch:
          grid: {bx: NP // 8}
          threads: 32
        stages:
          - copy: {src: "A[bx*8 : +8]", dst: "B[bx*8 : +8]"}
    """)
    with pytest.raises(ValueError, match=r"^pad\(\): dimension NP is not determined by the "
                                         r"arguments given; pass the outputs that have it$"):
        pad(random((5,), "float32"))
    with pytest.raises(ValueError, match=r"expected \(NP,\) with NP a multiple of 8 "
                                         r"\(got NP = 9\)"):
        pad(random((5,), "float32"), random((9,), "float32"))


COPY = validate_text("""tlspec: 1
name: copy1
dims: {N: symbolic}
buffers:
  A: {scope: global, shape: [N], dtype: bfloat16, io: in}
  B: {scope: global, shape: [N], dtype: bfloat16, io: out}
launch:
  grid: {bx: "ceildiv(N, 4)"}
  threads: 32
stages:
  - copy: {src: "A[bx*4 : +4]", dst: "B[bx*4 : +4]"}
""").kernels[0]


def test_any_dtype_of_the_element_size_is_accepted():
    a, b = random((10,), "uint16"), np.zeros(10, np.float16)
    run(COPY, {"A": a, "B": b})
    assert_same(b.view(np.uint16), a)


@pytest.mark.parametrize("arrays, error, message", [
    ({"A": np.zeros(4, np.float32), "B": np.zeros(4, np.int16)}, TypeError,
     "copy1(): argument 'A' has dtype float32; expected bfloat16 (or any dtype of 2 bytes: "
     "elements are moved as bits)"),
    ({"A": [1, 2], "B": np.zeros(2, np.int16)}, TypeError,
     "copy1(): argument 'A' is a list, not a numpy array"),
    ({"A": np.zeros(4, np.int16)}, TypeError, "copy1(): missing required argument 'B'"),
    ({"A": np.zeros(4, np.int16), "B": np.zeros(4, np.int16), "C": 1}, TypeError,
     "copy1(): unexpected argument 'C'; the arguments are A, B"),
    ({"A": np.zeros(8, np.int16)[::2], "B": np.zeros(4, np.int16)}, ValueError,
     "copy1(): argument 'A' is not C-contiguous; pass a contiguous copy"),
    ({"A": np.zeros(4, np.int16), "B": np.broadcast_to(np.int16(0), (4,))}, ValueError,
     "copy1(): argument 'B' is not C-contiguous; pass a contiguous copy"),
    ({"A": np.zeros(4, np.int16), "B": np.zeros(4, np.int16)}, None, None),
])
def test_arrays_that_do_not_fit(arrays, error, message):
    if error is None:
        readonly = arrays["B"]
        readonly.flags.writeable = False
        error, message = ValueError, "copy1(): argument 'B' is read-only; the kernel writes it"
    with pytest.raises(error) as err:
        run(COPY, arrays)
    assert str(err.value) == message


def test_outputs_may_not_overlap_other_arguments():
    buffer = np.zeros(12, np.int16)
    with pytest.raises(ValueError, match=r"^copy1\(\): arguments 'A' and 'B' overlap in memory; "
                                         r"pass separate arrays$"):
        run(COPY, {"A": buffer[:6], "B": buffer[4:10]})
    run(COPY, {"A": buffer[:6], "B": buffer[6:]})
