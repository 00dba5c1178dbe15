"""Derived dims on the GPU (tests/gpu/derived/, compiled into build/tlspec_derived): kernels
whose output shapes are derived dims of symbolic ones, which the wrapper computes at each call
(they are no kernel arguments), compared bit-exactly with torch, random non-zero inputs, outputs
poisoned and guarded:

- im2col, 3x3, stride 2, pad 1, straight into the global column matrix of derived OH x OW
  pixels, over several image sizes (odd, even, 1 x 1), and an omitted output allocated at the
  derived shape;
- a copy of the interior columns A[:, 1 : W - 1] into B of derived width W - 2;
- a column matrix of the wrong size is refused before any launch, naming OH and OW.

Imports only the compiled package, torch and pytest (TLSPEC_DERIVED: the package directory).
"""
import pytest
from gpu_support import DEVICE, assert_guards, assert_same, compiled_package, guarded, \
    im2col_reference, random, torch

kernels = compiled_package("TLSPEC_DERIVED", "tlspec_derived", "tests/gpu/derived")


def out_size(size):
    return (size + 2 - 2 - 1) // 2 + 1


@pytest.mark.parametrize("n, h, w", [(1, 1, 1), (2, 9, 6), (1, 16, 17), (3, 56, 56), (2, 33, 70)])
def test_an_im2col_into_a_column_matrix_of_derived_oh_ow(n, h, w):
    img = random((n, h, w, 32))
    col = guarded((n * out_size(h) * out_size(w), 288))
    kernels.im2col_derived(img, col)
    torch.cuda.synchronize()
    assert_same(col, im2col_reference(img, 3, 2, 1, 1), "col")
    assert_guards(col, "col")


def test_an_omitted_output_has_the_derived_shape():
    img = random((2, 9, 6, 32))
    col = kernels.im2col_derived(img)
    torch.cuda.synchronize()
    assert col.shape == (2 * 5 * 3, 288)
    assert_same(col, im2col_reference(img, 3, 2, 1, 1), "col")


@pytest.mark.parametrize("m, w", [(1, 3), (16, 66), (17, 200), (100, 1001)])
def test_a_copy_whose_output_width_is_derived(m, w):
    a, b = random((m, w), torch.float32), guarded((m, w - 2), torch.float32)
    kernels.copy_derived(a, b)
    torch.cuda.synchronize()
    assert_same(b, a[:, 1:w - 1].contiguous(), "B")
    assert_guards(b, "B")


def test_a_column_matrix_of_the_wrong_size_is_refused_before_the_launch():
    img = random((2, 9, 6, 32))
    col = torch.zeros((36, 288), dtype=torch.float16, device=DEVICE)
    with pytest.raises(ValueError, match=r"with the derived dims OH = .* = 5 and OW = .* = 3 it "
                                         r"must be 30"):
        kernels.im2col_derived(img, col)
    assert not col.any()
