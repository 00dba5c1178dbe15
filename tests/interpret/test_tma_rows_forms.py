"""The TMA gather4 / scatter4 forms (`rows: 4`, sm_100a) in the interpreter: the rows a gather4
moves land on its barrier as a TMA load's box does (read before the wait: in flight), a position
past the end of a global index tensor gathers row -1 (zeros, where the plain gather writes
nothing), and a scatter4 is a TMA store that reads its rows until tma_store_wait. The expected
values are numpy indexing; specs/gather4_blackwell's kernels run in test_async_examples."""
from __future__ import annotations

import numpy as np
import pytest

from interpret_support import kernel, random, spec
from tlspec.interpret import InterpretError

TABLE = """
    table: {scope: global, shape: [16, 64], dtype: float16, io: in}
    idx:   {scope: global, shape: [R], dtype: int32, io: in}
    out:   {scope: global, shape: [8, 64], dtype: float16, io: out}
    G_s:   {scope: shared, shape: [8, 64], dtype: float16}
"""
GATHER4 = """
    - alloc_barrier: {name: bar}
    - barrier_arrive: {barrier: bar, expect_tx: 1024}
    - gather: {src: table, dst: G_s, index: "idx[0 : +8]", rows: 4, barrier: bar}
    WAIT
    - copy: {src: G_s, dst: out}
"""
WAIT = "- barrier_wait: {barrier: bar, parity: 0}"


def gather4(stages: str):
    return kernel("target: sm_100a\n" + spec("gather4", TABLE, stages,
                                             dims="{R: {symbolic: true}}", threads=128))


def test_gather4_rows_are_the_table_rows_of_the_indices():
    table, idx = random((16, 64)), np.array([3, 0, 15, 7, 7, 1, 2, 9], np.int32)
    out = np.zeros((8, 64), np.float16)
    gather4(GATHER4.replace("WAIT", WAIT))(table, idx, out)
    assert np.array_equal(out.view(np.uint16), table[idx].view(np.uint16))


def test_positions_past_the_index_tensor_gather_rows_of_zeros():
    """R = 6: positions 6 and 7 are past idx's end; thread 0 gives them row -1."""
    table, idx = random((16, 64)), np.array([3, 0, 15, 7, 7, 1], np.int32)
    out = np.full((8, 64), np.nan, np.float16)
    gather4(GATHER4.replace("WAIT", WAIT))(table, idx, out)
    assert np.array_equal(out[:6].view(np.uint16), table[idx].view(np.uint16))
    assert not out[6:].view(np.uint16).any()


def test_gather4_rows_read_before_the_wait_are_in_flight():
    table, idx = random((16, 64)), np.arange(8, dtype=np.int32)
    with pytest.raises(InterpretError, match="reads G_s\\[0, 0\\], which a TMA load completes on "
                                             "'bar' in its phase 0, before a barrier_wait"):
        gather4(GATHER4.replace("WAIT", ""))(table, idx, np.zeros((8, 64), np.float16))


SCATTER4 = """
    - copy: {src: rows, dst: G_s}
    - sync_threads:
    - scatter: {src: G_s, dst: table, index: "idx[0 : +8]", rows: 4}
    STORE_WAIT
    - copy: {src: rows, dst: G_s}
"""


def scatter4(stages: str):
    buffers = """
        table: {scope: global, shape: [16, 64], dtype: float16, io: inout}
        idx:   {scope: global, shape: [8], dtype: int32, io: in}
        rows:  {scope: global, shape: [8, 64], dtype: float16, io: in}
        G_s:   {scope: shared, shape: [8, 64], dtype: float16}
    """
    return kernel("target: sm_100a\n" + spec("scatter4", buffers, stages, threads=128))


def test_scatter4_writes_its_rows_to_the_table_rows_of_the_indices():
    table, rows = random((16, 64)), random((8, 64))
    idx = np.array([3, 0, 15, 7, 8, 1, 2, 9], np.int32)
    expected = table.copy()
    expected[idx] = rows
    scatter4(SCATTER4.replace("STORE_WAIT", "- tma_store_wait: {pending: 0}\n    - sync_threads:"))(
        table, idx, rows)
    assert np.array_equal(table.view(np.uint16), expected.view(np.uint16))


def test_a_scatter4_tile_overwritten_before_its_store_retired_is_an_error():
    table, rows = random((16, 64)), random((8, 64))
    idx = np.arange(8, dtype=np.int32)
    with pytest.raises(InterpretError, match="tma_store_wait"):
        scatter4(SCATTER4.replace("STORE_WAIT", "- sync_threads:"))(table, idx, rows)
