"""Shape specialization on the GPU (tests/gpu/specialize/, compiled into build/tlspec_specialize):
kernels of symbolic sizes without multiple_of, each with an aligned variant (TMA, 16-byte
vectors) that its wrapper launches when the row dims are multiples of 16, and the general
kernel (single elements) otherwise. Every call is compared bit-exactly with torch on random
inputs, outputs poisoned first, and the test checks which kernel the wrapper chose.

Imports only the compiled package, torch and pytest (TLSPEC_SPECIALIZE: the package directory).
"""
import importlib

import pytest
from gpu_support import assert_same, compiled_package, guarded, random, torch

kernels = compiled_package("TLSPEC_SPECIALIZE", "tlspec_specialize", "tests/gpu/specialize")


def chosen(name, *arrays):
    """The name of the kernel the wrapper of `name` launched for these arrays."""
    module = importlib.import_module(f"{kernels.__name__}.{name}")
    return module._CHOICE[module._runtime.intake(arrays)[0]].name


# aligned: M, N multiples of 16 (ragged against the 64 x 64 tile or not); general: either not
@pytest.mark.parametrize("b, m, n, kernel", [
    (2, 128, 192, "transpose_any__aligned"), (3, 80, 48, "transpose_any__aligned"),
    (1, 16, 16, "transpose_any__aligned"), (2, 72, 136, "transpose_any"),
    (3, 65, 33, "transpose_any"), (1, 1, 1, "transpose_any"), (4, 128, 100, "transpose_any")])
def test_transpose_any(b, m, n, kernel):
    a = random((b, m, n))
    out = guarded((b, n, m))
    kernels.transpose_any(a, out)
    torch.cuda.synchronize()
    assert_same(out, a.transpose(1, 2).contiguous())
    assert chosen("transpose_any", a, out) == kernel


@pytest.mark.parametrize("m, n, kernel", [
    (64, 128, "copy_any__aligned"), (33, 80, "copy_any__aligned"), (7, 16, "copy_any__aligned"),
    (64, 100, "copy_any"), (5, 3, "copy_any"), (100, 1001, "copy_any")])
def test_copy_any(m, n, kernel):
    a = random((m, n), torch.float32)
    b = guarded((m, n), torch.float32)
    kernels.copy_any(a, b)
    torch.cuda.synchronize()
    assert_same(b, a)
    assert chosen("copy_any", a, b) == kernel


def test_an_omitted_output_is_allocated_by_the_chosen_kernel():
    a = random((64, 128), torch.float32)
    b = kernels.copy_any(a)
    torch.cuda.synchronize()
    assert_same(b, a)
    assert chosen("copy_any", a, None) == "copy_any__aligned"
