"""Every kernel of specs/, compiled by `tlspec compile` (on any machine), run on the GPU and
compared bit-exactly with a torch reference on random inputs, outputs poisoned first.

Imports only the compiled package, torch and pytest: set TLSPEC_KERNELS to the package directory
(default: build/tlspec_kernels, what `tlspec compile specs/ -o build/tlspec_kernels` writes).
"""
import importlib
import os
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the GPU tests need torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)
F = torch.nn.functional

PACKAGE = Path(os.environ.get("TLSPEC_KERNELS",
                              Path(__file__).resolve().parents[2] / "build" / "tlspec_kernels"))
if not (PACKAGE / "_tlspec_package.json").is_file():
    pytest.skip(f"no compiled kernels at {PACKAGE} (run tlspec compile specs/ -o {PACKAGE})",
                allow_module_level=True)
sys.path.insert(0, str(PACKAGE.parent))
kernels = importlib.import_module(PACKAGE.name)
POISON = {torch.float16: 0x7E01, torch.bfloat16: 0x7FC1, torch.float32: 0x7FC00001}


def poisoned(shape, dtype=torch.float16):
    out = torch.empty(shape, dtype=dtype, device="cuda")
    out.view(torch.int16 if out.element_size() == 2 else torch.int32).fill_(POISON[dtype])
    return out


def randn(*shape, dtype=torch.float16):
    x = torch.randn(*shape, device="cuda").to(dtype)
    x[x == 0] = 1   # never zero: a kernel that writes zeros must not pass
    return x


def same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    return torch.equal(a.view(torch.int16) if a.element_size() == 2 else a, b.view(torch.int16)
                       if b.element_size() == 2 else b)


def im2col_reference(img, kernel, stride, dilation, pad):
    n, h, w, c = img.shape
    cols = F.unfold(img.permute(0, 3, 1, 2).float(), kernel, dilation=dilation, padding=pad,
                    stride=stride)                           # (N, C*K*K, L), (c, kh, kw) order
    l = cols.shape[-1]
    cols = cols.view(n, c, kernel * kernel, l).permute(0, 3, 2, 1).reshape(n * l, -1)
    return cols.to(img.dtype)


def test_copy_tiles():
    a = randn(16384, 16384)
    b = poisoned(a.shape)
    kernels.copy_tiles(a, b)
    torch.cuda.synchronize()
    assert same(b, a)


@pytest.mark.parametrize("m, n", [(64, 128), (320, 384), (4096, 1152)])
def test_copy_symbolic(m, n):
    a = randn(m, n)
    b = poisoned(a.shape)
    kernels.copy_symbolic(a, b)
    torch.cuda.synchronize()
    assert same(b, a)


def test_transpose_tma_store():
    a = randn(8192, 8192)
    b = poisoned((8192, 8192))
    kernels.transpose_tma_store(a, b)
    torch.cuda.synchronize()
    assert same(b, a.t().contiguous())


def test_gather_rows():
    table = randn(262144, 1024)
    idx = torch.randint(0, 262144, (65536,), dtype=torch.int32, device="cuda")
    out = poisoned((65536, 1024))
    kernels.gather_rows(table, idx, out)
    torch.cuda.synchronize()
    assert same(out, table[idx.long()])


def test_scatter_rows():
    table = randn(262144, 1024)
    expected = table.clone()
    idx = torch.randperm(262144, device="cuda")[:65536].to(torch.int32)
    rows = randn(65536, 1024)
    expected[idx.long()] = rows
    kernels.scatter_rows(table, idx, rows)
    torch.cuda.synchronize()
    assert same(table, expected)


def test_im2col_3x3():
    img = randn(32, 56, 56, 256)
    col = poisoned((32 * 56 * 56, 9 * 256))
    kernels.im2col_3x3(img, col)
    torch.cuda.synchronize()
    assert same(col, im2col_reference(img, 3, 1, 1, 1))


@pytest.mark.parametrize("n", [1, 3, 8])
def test_im2col_strided(n):
    img = randn(n, 56, 56, 256)
    col = poisoned((n * 28 * 28, 9 * 256))
    kernels.im2col_strided(img, col)
    torch.cuda.synchronize()
    assert same(col, im2col_reference(img, 3, 2, 2, 2))


def test_outputs_allocated():
    a = randn(256, 256)
    b = kernels.copy_symbolic(a)
    torch.cuda.synchronize()
    assert same(b, a)
