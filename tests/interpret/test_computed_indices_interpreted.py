"""The interpreter on gathers and scatters with computed indices: the kernels of
tests/gpu/ndgather/ (the GPU test's, so both agree on what they compute) against numpy references
written from docs/spec.md, on ragged sizes with indices out of range in every way; and the
debug mode `out_of_range: error`, whose faults name the index, its value and the row."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT
from interpret_support import kernel, spec
from tlspec.fill import fill_bits
from tlspec.interpret import InterpretError, load

KERNELS = load(str(ROOT / "tests" / "gpu" / "ndgather" / "ndgather.tlspec.yaml"))
BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32}
DTYPES = {"f16": ("float16", 2, 72, "-inf"), "bf16": ("bfloat16", 2, 40, 0),
          "f32": ("float32", 4, 36, 0), "i8": ("int8", 1, 48, -99)}
P = 16
SIZES = [(1, 1, 1, 1), (2, 16, 1, 3), (3, 37, 3, 10), (2, 100, 5, 4), (2, 150, 10, 30)]


def random_bits(shape, size, seed=0):
    return np.random.default_rng(seed).integers(1, 2**(8 * size) - 1, shape, dtype=BITS[size])


def block_table(b, maxp, pages, dtype=np.int32, far=()):
    table = np.random.default_rng(1).integers(0, pages, (b, maxp)).astype(np.int64)
    bad = [pages, -1, 2**31 - 1, *far][:table.size // 2]
    table.reshape(-1)[:len(bad)] = bad
    return table.astype(dtype)


def paged_reference(cache, table, t, fill_value):
    """out[b, t] = cache[table[b, t // P], t % P]; the fill where there is no such page."""
    b, maxp = table.shape
    out = np.full((b, t, *cache.shape[2:]), fill_value, cache.dtype)
    for i in range(b):
        for token in range(t):
            j, slots = token // cache.shape[1], cache.shape[1]
            page = int(table[i, j]) if j < maxp else -1
            if 0 <= page < cache.shape[0]:
                out[i, token] = cache[page, token % slots]
    return out


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("b, t, maxp, pages", SIZES)
def test_paged_gather(tag, b, t, maxp, pages):
    dtype, size, d, fill = DTYPES[tag]
    cache, table = random_bits((pages, P, d), size), block_table(b, maxp, pages)
    out = np.full((b, t, d), 2**(8 * size) - 1, BITS[size])
    getattr(KERNELS, f"paged_{tag}")(cache, table, out)
    assert np.array_equal(out, paged_reference(cache, table, t, fill_bits(fill, dtype)))


@pytest.mark.parametrize("b, t, maxp, pages", SIZES)
def test_a_4d_cache_with_int64_pages_past_int32(b, t, maxp, pages):
    cache = random_bits((pages, 8, 3, 16), 2)
    table = block_table(b, maxp, pages, np.int64, far=(2**32 + 1, -2**40))
    out = np.full((b, t, 3, 16), 0xFFFF, np.uint16)
    KERNELS.paged_heads_f16(cache, table, out)
    assert np.array_equal(out, paged_reference(cache, table, t, 0))


@pytest.mark.parametrize("r, pages", [(1, 1), (7, 3), (8, 5), (37, 9)])
def test_two_index_buffers_into_a_shared_tile(r, pages):
    rng = np.random.default_rng(r)
    cache = random_bits((pages, P, 80), 2)
    page = rng.integers(0, pages, r).astype(np.int64)
    slot = rng.integers(0, P, r).astype(np.int32)
    page[:3] = [2**32 + 1, -1, pages][:r]
    slot[3:5] = [P, -1][:max(r - 3, 0)]
    out = np.full((r, 64), 0xFFFF, np.uint16)
    KERNELS.page_slot_rows_f16(cache, page, slot, out)
    want = np.zeros((r, 64), np.uint16)
    for i in range(r):
        if 0 <= page[i] < pages and 0 <= slot[i] < P:
            want[i] = cache[page[i], slot[i], :64]
    assert np.array_equal(out, want)


@pytest.mark.parametrize("tag", ["f16", "i8"])
@pytest.mark.parametrize("b, t, maxp", [(1, 1, 1), (2, 16, 1), (3, 37, 3), (2, 100, 5)])
def test_paged_scatter(tag, b, t, maxp):
    _, size, d, _ = DTYPES[tag]
    pages = b * maxp + 3
    table = np.random.default_rng(2).permutation(pages)[:b * maxp].reshape(b, maxp)
    table = table.astype(np.int32)
    table.reshape(-1)[:2] = [-1, pages][:b * maxp]
    tokens, cache = random_bits((b, t, d), size, 3), random_bits((pages, P, d), size, 4)
    want = cache.copy()
    for i in range(b):
        for token in range(min(t, maxp * P)):
            page = table[i, token // P]
            if 0 <= page < pages:
                want[page, token % P] = tokens[i, token]
    getattr(KERNELS, f"paged_write_{tag}")(cache, table, tokens)
    assert np.array_equal(cache, want)


DEBUG = spec("debug_paged", """
    cache: {scope: global, shape: [NP, 4, 8], dtype: float16, io: in}
    table: {scope: global, shape: [2, MAXP], dtype: int32, io: in}
    out:   {scope: global, shape: [2, T, 8], dtype: float16, io: out}
    """, """
    - gather:
        src: cache
        dst: "out[by, t, :]"
        index: ["table[by, t // 4]", "t % 4"]
        each: {t: "bx*4 : +4"}
        out_of_range: error
    """, dims="{NP: symbolic, MAXP: symbolic, T: symbolic}",
             grid='{bx: "ceildiv(T, 4)", by: 2}')


def test_the_debug_mode_names_the_index_its_value_and_the_row():
    gather = kernel(DEBUG)
    cache = random_bits((3, 4, 8), 2)
    gather(cache, np.array([[0, 2], [1, 2]], np.int32), np.zeros((2, 8, 8), np.uint16))
    with pytest.raises(InterpretError) as error:
        gather(cache, np.array([[0, 2], [1, 7]], np.int32), np.zeros((2, 8, 8), np.uint16))
    assert "block (bx=1, by=1): at row t = 4, index 0 'table[by, t // 4]' is 7, outside " \
           "[0, 3) of dimension 0 of 'cache'" in str(error.value)
    with pytest.raises(InterpretError) as error:
        gather(cache, np.array([[0, 2], [1, 2]], np.int32), np.zeros((2, 9, 8), np.uint16))
    assert "block (bx=2, by=0): at row t = 8, 'table[by, t // 4]' reads table[0, 2], outside " \
           "'table' (shape [2, 2])" in str(error.value)


def test_the_debug_mode_of_an_index_region():
    gather = kernel(spec("debug_rows", """
        table: {scope: global, shape: [5, 8], dtype: int8, io: in}
        idx:   {scope: global, shape: [4], dtype: int64, io: in}
        out:   {scope: global, shape: [4, 8], dtype: int8, io: out}
        """, """
        - gather: {src: table, dst: out, index: idx, out_of_range: error}
        """))
    with pytest.raises(InterpretError) as error:
        gather(random_bits((5, 8), 1), np.array([0, 4, -1, 2]), np.zeros((4, 8), np.uint8))
    assert "index position 2 of 'idx' holds -1, outside the table's rows [0, 5)" \
        in str(error.value)


@pytest.mark.parametrize("b, t, maxp, pages", SIZES[1:])
def test_a_block_table_with_rows_apart(b, t, maxp, pages):
    """The block table a column slice of a wider one whose gaps hold pages out of range."""
    cache = random_bits((pages, P, 72), 2)
    wide = np.full((b, maxp + 3), pages, np.int64)
    wide[:, :maxp] = block_table(b, maxp, pages, np.int64)
    table = wide[:, :maxp]
    out = np.full((b, t, 72), 2**16 - 1, np.uint16)
    KERNELS.paged_pitched_table_f16(cache, table, out)
    assert np.array_equal(out, paged_reference(cache, table, t, 0))
