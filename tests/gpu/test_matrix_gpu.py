"""The correctness matrix of issue 3: every kernel of tests/gpu/matrix/, compiled by `tlspec compile`
(on any machine), run on the GPU and compared bit-exactly with a torch reference on random inputs,
outputs poisoned first.

Per stage kind the matrix covers the dtypes float16, bfloat16, float32 and int8 and symbolic dims
launched with sizes that divide the tile and sizes that do not (partial tiles): copy by TMA (with
32-, 64- and 128-byte swizzled tiles) and by SIMT loops (padded, row-major and auto tiles, register
fragments with a loop_layout, global -> global, unaligned scalar copies); transpose (padded or
TMA-loaded source, TMA and SIMT stores, a batched 3-D form; the column and the blocks forms); gather
and scatter (int32 and int64 indices, column tiles, whole rows); im2col (stride 2, dilation 2,
padding 0 and 2, kernels 1, 2, 3 and 5, non-square images, OW != W, tiles spanning several taps, a
tile built in shared memory or written straight to global memory); `for` loops (nested, start != 0,
symbolic extents, TMA in a loop, double-buffered slots, fragments); copies loaded by cp.async (4, 8
and 16 bytes, zero fill past the end, a loop); tensor maps (two boxes of one tensor, one descriptor
shared by several copies). Every output lies inside a larger poisoned buffer, and the poison around
it must survive: no write lands past a partial tile.

Imports only the compiled package, torch and pytest: set TLSPEC_MATRIX to the package directory
(default: build/tlspec_matrix, what `tlspec compile tests/gpu/matrix -o build/tlspec_matrix`
writes).
"""
import json
from pathlib import Path

import pytest
from gpu_support import (DEVICE, assert_guards, assert_same, cases, compiled_package, guarded,
                         im2col_reference, index_tensor, random, torch)

kernels = compiled_package("TLSPEC_MATRIX", "tlspec_matrix", "tests/gpu/matrix")
PACKAGE = Path(kernels.__file__).parent
TAGS = ["f16", "bf16", "f32", "i8"]
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "i8": torch.int8}
VEC = {"f16": 8, "bf16": 8, "f32": 4, "i8": 16}    # elements in 16 bytes: the specs' multiple_of
# tests/gpu/matrix/tma.tlspec.yaml, tested in test_tma_gpu.py
TMA_KERNELS = {"tma_1d_f32", "tma_1d_for_f32", "tma_row_f32", "tma_swizzle_96_f16",
               "tma_slots_f16", "tma_rows4_bf16", "tma_after_padded_f16", "tma_int16",
               "tma_float8"}


def kernel(name):
    return getattr(kernels, name)


def sync():
    torch.cuda.synchronize()


def copy_to_b(name, dtype, m, n):
    """Run kernel `name` (B = A) on a random M x N matrix A and check B."""
    a = random((m, n), dtype)
    b = guarded((m, n), dtype)
    kernel(name)(a, b)
    sync()
    assert_same(b, a)
    assert_guards(b)


def copy_to_b_and_c(name, dtype, m, n):
    """Run kernel `name` (B = C = A) on a random M x N matrix A and check both outputs."""
    a = random((m, n), dtype)
    b, c = guarded((m, n), dtype), guarded((m, n), dtype)
    kernel(name)(a, b, c)
    sync()
    for label, out in (("B", b), ("C", c)):
        assert_same(out, a, label)
        assert_guards(out, label)


# -- copy --------------------------------------------------------------------------------------
def copy_sizes(tag):
    """(M, N): a size that divides every copy tile of the matrix, then ragged ones (N is kept a
    multiple of 16 bytes, the specs' multiple_of)."""
    v = VEC[tag]
    return [(256, 512), (1, v), (77, 13 * v), (333, 67 * v)]


COPY_CASES = [pytest.param(tag, m, n, id=f"{tag}-{m}x{n}") for tag in TAGS
              for m, n in copy_sizes(tag)]


@pytest.mark.parametrize("kind", ["copy_tma", "copy_simt", "copy_evict"])
@pytest.mark.parametrize("tag, m, n", COPY_CASES)
def test_copy(kind, tag, m, n):
    """B and C = A: copy_tma loads by TMA into a swizzled tile, stores B by TMA and C by a SIMT
    loop; copy_simt goes through a shared tile and a fragment to B, and global -> global to C;
    copy_evict is copy_simt with L2 eviction hints on every global access (16-, 8-, 4- and
    2-byte hinted accesses across the dtypes)."""
    copy_to_b_and_c(f"{kind}_{tag}", DTYPES[tag], m, n)


@pytest.mark.parametrize("tag", ["f32", "i8"])
@pytest.mark.parametrize("m, n", cases((256, 512), (1, 1), (77, 101), (333, 1001), (16, 63)))
def test_copy_unaligned(tag, m, n):
    """Any M x N (rows not 16-byte aligned): scalar SIMT copies through shared memory."""
    copy_to_b(f"copy_unaligned_{tag}", DTYPES[tag], m, n)


@pytest.mark.parametrize("m, n", cases((256, 512), (1, 4), (129, 68), (333, 1000)))
def test_copy_evict_chunked(m, n):
    """32 hinted vectors per thread and copy: staged through registers in chunks of 16."""
    copy_to_b_and_c("copy_evict_chunked_f32", torch.float32, m, n)


def test_outputs_allocated():
    """With the outputs left out, the wrapper allocates and returns both."""
    a = random((100, 136), torch.float16)
    b, c = kernel("copy_tma_f16")(a)
    sync()
    assert_same(b, a, "B")
    assert_same(c, a, "C")


# -- transpose ---------------------------------------------------------------------------------
def transpose_sizes(tag):
    v = VEC[tag]
    return [(256, 512), (v, v), (13 * v, 7 * v), (33 * v, 19 * v)]


TRANSPOSE_CASES = [pytest.param(tag, m, n, id=f"{tag}-{m}x{n}") for tag in TAGS
                   for m, n in transpose_sizes(tag)]


@pytest.mark.parametrize("form", ["", "blocks_"])
@pytest.mark.parametrize("tag, m, n", TRANSPOSE_CASES)
def test_transpose(tag, m, n, form):
    """B = C = A^T, M x N -> N x M; B stored by TMA, C by a SIMT loop; both transpose forms."""
    dtype = DTYPES[tag]
    a = random((m, n), dtype)
    b, c = guarded((n, m), dtype), guarded((n, m), dtype)
    kernel(f"transpose_{form}{tag}")(a, b, c)
    sync()
    expected = a.t().contiguous()
    for name, out in (("B", b), ("C", c)):
        assert_same(out, expected, name)
        assert_guards(out, name)


@pytest.mark.parametrize("form", ["", "blocks_"])
@pytest.mark.parametrize("batch, m, n", cases((1, 32, 64), (2, 64, 32), (3, 40, 104), (5, 8, 8)))
def test_transpose_batched(batch, m, n, form):
    """B[b] = C[b] = A[b]^T, two matrices per block: an odd batch leaves half a block outside."""
    a = random((batch, m, n), torch.float16)
    b, c = guarded((batch, n, m), torch.float16), guarded((batch, n, m), torch.float16)
    kernel(f"transpose_{form}batched_f16")(a, b, c)
    sync()
    expected = a.transpose(1, 2).contiguous()
    for name, out in (("B", b), ("C", c)):
        assert_same(out, expected, name)
        assert_guards(out, name)


# -- gather / scatter --------------------------------------------------------------------------
def indexed_sizes(tag):
    """(V, D, NI): table rows, row width, indices. 16 rows and 64 columns (128 for int8) per
    block: the first divides both, the others leave partial tiles."""
    v = VEC[tag]
    return [(1000, 256, 64), (999, 5 * v, 37), (50, 13 * v, 1), (4096, 192 + v, 1000)]


INDEXED_CASES = [pytest.param(tag, rows, d, ni, id=f"{tag}-{rows}x{d}-{ni}") for tag in TAGS
                 for rows, d, ni in indexed_sizes(tag)]
GATHER_INDEX = {"f16": torch.int32, "bf16": torch.int32, "f32": torch.int32, "i8": torch.int32}
SCATTER_INDEX = {"f16": torch.int32, "bf16": torch.int32, "f32": torch.int32, "i8": torch.int64}


@pytest.mark.parametrize("suffix", ["", "_evict"])
@pytest.mark.parametrize("tag, rows, d, ni", INDEXED_CASES)
def test_gather(tag, rows, d, ni, suffix):
    """out[i, :] = table[idx[i], :], with repeated indices (_evict: with L2 eviction hints)."""
    dtype = DTYPES[tag]
    table = random((rows, d), dtype)
    values = torch.randint(0, rows, (ni,), device=DEVICE)
    idx = index_tensor(values, torch.randint(0, rows, (16,), device=DEVICE), GATHER_INDEX[tag])
    out = guarded((ni, d), dtype)
    kernel(f"gather_{tag}{suffix}")(table, idx, out)
    sync()
    assert_same(out, table[values])
    assert_guards(out)


@pytest.mark.parametrize("rows, ni", cases((1000, 64), (77, 13), (5, 1), (4096, 1001)))
def test_gather_whole_rows(rows, ni):
    """Whole 100-element fp32 rows, int64 indices, 8 rows per block."""
    table = random((rows, 100), torch.float32)
    values = torch.randint(0, rows, (ni,), device=DEVICE)
    idx = index_tensor(values, torch.randint(0, rows, (8,), device=DEVICE), torch.int64)
    out = guarded((ni, 100), torch.float32)
    kernel("gather_whole_f32")(table, idx, out)
    sync()
    assert_same(out, table[values])
    assert_guards(out)


@pytest.mark.parametrize("suffix", ["", "_evict"])
@pytest.mark.parametrize("tag, rows, d, ni", INDEXED_CASES)
def test_scatter(tag, rows, d, ni, suffix):
    """table[idx[i], :] = rows[i, :] for distinct indices; the other rows keep their values. The
    memory past the index tensor names other rows of the table: a partial tile must not touch
    them."""
    dtype = DTYPES[tag]
    table = guarded((rows, d), dtype)
    table.copy_(random((rows, d), dtype))
    perm = torch.randperm(rows, device=DEVICE)
    values, untouched = perm[:ni], perm[ni:ni + 16]
    idx = index_tensor(values, untouched, SCATTER_INDEX[tag])
    src = random((ni, d), dtype)
    expected = table.clone()
    expected[values] = src
    kernel(f"scatter_{tag}{suffix}")(table, idx, src)
    sync()
    assert_same(table, expected, "table")
    assert_guards(table, "table")


# -- im2col ------------------------------------------------------------------------------------
# kernel name -> (dtype tag, kernel size, stride, dilation, pad, C)
IM2COL = {
    "im2col_k3s2d2p2_f16": ("f16", 3, 2, 2, 2, 64),
    "im2col_k3s1d1p0_f16": ("f16", 3, 1, 1, 0, 24),
    "im2col_k3s2d1p0_f16_global": ("f16", 3, 2, 1, 0, 40),
    "im2col_k3s2d2p2_bf16": ("bf16", 3, 2, 2, 2, 128),
    "im2col_k2s1d2p2_bf16": ("bf16", 2, 1, 2, 2, 16),
    "im2col_k3s2d2p2_f32": ("f32", 3, 2, 2, 2, 32),
    "im2col_k5s1d1p2_f32": ("f32", 5, 1, 1, 2, 12),
    "im2col_k3s2d2p2_i8": ("i8", 3, 2, 2, 2, 20),
    "im2col_k1s2d1p0_i8": ("i8", 1, 2, 1, 0, 48),
    "im2col_k3s2d1p0_f16_global_evict": ("f16", 3, 2, 1, 0, 40),    # with L2 eviction hints
    "im2col_k3s2d2p2_i8_evict": ("i8", 3, 2, 2, 2, 20),
}


def out_size(size, k, s, d, p):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def im2col_sizes(name):
    """(N, H, W): non-square images, then a square one whose N*OH*OW is a multiple of the
    64-row tile (OH = OW = 8)."""
    _, k, s, d, p, _ = IM2COL[name]
    side = next(h for h in range(1, 64) if out_size(h, k, s, d, p) == 8)
    return [(1, 7, 9), (3, 13, 21), (2, 56, 30), (1, side, side), (2, side, side)]


IM2COL_CASES = [pytest.param(name, n, h, w, id=f"{name}-{n}x{h}x{w}") for name in IM2COL
                for n, h, w in im2col_sizes(name)]


@pytest.mark.parametrize("name, n, h, w", IM2COL_CASES)
def test_im2col(name, n, h, w):
    tag, k, s, d, p, c = IM2COL[name]
    oh, ow = out_size(h, k, s, d, p), out_size(w, k, s, d, p)
    img = random((n, h, w, c), DTYPES[tag])
    col = guarded((n * oh * ow, k * k * c), DTYPES[tag])
    kernel(name)(img, col)
    sync()
    expected = im2col_reference(img, k, s, d, p)
    assert expected.shape == col.shape
    assert_same(col, expected, "col")
    assert_guards(col, "col")


# -- for loops ---------------------------------------------------------------------------------
@pytest.mark.parametrize("m, n", cases((64, 32), (128, 100), (192, 260), (64, 4)))
def test_for_tma(m, n):
    """Nested loops (start 1; a symbolic extent, odd or even) around TMA loads of one tile."""
    copy_to_b_and_c("for_tma_f32", torch.float32, m, n)


@pytest.mark.parametrize("m, n", cases((16, 128), (17, 8), (100, 136), (33, 1000)))
def test_for_slots(m, n):
    """A loop over double-buffered slots A_s[k % 2] with explicit sync_threads."""
    copy_to_b("for_slots_bf16", torch.bfloat16, m, n)


@pytest.mark.parametrize("m, n", cases((16, 272), (31, 512), (100, 784), (1, 1040)))
def test_for_fragment(m, n):
    """A fragment filled and drained before a loop starting at 1 and in every iteration."""
    copy_to_b("for_fragment_i8", torch.int8, m, n)


# -- cp.async ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tag, m, n", COPY_CASES)
def test_cp_async(tag, m, n):
    """B and C = A: the tile loaded by cp.async (16, 16, 8 and 4 bytes per copy; swizzled,
    padded and row-major tiles; zero fill past the end of A), stored to B by TMA (a SIMT loop
    for bf16) and to C by a SIMT loop."""
    copy_to_b_and_c(f"cp_async_{tag}", DTYPES[tag], m, n)


@pytest.mark.parametrize("m, n", cases((16, 128), (17, 8), (100, 136), (33, 1000)))
def test_cp_async_for(m, n):
    """A loop of cp.async loads into one tile, each stored by TMA and a SIMT loop before the
    next iteration overwrites it."""
    copy_to_b_and_c("cp_async_for_f16", torch.float16, m, n)


@pytest.mark.parametrize("m, n", cases((64, 64), (1, 4), (33, 36), (77, 500)))
def test_cp_async_zero_fill(m, n):
    """B = A padded with zeros to whole 32 x 32 tiles and one more row and column of tiles: the
    zeros are cp.async's own fill. A lies at the start of a larger random buffer, so a copy that
    read past its end instead of filling would copy non-zero values."""
    a = random((m * n + 4096,), torch.float32)[:m * n].view(m, n)
    mp, np_ = (m // 32 + 2) * 32, (n // 32 + 2) * 32
    b = guarded((mp, np_), torch.float32)
    kernel("cp_async_zfill_f32")(a, b)
    sync()
    expected = torch.zeros((mp, np_), dtype=torch.float32, device=DEVICE)
    expected[:m, :n] = a
    assert_same(b, expected)
    assert_guards(b)


# -- tensor maps -------------------------------------------------------------------------------
TMA_MAPS_CASES = [pytest.param(name, m, n, id=f"{name}-{m}x{n}") for name in
                  ("tma_two_boxes_f16", "tma_shared_maps_f16")
                  for m, n in ((96, 128), (100, 136), (17, 8), (48, 1000), (1, 264))]


@pytest.mark.parametrize("name, m, n", TMA_MAPS_CASES)
def test_tma_maps(name, m, n):
    """B = A through two tensor maps of A (16- and 32-row boxes) and two of B, each parameter
    its own; and through four TMA loads sharing one descriptor of A and four stores one of B."""
    copy_to_b(name, torch.float16, m, n)


# -- coverage ----------------------------------------------------------------------------------
def test_every_matrix_kernel_is_tested():
    """Every kernel of the compiled matrix has its test above, and every test its kernel."""
    compiled = set(json.loads((PACKAGE / "_tlspec_package.json").read_text())["kernels"])
    expected = {f"{kind}_{tag}" for kind in ("copy_tma", "copy_simt", "copy_evict", "transpose",
                                             "gather", "scatter") for tag in TAGS}
    expected |= {f"{kind}_{tag}_evict" for kind in ("gather", "scatter") for tag in TAGS}
    expected.add("copy_evict_chunked_f32")
    expected |= {f"transpose_blocks_{tag}" for tag in TAGS} | {"transpose_blocks_batched_f16"}
    expected |= {"copy_unaligned_f32", "copy_unaligned_i8", "transpose_batched_f16",
                 "gather_whole_f32", "for_tma_f32", "for_slots_bf16", "for_fragment_i8"}
    expected |= set(IM2COL)
    expected |= {f"cp_async_{tag}" for tag in TAGS} | {"cp_async_for_f16", "cp_async_zfill_f32"}
    expected |= {"tma_two_boxes_f16", "tma_shared_maps_f16"}
    expected |= TMA_KERNELS          # tested in test_tma_gpu.py
    assert compiled == expected, f"untested: {sorted(compiled - expected)}; " \
                                 f"missing from the package: {sorted(expected - compiled)}"
