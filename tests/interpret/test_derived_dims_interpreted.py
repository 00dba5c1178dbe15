"""Derived dims in the interpreter: bound like the compiled wrapper binds them (computed from
the dims the arguments give, never passed), checked against the extents written with them, and
the kernels of tests/gpu/derived/ run against numpy references."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interpret_support import assert_same, random
from references import im2col
from tlspec.interpret import load

DERIVED = load(Path(__file__).parents[1] / "gpu" / "derived")


@pytest.mark.parametrize("n, h, w", [(1, 1, 1), (2, 9, 6), (1, 16, 17), (3, 5, 12)])
def test_an_im2col_with_derived_oh_ow_matches_the_reference(n, h, w):
    img = random((n, h, w, 32))
    assert_same(DERIVED.im2col_derived(img), im2col(img, 3, stride=2, pad=1))


@pytest.mark.parametrize("m, w", [(1, 3), (16, 66), (17, 200)])
def test_a_copy_whose_output_width_is_derived(m, w):
    a = random((m, w), "float32")
    assert_same(DERIVED.copy_derived(a), np.ascontiguousarray(a[:, 1:w - 1]))


def test_an_extent_that_disagrees_with_a_derived_dim_names_it():
    a = random((5, 70), "float32")
    with pytest.raises(ValueError) as refused:
        DERIVED.copy_derived(a, np.zeros((5, 70), np.float32))
    assert str(refused.value) == (
        "copy_derived(): argument 'B' has shape (5, 70); its extent 1 is 70, but with the derived "
        "dim WI = W - 2 = 68 it must be 68; expected (M, WI)")


def test_a_column_matrix_of_the_wrong_size_is_refused():
    img = random((2, 9, 6, 32))
    with pytest.raises(ValueError, match=r"its extent 0 is 36, but with the derived dims "
                                         r"OH = .* = 5 and OW = .* = 3 it must be 30"):
        DERIVED.im2col_derived(img, np.zeros((36, 288), np.float16))


def test_a_derived_dim_below_one_is_refused():
    with pytest.raises(ValueError, match=r"dim WI = W - 2 must be at least 1 \(it is -1\)"):
        DERIVED.copy_derived(random((4, 1), "float32"))
