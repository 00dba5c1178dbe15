"""gather and scatter in the interpreter: column tiles with partial edges, repeated indices,
index values outside the table (negative, past the end, int64 values that would wrap to a row if
truncated), index positions past the end of the index tensor, an index tile in shared memory."""
from __future__ import annotations

import numpy as np
import pytest

import references
from interpret_support import assert_same, kernel, poisoned, random, spec

def indexed(kind: str, rows_name: str, dtype: str, index: str, stage: str, rows: str = "NI",
            grid: str = '{bx: "ceildiv(NI, 4)", by: "ceildiv(D, 8)"}'):
    """A gather (table in, rows out) or scatter (table inout, rows in) between a V x D table
    and `rows` rows."""
    table_io, rows_io = ("in", "out") if kind == "gather" else ("inout", "in")
    dims = ", ".join(f"{d}: symbolic" for d in dict.fromkeys(("V", "D", "NI", rows)))
    return kernel(spec(f"{kind}_tiles", dims=f"{{{dims}}}", grid=grid, buffers=f"""
        table: {{scope: global, shape: [V, D], dtype: {dtype}, io: {table_io}}}
        idx:   {{scope: global, shape: [NI], dtype: {index}, io: in}}
        {rows_name}: {{scope: global, shape: [{rows}, D], dtype: {dtype}, io: {rows_io}}}
    """, stages=stage))


def gather_tiles(dtype: str, index: str):
    return indexed("gather", "out", dtype, index, """
        - gather: {src: "table[:, by*8 : +8]", dst: "out[bx*4 : +4, by*8 : +8]", index: "idx[bx*4 : +4]"}
    """)


def scatter_tiles(dtype: str, index: str):
    return indexed("scatter", "rows", dtype, index, """
        - scatter: {src: "rows[bx*4 : +4, by*8 : +8]", dst: "table[:, by*8 : +8]", index: "idx[bx*4 : +4]"}
    """)


@pytest.mark.parametrize("dtype, index", [("float16", "int32"), ("int8", "int64"),
                                          ("float8_e5m2", "int32"), ("uint32", "int64")])
@pytest.mark.parametrize("v, d, ni", [(10, 16, 8), (7, 13, 5), (100, 3, 1), (3, 40, 33)])
def test_gather_with_repeats_and_partial_tiles(dtype, index, v, d, ni):
    table = random((v, d), dtype)
    idx = np.random.default_rng(1).integers(0, v, ni).astype(index)
    out = gather_tiles(dtype, index)(table, idx)
    assert_same(out, references.gather(table, idx, poisoned((ni, d), dtype)))


def test_gather_indices_outside_the_table_give_zeros():
    """Negative, V, and 2**32 + 1 (row 1 if it were truncated to 32 bits) gather zeros."""
    table = random((6, 8), "float32")
    idx = np.array([0, -1, 6, 2**32 + 1, 5, -2**40, 3], np.int64)
    out = gather_tiles("float32", "int64")(table, idx)
    expected = references.gather(table, idx, poisoned((7, 8), "float32"))
    assert not expected[[1, 2, 3, 5]].any()
    assert_same(out, expected)


def test_gather_positions_past_the_index_tensor_write_nothing():
    """The output has more rows than there are indices: the rows of the last tile past the
    index tensor keep their values (the rows past the whole tile too)."""
    gather = indexed("gather", "out", "uint16", "int32", rows="NP", grid='{bx: "ceildiv(NI, 4)"}',
                     stage="""
        - gather: {src: table, dst: "out[bx*4 : +4, :]", index: "idx[bx*4 : +4]"}
    """)
    table = random((9, 4), "uint16")
    idx = np.array([8, 0, 3, 3, 1, 7], np.int32)
    out = gather(table, idx, poisoned((10, 4), "uint16"))
    expected = poisoned((10, 4), "uint16")
    expected[:6] = table[idx]
    assert_same(out, expected)


def test_gather_with_an_index_tile_into_a_fragment():
    """Indices copied into shared memory first, rows gathered into a fragment, then stored."""
    gather = kernel("""
        name: gather_staged
        dims: {V: symbolic, NI: symbolic}
        buffers:
          table: {scope: global, shape: [V, 16], dtype: bfloat16, io: in}
          idx:   {scope: global, shape: [NI], dtype: int32, io: in}
          out:   {scope: global, shape: [NI, 16], dtype: bfloat16, io: out}
          idx_s: {scope: shared, shape: [8], dtype: int32}
          rows:  {scope: fragment, shape: [8, 16], dtype: bfloat16}
        launch:
          grid: {bx: "ceildiv(NI, 8)"}
          threads: 64
        stages:
          - copy: {src: "idx[bx*8 : +8]", dst: idx_s}
          - gather: {src: table, dst: rows, index: idx_s}
          - copy: {src: rows, dst: "out[bx*8 : +8, :]"}
    """)
    table = random((5, 16), "bfloat16")
    idx = np.array([4, 4, 0, 2, 9, 1, -3, 3, 2, 0, 1], np.int32)
    # the tile of indices past the end reads index 0: rows 11..15 of the last tile gather row 0,
    # and are dropped with the store past the end of `out`
    assert_same(gather(table, idx), references.gather(table, idx, poisoned((11, 16), "bfloat16")))


@pytest.mark.parametrize("dtype, index", [("float16", "int32"), ("int8", "int64"),
                                          ("float64", "int32")])
@pytest.mark.parametrize("v, d, ni", [(16, 16, 8), (9, 13, 5), (50, 3, 1), (40, 20, 33)])
def test_scatter_distinct_indices(dtype, index, v, d, ni):
    table = random((v, d), dtype)
    idx = np.random.default_rng(2).permutation(v)[:ni].astype(index)
    rows = random((ni, d), dtype, seed=3)
    expected = references.scatter(table, idx, rows)
    out = scatter_tiles(dtype, index)(table, idx, rows)
    assert out is table
    assert_same(table, expected)


def test_scatter_indices_outside_the_table_write_nothing():
    table = random((6, 8), "int32")
    idx = np.array([5, -1, 6, 2**32 + 1, 0, 2**62], np.int64)
    rows = random((6, 8), "int32", seed=4)
    expected = references.scatter(table, idx, rows)
    scatter_tiles("int32", "int64")(table, idx, rows)
    assert_same(table, expected)


def test_scatter_positions_past_the_index_tensor_write_nothing():
    """More rows than indices: the rows past the index tensor are not scattered anywhere."""
    scatter = indexed("scatter", "rows", "uint8", "int32", rows="R", grid='{bx: "ceildiv(R, 4)"}',
                      stage="""
        - scatter: {src: "rows[bx*4 : +4, :]", dst: table, index: "idx[bx*4 : +4]"}
    """)
    table = random((10, 4), "uint8")
    idx = np.array([9, 0, 4, 2, 7], np.int32)
    rows = random((8, 4), "uint8", seed=5)
    expected = references.scatter(table, idx, rows[:5])
    scatter(table, idx, rows)
    assert_same(table, expected)


def test_index_positions_before_the_index_tensor_write_nothing():
    """The index region starts S positions before the index tensor (S known only at a call):
    those positions, like those past its end, move nothing."""
    gather = kernel(spec("gather_shifted", dims="{V: symbolic, NI: symbolic, NP: symbolic, "
                                                 "S: symbolic}",
                         grid='{bx: "ceildiv(NP, 4)"}', buffers="""
        table: {scope: global, shape: [V, 4], dtype: uint16, io: in}
        idx:   {scope: global, shape: [NI], dtype: int32, io: in}
        out:   {scope: global, shape: [NP, 4], dtype: uint16, io: out}
        shift: {scope: global, shape: [S], dtype: uint8, io: in}
    """, stages="""
        - gather: {src: table, dst: "out[bx*4 : +4, :]", index: "idx[bx*4 - S : +4]"}
    """))
    table = random((9, 4), "uint16")
    idx = np.array([8, 0, 3, 3, 1], np.int32)
    out = gather(table, idx, poisoned((8, 4), "uint16"), random((2,), "uint8"))
    expected = poisoned((8, 4), "uint16")
    expected[2:7] = table[idx]
    assert_same(out, expected)
