"""Gathers and scatters with computed indices on the GPU (tests/gpu/ndgather/ndgather.tlspec.yaml,
compiled into build/tlspec_ndgather): every output compared bit-exactly with a torch reference
written from docs/spec.md's definition (advanced indexing with a validity mask), random non-zero
inputs, outputs poisoned and guarded, ragged sizes (partial tiles of tokens, block tables
shorter than the tokens they should cover), and indices out of range in every way:

- a paged KV-cache read token by token, out[b, t] = cache[block_table[b, t // P], t % P], in
  float16 (-inf fill), bfloat16, float32 and int8 (-99 fill); page numbers -1, NP and far past
  NP gather the fill, and so do the tokens past the block table's end;
- a 4-D cache (heads x head_dim runs per token) with an int64 block table whose values lie past
  the int32 range (they must not wrap into the cache);
- two index buffers (int64 pages, int32 slots out of range too) into a shared tile, rows at
  `i - bx*8`, a run of the first 64 of 80 columns;
- the inverse scatter into the cache (float16, int8): distinct pages, rows out of range and
  tokens past the end write nothing, every other slot keeps its value;
- a gather (int64 pages) and a scatter (int32) through a block table whose rows lie apart
  (`strides: [LD, 1]`, a column slice of a wider table whose gaps hold pages out of range).

Imports only the compiled package, torch and pytest (TLSPEC_NDGATHER: the package directory).
"""
import pytest
from gpu_support import DEVICE, assert_guards, assert_same, compiled_package, guarded, \
    paged_reference, paged_scatter_reference, random, torch

kernels = compiled_package("TLSPEC_NDGATHER", "tlspec_ndgather", "tests/gpu/ndgather")
DTYPES = {"f16": (torch.float16, 72, float("-inf")), "bf16": (torch.bfloat16, 40, 0),
          "f32": (torch.float32, 36, 0), "i8": (torch.int8, 48, -99)}
P = 16
# (B, T, MAXP, NP): one token; a whole page; ragged tiles; a block table shorter than T
# (tokens 80..99 have no page); many sequences
SIZES = [(1, 1, 1, 1), (2, 16, 1, 3), (3, 37, 3, 10), (2, 100, 5, 4), (5, 300, 19, 64)]
FAR = [-1, 2**31 - 1]       # never pages; with NP itself set per test


def block_table(b, maxp, np_, dtype=torch.int32, far=()):
    """Random pages of [0, NP), then the first entries replaced by pages out of range."""
    table = torch.randint(0, np_, (b, maxp), device=DEVICE, dtype=torch.int64)
    bad = [np_, *FAR, *far][:table.numel() // 2]
    table.view(-1)[:len(bad)] = torch.tensor(bad, device=DEVICE)
    return table.to(dtype)


def run(name, *args):
    getattr(kernels, name)(*args)
    torch.cuda.synchronize()


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("b, t, maxp, np_", SIZES)
def test_paged_gather_token_by_token(tag, b, t, maxp, np_):
    dtype, d, fill = DTYPES[tag]
    cache, table = random((np_, P, d), dtype), block_table(b, maxp, np_)
    out = guarded((b, t, d), dtype)
    run(f"paged_{tag}", cache, table, out)
    assert_same(out, paged_reference(cache, table, t, fill), "out")
    assert_guards(out, "out")


@pytest.mark.parametrize("b, t, maxp, np_", SIZES)
def test_a_4d_cache_with_int64_pages_past_int32(b, t, maxp, np_):
    cache = random((np_, 8, 3, 16))
    table = block_table(b, maxp, np_, torch.int64, far=(2**32 + 1, -2**40))
    out = guarded((b, t, 3, 16))
    run("paged_heads_f16", cache, table, out)
    assert_same(out, paged_reference(cache, table, t, 0), "out")
    assert_guards(out, "out")


@pytest.mark.parametrize("r, np_", [(1, 1), (7, 3), (8, 5), (37, 9), (100, 40)])
def test_two_index_buffers_into_a_shared_tile(r, np_):
    cache = random((np_, P, 80))
    pages = torch.randint(0, np_, (r,), device=DEVICE)
    slots = torch.randint(0, P, (r,), device=DEVICE, dtype=torch.int32)
    pages[:3] = torch.tensor([2**32 + 1, -1, np_], device=DEVICE)[:r]
    slots[3:5] = torch.tensor([P, -1], device=DEVICE, dtype=torch.int32)[:max(r - 3, 0)]
    out = guarded((r, 64))
    run("page_slot_rows_f16", cache, pages, slots, out)
    ok = (pages >= 0) & (pages < np_) & (slots >= 0) & (slots < P)
    want = torch.zeros((r, 64), dtype=torch.float16, device=DEVICE)
    want[ok] = cache[pages[ok], slots[ok].long(), :64]
    assert_same(out, want, "out")
    assert_guards(out, "out")


def pitched(table, pad, gap):
    """`table` as the first columns of a wider one (rows maxp + pad apart), the gaps holding
    `gap`: a page out of range, which gathers the fill and writes nothing if read."""
    b, maxp = table.shape
    wide = torch.full((b, maxp + pad), gap, dtype=table.dtype, device=DEVICE)
    wide[:, :maxp] = table
    return wide[:, :maxp]


@pytest.mark.parametrize("tag, pad", [("f16", 0), ("i8", 0), ("i8", 3)])
@pytest.mark.parametrize("b, t, maxp", [(1, 1, 1), (2, 16, 1), (3, 37, 3), (2, 100, 5),
                                        (5, 300, 19)])
def test_paged_scatter_writes_only_its_slots(tag, pad, b, t, maxp):
    """pad > 0: through a block table whose rows lie maxp + pad apart (`pitched`)."""
    dtype, d, _ = DTYPES[tag]
    np_ = b * maxp + 3
    table = torch.randperm(np_, device=DEVICE)[:b * maxp].view(b, maxp).int()
    table.view(-1)[:2] = torch.tensor([-1, np_], device=DEVICE, dtype=torch.int32)[:b * maxp]
    if pad:
        table = pitched(table, pad, -1)
    tokens = random((b, t, d), dtype)
    cache = guarded((np_, P, d), dtype)
    cache.copy_(random((np_, P, d), dtype))
    want = paged_scatter_reference(cache, table, tokens)
    run("paged_write_pitched_table_i8" if pad else f"paged_write_{tag}", cache, table, tokens)
    assert_same(cache, want, "cache")
    assert_guards(cache, "cache")


@pytest.mark.parametrize("pad", [1, 6])
@pytest.mark.parametrize("b, t, maxp, np_", SIZES[1:])
def test_a_block_table_with_rows_apart(b, t, maxp, np_, pad):
    """(The block table was read row-major, ignoring its row stride: differential seed 26.)"""
    cache = random((np_, P, 72))
    table = pitched(block_table(b, maxp, np_, torch.int64), pad, np_)
    out = guarded((b, t, 72))
    run("paged_pitched_table_f16", cache, table, out)
    assert_same(out, paged_reference(cache, table, t, 0), "out")
    assert_guards(out, "out")

