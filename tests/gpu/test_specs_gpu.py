"""Every kernel of specs/, compiled by `tlspec compile` (on any machine), run on the GPU and
compared bit-exactly with a torch reference on random inputs, outputs poisoned first. The
sm_100a kernels (gather4_rows, scatter4_rows) run on a compute capability 10.0 GPU only; on any
other the run time refuses them before a launch, naming the kernel, its target and the GPU, and
their outputs keep their poison.

Imports only the compiled package, torch and pytest: set TLSPEC_KERNELS to the package directory
(default: build/tlspec_kernels, what `tlspec compile specs/ -o build/tlspec_kernels` writes).
"""
import re
import sys

import pytest
from gpu_support import (BLACKWELL, assert_same, compiled_package, guarded, im2col_reference,
                         on_blackwell, random, torch)

kernels = compiled_package("TLSPEC_KERNELS", "tlspec_kernels", "specs/")


def test_copy_tiles():
    a = random((16384, 16384))
    b = guarded(a.shape)
    kernels.copy_tiles(a, b)
    torch.cuda.synchronize()
    assert_same(b, a)


@pytest.mark.parametrize("m, n", [(64, 128), (320, 384), (4096, 1152)])
def test_copy_symbolic(m, n):
    a = random((m, n))
    b = guarded(a.shape)
    kernels.copy_symbolic(a, b)
    torch.cuda.synchronize()
    assert_same(b, a)


def test_transpose_tma_store():
    a = random((8192, 8192))
    b = guarded((8192, 8192))
    kernels.transpose_tma_store(a, b)
    torch.cuda.synchronize()
    assert_same(b, a.t().contiguous())


def test_transpose_padded_sm80():
    """The sm_80 form of the transpose: on a GPU other than an Ampere one it runs from its PTX."""
    a = random((8192, 8192))
    b = guarded((8192, 8192))
    kernels.transpose_padded_sm80(a, b)
    torch.cuda.synchronize()
    assert_same(b, a.t().contiguous())
    image = "cubin" if torch.cuda.get_device_capability()[0] == 8 else "ptx"
    assert sys.modules[f"{kernels.__name__}.transpose_padded_sm80"]._KERNEL.image == image


def test_gather_rows():
    table = random((262144, 1024))
    idx = torch.randint(0, 262144, (65536,), dtype=torch.int32, device="cuda")
    out = guarded((65536, 1024))
    kernels.gather_rows(table, idx, out)
    torch.cuda.synchronize()
    assert_same(out, table[idx.long()])


def test_scatter_rows():
    table = random((262144, 1024))
    expected = table.clone()
    idx = torch.randperm(262144, device="cuda")[:65536].to(torch.int32)
    rows = random((65536, 1024))
    expected[idx.long()] = rows
    kernels.scatter_rows(table, idx, rows)
    torch.cuda.synchronize()
    assert_same(table, expected)


@pytest.mark.parametrize("name, t", [("paged_kv_gather", 2048), ("paged_kv_gather", 1000),
                                     ("paged_kv_gather_pages", 2048)])
def test_paged_kv_gather(name, t):
    """32 sequences out of a cache of 8192 pages, their pages distinct and scattered; a
    partial last page when T is not a multiple of 16 (token by token only)."""
    cache = random((8192, 16, 1024))
    table = torch.randperm(8192, device="cuda")[:32 * 128].view(32, 128).to(torch.int32)
    out = guarded((32, t, 1024))
    getattr(kernels, name)(cache, table, out)
    torch.cuda.synchronize()
    tokens = torch.arange(t, device="cuda")
    assert_same(out, cache[table.long()[:, tokens // 16], tokens % 16])


def test_im2col_3x3():
    img = random((32, 56, 56, 256))
    col = guarded((32 * 56 * 56, 9 * 256))
    kernels.im2col_3x3(img, col)
    torch.cuda.synchronize()
    assert_same(col, im2col_reference(img, 3, 1, 1, 1))


# im2col_strided (symbolic N, through a shared tile and a TMA store), im2col_strided_direct
# (N = 32, straight to global memory)
@pytest.mark.parametrize("name, n", [("im2col_strided", 1), ("im2col_strided", 3),
                                     ("im2col_strided", 8), ("im2col_strided_direct", 32)])
def test_im2col_strided(name, n):
    img = random((n, 56, 56, 256))
    col = guarded((n * 28 * 28, 9 * 256))
    getattr(kernels, name)(img, col)
    torch.cuda.synchronize()
    assert_same(col, im2col_reference(img, 3, 2, 2, 2))


def test_nchw_to_nhwc():
    x = random((32, 256, 56, 56))
    y = guarded((32, 56, 56, 256))
    kernels.nchw_to_nhwc(x.view(32, 256, 56 * 56), y.view(32, 56 * 56, 256))
    torch.cuda.synchronize()
    assert_same(y, x.permute(0, 2, 3, 1).contiguous())


# whole tiles, ragged edges on either side, one tile smaller than the 64 x 64 tile, many batches
@pytest.mark.parametrize("b, m, n", [(2, 128, 192), (3, 72, 136), (1, 8, 8), (5, 200, 64),
                                     (300, 16, 40)])
def test_transpose_batched(b, m, n):
    a = random((b, m, n))
    out = guarded((b, n, m))
    kernels.transpose_batched(a, out)
    torch.cuda.synchronize()
    assert_same(out, a.transpose(1, 2).contiguous())


def test_transpose_batched_refuses_a_shape_off_multiple_of():
    a = random((2, 12, 16))
    out = guarded((2, 16, 12))
    with pytest.raises(ValueError, match=r"M a multiple of 8 .*\(got M = 12\)$"):
        kernels.transpose_batched(a, out)


@pytest.mark.parametrize("t", [1, 7, 4096])
def test_embedding_lookup(t):
    weight = random((128256, 4096))
    ids = torch.randint(0, 128256, (t,), dtype=torch.int64, device="cuda")
    ids[0] = 128255                                 # the last row of the table
    out = guarded((t, 4096))
    kernels.embedding_lookup(weight, ids, out)
    torch.cuda.synchronize()
    assert_same(out, torch.nn.functional.embedding(ids, weight))


@pytest.mark.parametrize("m", [1, 6, 4096])
def test_concat_last(m):
    a, b = random((m, 4096)), random((m, 2048))
    out = guarded((m, 6144))
    kernels.concat_last(a, b, out)
    torch.cuda.synchronize()
    assert_same(out, torch.cat([a, b], dim=-1))


def test_outputs_allocated():
    a = random((256, 256))
    b = kernels.copy_symbolic(a)
    torch.cuda.synchronize()
    assert_same(b, a)


def test_repeat_multicast():
    w = random((4096, 4096))
    out = guarded((8, 4096, 4096))
    kernels.repeat_multicast(w, out)
    torch.cuda.synchronize()
    assert_same(out, w.expand(8, 4096, 4096))


def test_swap_pairs_dsmem():
    a = random((8192, 8192))
    b = guarded((8192, 8192))
    kernels.swap_pairs_dsmem(a, b)
    torch.cuda.synchronize()
    assert_same(b, a.reshape(64, 2, 64, 8192).flip(1).reshape(8192, 8192))


def gather4_arguments():
    table = random((262144, 1024))
    idx = torch.randint(0, 262144, (65536,), dtype=torch.int32, device="cuda")
    return table, idx, guarded((65536, 1024))


def scatter4_arguments():
    table = random((262144, 1024))
    idx = torch.randperm(262144, device="cuda")[:65536].to(torch.int32)
    return table, idx, random((65536, 1024))


@on_blackwell
def test_gather4_rows():
    table, idx, out = gather4_arguments()
    kernels.gather4_rows(table, idx, out)
    torch.cuda.synchronize()
    assert_same(out, table[idx.long()])


@on_blackwell
def test_scatter4_rows():
    table, idx, rows = scatter4_arguments()
    expected = table.clone()
    expected[idx.long()] = rows
    kernels.scatter4_rows(table, idx, rows)
    torch.cuda.synchronize()
    assert_same(table, expected)


@pytest.mark.skipif(BLACKWELL, reason="this GPU runs sm_100a kernels (test_gather4_rows)")
@pytest.mark.parametrize("name, arguments, written", [
    ("gather4_rows", gather4_arguments, 2), ("scatter4_rows", scatter4_arguments, 0)])
def test_sm100a_kernels_refuse_this_gpu(name, arguments, written):
    values = arguments()
    before = values[written].clone()
    major, minor = torch.cuda.get_device_capability()
    gpu = re.escape(f"{torch.cuda.get_device_name()} (compute capability {major}.{minor})")
    with pytest.raises(RuntimeError, match=rf"^{name}\(\): no image of this kernel runs on {gpu}: "
                       r"its cubin is for sm_100a \(compute capability 10\.0 only\)"):
        getattr(kernels, name)(*values)
    torch.cuda.synchronize()
    assert_same(values[written], before)        # nothing was launched
