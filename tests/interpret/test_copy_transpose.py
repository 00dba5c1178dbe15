"""copy and transpose in the interpreter: every dtype as bits, partial tiles at the edges of
global tensors (zero read past the end, writes there dropped), shared tiles, fragments, slots,
unit dimensions, ranks 1 to 5."""
from __future__ import annotations

import numpy as np
import pytest

from interpret_support import DTYPES, assert_same, kernel, poisoned, random, through_tile



@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n", [(32, 64), (1, 1), (17, 33), (40, 100)])
def test_copy_every_dtype_and_partial_tiles(dtype, m, n):
    copy = through_tile(dtype)
    a = random((m, n), dtype)
    b = copy(a)
    assert b.dtype == a.dtype
    assert_same(b, a)


@pytest.mark.parametrize("scope", ["shared.dyn", "fragment"])
def test_copy_through_other_tiles(scope):
    copy = through_tile("bfloat16", scope=scope)
    a = random((50, 70), "bfloat16", seed=1)
    assert_same(copy(a), a)


def test_the_part_of_a_tile_past_the_end_reads_zero():
    """A 10 x 20 tensor padded to whole 16 x 32 tiles: the tile past the end holds zeros."""
    pad = kernel("""
        name: pad_to_tiles
        dims: {M: symbolic, N: symbolic, MP: symbolic, NP: symbolic}
        buffers:
          A:   {scope: global, shape: [M, N], dtype: int16, io: in}
          B:   {scope: global, shape: [MP, NP], dtype: int16, io: out}
          T:   {scope: shared, shape: [16, 32], dtype: int16}
        launch:
          grid: {bx: NP // 32, by: MP // 16}
          threads: 128
        stages:
          - copy: {src: "A[by*16 : +16, bx*32 : +32]", dst: T}
          - copy: {src: T, dst: "B[by*16 : +16, bx*32 : +32]"}
    """)
    a = random((10, 20), "int16")
    b = pad(a, poisoned((16, 32), "int16"))
    expected = np.zeros((16, 32), np.int16)
    expected[:10, :20] = a
    assert_same(b, expected)


def test_writes_past_the_end_are_dropped_and_unwritten_elements_kept():
    """B is written where the tiles cover it; the tiles hang over its end (dropped); C, larger
    than the grid covers, keeps its values elsewhere."""
    copy = kernel("""
        name: copy_part
        dims: {M: symbolic, N: symbolic}
        buffers:
          A:   {scope: global, shape: [M, N], dtype: float32, io: in}
          C:   {scope: global, shape: [M, N], dtype: float32, io: out}
        launch:
          grid: {bx: "ceildiv(N, 8) - 1"}
          threads: 32
        stages:
          - copy: {src: "A[0 : +3, bx*8 : +8]", dst: "C[0 : +3, bx*8 : +8]"}
    """)
    a = random((5, 30), "float32")
    c = poisoned((5, 30), "float32")
    expected = c.copy()
    expected[:3, :24] = a[:3, :24]
    copy(a, c)
    assert_same(c, expected)


def test_unit_dimensions_are_dropped_and_slots_indexed():
    """Rows of a 3-D tensor into the slots of a [2, 8] tile, then out as columns of a 2-D one:
    extents [1, 1, 8] -> [1, 8] -> [8, 1]."""
    spread = kernel("""
        name: spread
        dims: {R: symbolic}
        buffers:
          A:   {scope: global, shape: [R, 2, 8], dtype: uint8, io: in}
          B:   {scope: global, shape: [8, R * 2], dtype: uint8, io: out}
          T:   {scope: shared, shape: [2, 8], dtype: uint8}
        launch:
          grid: {bx: R}
          threads: 32
        stages:
          - copy: {src: "A[bx, 0, :]", dst: "T[0, :]"}
          - copy: {src: "A[bx, 1, :]", dst: "T[1, :]"}
          - copy: {src: "T[0, :]", dst: "B[:, bx*2]"}
          - copy: {src: "T[1, :]", dst: "B[:, bx*2 + 1]"}
    """)
    a = random((3, 2, 8), "uint8")
    assert_same(spread(a), a.reshape(6, 8).T)


@pytest.mark.parametrize("shape", [(7,), (3, 5, 9), (2, 3, 1, 4, 6)])
def test_ranks(shape):
    rank = len(shape)
    names = ", ".join(f"D{i}" for i in range(rank))
    whole = ", ".join(":" for _ in range(rank))
    copy = kernel(f"""
        name: copy_rank_{rank}
        dims: {{{", ".join(f"D{i}: symbolic" for i in range(rank))}}}
        buffers:
          A: {{scope: global, shape: [{names}], dtype: float64, io: in}}
          B: {{scope: global, shape: [{names}], dtype: float64, io: out}}
        launch:
          grid: {{bx: 1}}
          threads: 32
        stages:
          - copy: {{src: "A[{whole}]", dst: "B[{whole}]"}}
    """)
    a = random(shape, "float64")
    assert_same(copy(a), a)


TRANSPOSE = """
    name: transpose_{dtype}
    dims: {{M: symbolic, N: symbolic}}
    buffers:
      A:    {{scope: global, shape: [M, N], dtype: {dtype}, io: in}}
      B:    {{scope: global, shape: [N, M], dtype: {dtype}, io: out}}
      A_s:  {{scope: shared, shape: [8, 16], dtype: {dtype}, layout: padded}}
      At_s: {{scope: shared, shape: [16, 8], dtype: {dtype}}}
    launch:
      grid: {{bx: "ceildiv(N, 16)", by: "ceildiv(M, 8)"}}
      threads: 64
    stages:
      - copy: {{src: "A[by*8 : +8, bx*16 : +16]", dst: A_s}}
      - transpose: {{src: A_s, dst: At_s}}
      - copy: {{src: At_s, dst: "B[bx*16 : +16, by*8 : +8]"}}
"""


@pytest.mark.parametrize("dtype", ["int8", "float16", "float32", "uint64"])
@pytest.mark.parametrize("m, n", [(8, 16), (5, 3), (19, 37)])
def test_transpose(dtype, m, n):
    a = random((m, n), dtype)
    assert_same(kernel(TRANSPOSE.format(dtype=dtype))(a), np.transpose(a).copy())


def test_batched_transpose():
    transpose = kernel("""
        name: transpose_batched
        dims: {BATCH: symbolic, M: symbolic, N: symbolic}
        buffers:
          A:    {scope: global, shape: [BATCH, M, N], dtype: bfloat16, io: in}
          B:    {scope: global, shape: [BATCH, N, M], dtype: bfloat16, io: out}
          A_s:  {scope: shared, shape: [2, 8, 8], dtype: bfloat16}
          At_s: {scope: shared, shape: [2, 8, 8], dtype: bfloat16}
        launch:
          grid: {bx: "ceildiv(N, 8)", by: "ceildiv(M, 8)", bz: "ceildiv(BATCH, 2)"}
          threads: 128
        stages:
          - copy: {src: "A[bz*2 : +2, by*8 : +8, bx*8 : +8]", dst: A_s}
          - transpose: {src: A_s, dst: At_s}
          - copy: {src: At_s, dst: "B[bz*2 : +2, bx*8 : +8, by*8 : +8]"}
    """)
    a = random((3, 11, 6), "bfloat16")
    assert_same(transpose(a), np.transpose(a, (0, 2, 1)).copy())
