"""sm_80 kernels run through their PTX: tests/gpu/sm80/ compiled for `target: sm_80` (on any
machine: `tlspec compile tests/gpu/sm80 -o build/tlspec_sm80`), run on the GPU and compared
bit-exactly with torch on random inputs, outputs poisoned first. On a GPU that is not an Ampere
one (an H200: compute capability 9.0) an sm_80 cubin cannot run, so the run time must load the
kernel's compute_80 PTX, which the driver compiles for the GPU: each test asserts that it did.

Covered: copies through padded and swizzled shared tiles by SIMT loops (float16, int8) and by
cp.async (16-byte bfloat16 copies with zero fill; 4-byte float32 copies in a `for` loop), a
float32 transpose, a float16 gather, an int8 scatter with int64 indices and a bfloat16 im2col,
every dim symbolic, with sizes that divide the tiles and sizes that do not.

Imports only the compiled package, torch and pytest: set TLSPEC_SM80 to the package directory
(default: build/tlspec_sm80).
"""
import sys

import pytest
from gpu_support import (DEVICE, assert_guards, assert_same, cases, compiled_package, guarded,
                         im2col_reference, index_tensor, random, torch)

kernels = compiled_package("TLSPEC_SM80", "tlspec_sm80", "tests/gpu/sm80")
# an sm_80 cubin runs on compute capability 8.x only; anywhere else the PTX must be loaded
EXPECTED_IMAGE = "cubin" if torch.cuda.get_device_capability()[0] == 8 else "ptx"


def launch(name, *args):
    """Run kernel `name`, wait for it, and check which image the run time loaded."""
    getattr(kernels, name)(*args)
    torch.cuda.synchronize()
    module = sys.modules[f"{kernels.__name__}.{name}"]
    # the kernel that ran: the general one, or its aligned variant for aligned sizes
    ran = [k for k in (module._KERNEL, getattr(module, "_ALIGNED", None))
           if k is not None and k.image is not None]
    assert ran, f"{name}: no image loaded"
    for loaded in ran:
        assert (loaded.arch, loaded.ptx_arch) == ("sm_80", "compute_80")
        assert loaded.image == EXPECTED_IMAGE, f"{name} was loaded from its {loaded.image}"


@pytest.mark.parametrize("name, dtype", [("sm80_copy_f16", torch.float16),
                                         ("sm80_copy_i8", torch.int8),
                                         ("sm80_cp_async_bf16", torch.bfloat16),
                                         ("sm80_cp_async_f32", torch.float32)])
@pytest.mark.parametrize("m, n", cases((128, 256), (64, 64), (100, 136), (7, 1000), (1, 8)))
def test_copy(name, dtype, m, n):
    a = random((m, n), dtype)
    b = guarded((m, n), dtype)
    launch(name, a, b)
    assert_same(b, a)
    assert_guards(b)


@pytest.mark.parametrize("m, n", cases((64, 64), (96, 32), (100, 36), (4, 1000)))
def test_transpose(m, n):
    a = random((m, n), torch.float32)
    b = guarded((n, m), torch.float32)
    launch("sm80_transpose_f32", a, b)
    assert_same(b, a.t().contiguous())
    assert_guards(b)


@pytest.mark.parametrize("rows, d, ni", cases((1000, 64, 100), (77, 200, 13), (5, 8, 1),
                                              (4096, 1024, 1001)))
def test_gather(rows, d, ni):
    """With repeated indices; the memory past the index tensor holds valid indices."""
    table = random((rows, d), torch.float16)
    values = torch.randint(0, rows, (ni,), device=DEVICE)
    idx = index_tensor(values, torch.randint(0, rows, (16,), device=DEVICE), torch.int32)
    out = guarded((ni, d), torch.float16)
    launch("sm80_gather_f16", table, idx, out)
    assert_same(out, table[values])
    assert_guards(out)


@pytest.mark.parametrize("rows, d, ni", cases((1000, 64, 100), (77, 208, 13), (40, 16, 5),
                                              (4096, 1024, 1001)))
def test_scatter(rows, d, ni):
    """Distinct indices; the other rows keep their values, and the memory past the index tensor
    names other rows, which a partial tile must not touch."""
    table = guarded((rows, d), torch.int8)
    table.copy_(random((rows, d), torch.int8))
    perm = torch.randperm(rows, device=DEVICE)
    values, untouched = perm[:ni], perm[ni:ni + 32]
    idx = index_tensor(values, untouched, torch.int64)
    src = random((ni, d), torch.int8)
    expected = table.clone()
    expected[values] = src
    launch("sm80_scatter_i8", table, idx, src)
    assert_same(table, expected, "table")
    assert_guards(table, "table")


@pytest.mark.parametrize("n, h, w", cases((2, 16, 16), (1, 9, 13), (3, 5, 7)))
def test_im2col(n, h, w):
    k, s, d, p, c = 3, 2, 2, 2, 64
    oh, ow = (h + 2 * p - d * (k - 1) - 1) // s + 1, (w + 2 * p - d * (k - 1) - 1) // s + 1
    img = random((n, h, w, c), torch.bfloat16)
    col = guarded((n * oh * ow, k * k * c), torch.bfloat16)
    launch("sm80_im2col_bf16", img, col)
    assert_same(col, im2col_reference(img, k, s, d, p), "col")
    assert_guards(col, "col")


@pytest.mark.parametrize("src, dst, src_dtype, dsts", [
    ("e4m3", "sm80_cast_e4m3", torch.float8_e4m3fn, (torch.float32, torch.float16,
                                                     torch.float8_e5m2)),
    ("e5m2", "sm80_cast_e5m2", torch.float8_e5m2, (torch.float32, torch.bfloat16,
                                                   torch.float8_e4m3fn)),
])
def test_float8_conversions_of_every_pattern(src, dst, src_dtype, dsts):
    """All 256 patterns (three rows of them), through the PTX on the H200: tvm's float8 cast
    legalization for sm_80 rebiased the exponent (0 -> 2^-15, subnormals and infinities wrong);
    bit for bit with torch's .to(), NaNs included."""
    a = torch.arange(256, dtype=torch.int32, device=DEVICE).to(torch.uint8).repeat(3, 1) \
        .view(src_dtype)
    outs = [guarded((3, 256), d) for d in dsts]
    launch(dst, a, *outs)
    for out, d in zip(outs, dsts):
        assert_same(out, a.to(d), f"{src} -> {d}")
        assert_guards(out, str(d))
