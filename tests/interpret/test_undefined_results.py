"""What the interpreter refuses, as located errors: what it does not run, and runs whose result
is not defined (tile elements stored before any stage wrote them, races between blocks, within a
stage and between the rows of a scatter, grids and loops that only a call's sizes make wrong).
"""
from __future__ import annotations

import numpy as np
import pytest

from interpret_support import kernel, random, spec
from tlspec.interpret import InterpretError, load, run
from tlspec.validate import validate_text


def error(run, *args) -> str:
    with pytest.raises(InterpretError) as err:
        run(*args)
    return str(err.value)


# -- tile elements no stage wrote ----------------------------------------------------------------

PARTIAL_TILE = spec("store_unwritten", dims="{N: symbolic}", grid='{bx: "ceildiv(N, 8)"}',
                    buffers="""
    A:   {scope: global, shape: [N, 8], dtype: float16, io: in}
    B:   {scope: global, shape: [N, 8], dtype: float16, io: out}
    A_s: {scope: shared, shape: [8, 8], dtype: float16}
""", stages="""
    - copy: {src: "A[bx*8 : +4, :]", dst: "A_s[0 : +4, :]"}
    - copy: {src: A_s, dst: "B[bx*8 : +8, :]"}
""")


def test_storing_tile_elements_no_stage_wrote():
    assert error(kernel(PARTIAL_TILE), random((16, 8))) == (
        "<string>:11:28: error: copy in block (bx=0): stores 32 elements of 'A_s' that no stage of "
        "this block wrote, the first to B[4, 0]\n"
        "  at: /stages/1/copy/dst\n"
        "  hint: write the whole tile before storing it, or store only the part written")


def test_unwritten_elements_stored_past_the_end_are_dropped():
    """N = 4: the unwritten half of the tile lands past the end of B."""
    a = random((4, 8))
    assert np.array_equal(kernel(PARTIAL_TILE)(a).view(np.uint16), a.view(np.uint16))


def test_a_new_block_starts_with_nothing_written():
    """Block bx writes half bx of the tile, then stores both halves: block 1 finds the half
    block 0 wrote, which is not its own."""
    store = kernel(spec("store_stale", grid="{bx: 2}", buffers="""
        A:   {scope: global, shape: [16], dtype: int32, io: in}
        B:   {scope: global, shape: [16], dtype: int32, io: out}
        A_s: {scope: shared, shape: [8], dtype: int32}
    """, stages="""
        - copy: {src: "A[bx*8 : +4]", dst: "A_s[bx*4 : +4]"}
        - copy: {src: "A_s[bx*4 : +4]", dst: "B[bx*8 : +4]"}
        - copy: {src: "A_s[0 : +4]", dst: "B[bx*8 + 4 : +4]"}
    """))
    assert error(store, random((16,), "int32")).startswith(
        "<string>:11:38: error: copy in block (bx=1): stores 4 elements of 'A_s' that no stage "
        "of this block wrote, the first to B[12]")


INDEXED = """
    table: {scope: global, shape: [10, 4], dtype: uint8, io: in}
    idx:   {scope: global, shape: [NI], dtype: int64, io: in}
    out:   {scope: global, shape: [8, 4], dtype: uint8, io: out}
"""


def test_gathered_rows_past_the_index_tensor_stay_unwritten():
    gather = kernel(spec("gather_unwritten", dims="{NI: symbolic}", buffers=INDEXED + """
    rows:  {scope: shared, shape: [8, 4], dtype: uint8}
    """, stages="""
        - gather: {src: table, dst: rows, index: "idx[0 : +8]"}
        - copy: {src: rows, dst: out}
    """))
    table = random((10, 4), "uint8")
    assert error(gather, table, np.arange(6)).startswith(
        "<string>:13:28: error: copy in block (bx=0): stores 8 elements of 'rows' that no stage "
        "of this block wrote, the first to out[6, 0]")


def test_index_values_no_stage_wrote():
    gather = kernel(spec("gather_unwritten_index", dims="{NI: symbolic}", buffers=INDEXED + """
    idx_s: {scope: shared, shape: [8], dtype: int64}
    """, stages="""
        - copy: {src: "idx[0 : +4]", dst: "idx_s[0 : +4]"}
        - gather: {src: table, dst: out, index: idx_s}
    """))
    assert error(gather, random((10, 4), "uint8"), np.arange(8)) == (
        "<string>:13:43: error: gather in block (bx=0): reads the index idx_s[4], which no stage "
        "of this block wrote\n"
        "  at: /stages/1/gather/index\n"
        "  hint: write the index tile first")


# -- races -----------------------------------------------------------------------------------------

def test_two_blocks_write_one_element():
    copy = kernel(spec("write_write", grid="{bx: 2, by: 2}", buffers="""
        A: {scope: global, shape: [16], dtype: float32, io: in}
        B: {scope: global, shape: [16], dtype: float32, io: out}
    """, stages="""
        - copy: {src: "A[bx*8 : +8]", dst: "B[bx*4 : +8]"}
    """))
    assert error(copy, random((16,), "float32")) == (
        "<string>:8:39: error: copy in block (bx=1, by=0): writes B[4], which block (bx=0, by=0) "
        "also writes: the result depends on the order in which blocks run\n"
        "  at: /stages/0/copy/dst\n"
        "  hint: give every element of an output to one block")


def shift(start: str):
    """Each block copies B[start : +8] to its part of C, then that back to its part of B."""
    return kernel(spec("read_write", grid="{bx: 2}", buffers="""
        B: {scope: global, shape: [24], dtype: int16, io: inout}
        C: {scope: global, shape: [24], dtype: int16, io: inout}
    """, stages=f"""
        - copy: {{src: "B[{start} : +8]", dst: "C[bx*8 : +8]"}}
        - copy: {{src: "C[bx*8 : +8]", dst: "B[bx*8 : +8]"}}
    """))


def test_a_block_reads_what_an_earlier_block_wrote():
    """Block 1 reads B[4 : 12]; block 0 wrote B[0 : 8]."""
    assert error(shift("bx*4"), random((24,), "int16"), random((24,), "int16")).startswith(
        "<string>:8:18: error: copy in block (bx=1): reads B[4], which block (bx=0) writes: the "
        "result depends on the order in which blocks run\n")


def test_a_block_writes_what_an_earlier_block_read():
    """Block 0 reads B[4 : 12]; block 1 writes B[8 : 16]."""
    assert error(shift("bx*8 + 4"), random((24,), "int16"), random((24,), "int16")).startswith(
        "<string>:9:39: error: copy in block (bx=1): writes B[8], which block (bx=0) read: the "
        "result depends on the order in which blocks run\n")


def test_blocks_reading_and_writing_their_own_elements_are_fine():
    b = random((24,), "int16")
    expected = b.copy()
    shift("bx*8")(b, random((24,), "int16"))
    assert np.array_equal(b, expected)


def test_im2col_reads_what_another_block_wrote():
    """Block bx turns image bx into columns and writes a pixel of the other image."""
    im2col = kernel(spec("im2col_race", grid="{bx: 2}", buffers="""
        img: {scope: global, shape: [2, 4, 4, 2], dtype: uint8, io: inout}
        col: {scope: global, shape: [32, 18], dtype: uint8, io: out}
        src: {scope: global, shape: [2, 2], dtype: uint8, io: in}
    """, stages="""
        - im2col: {img: img, col: "col[bx*16 : +16, :]", nhw_step: bx, c_step: 0, kernel: 3, pad: 1}
        - copy: {src: "src[bx, :]", dst: "img[1 - bx, 0, 0, :]"}
    """))
    assert error(lambda img, src: im2col(img, src=src), random((2, 4, 4, 2), "uint8"),
                 random((2, 2), "uint8")).startswith(
        "<string>:9:19: error: im2col in block (bx=1): reads img[1, 0, 0, 0], which block (bx=0) "
        "writes: the result depends on the order in which blocks run\n"
        "  at: /stages/0/im2col/img\n")


def test_a_stage_reads_what_it_writes():
    overlap = kernel(spec("overlap", buffers="""
        B: {scope: global, shape: [16], dtype: uint32, io: inout}
    """, stages="""
        - copy: {src: "B[0 : +8]", dst: "B[4 : +8]"}
    """))
    assert error(overlap, random((16,), "uint32")) == (
        "<string>:7:36: error: copy in block (bx=0): writes B[4], which the same stage reads: "
        "the result depends on the order of the threads' accesses\n"
        "  at: /stages/0/copy/dst\n"
        "  hint: read and write different elements (or different tensors) in one stage")


def test_scatter_with_a_repeated_index():
    scatter = kernel(spec("scatter_twice", dims="{NI: symbolic}", grid='{bx: "ceildiv(NI, 4)"}',
                          buffers="""
        table: {scope: global, shape: [10, 4], dtype: int8, io: inout}
        idx:   {scope: global, shape: [NI], dtype: int32, io: in}
        rows:  {scope: global, shape: [NI, 4], dtype: int8, io: in}
    """, stages="""
        - scatter: {src: "rows[bx*4 : +4, :]", dst: table, index: "idx[bx*4 : +4]"}
    """))
    table, rows = random((10, 4), "int8"), random((8, 4), "int8")
    # a repeated index outside the table is no race
    scatter(table, np.array([1, 2, -1, -1, 3, 4, 10, 10], np.int32), rows)
    assert error(scatter, table, np.array([1, 2, 3, 4, 5, 6, 7, 6], np.int32), rows) == (
        "<string>:10:62: error: scatter in block (bx=1): writes row 6 of 'table' twice: index "
        "positions 1 and 3 hold it\n"
        "  at: /stages/0/scatter/index\n"
        "  hint: the indices of a scatter must be distinct: two rows written to one table row race")
    assert "writes table[2, 0], which block (bx=0) also writes" in error(
        scatter, table, np.array([1, 2, 3, 4, 5, 2, 7, 8], np.int32), rows)


# -- what only a call's sizes make wrong ---------------------------------------------------------

def vectors(name: str, grid: str, region: str):
    return kernel(spec(name, dims="{N: symbolic}", grid=grid, buffers="""
        A: {scope: global, shape: [N], dtype: int8, io: in}
        B: {scope: global, shape: [N], dtype: int8, io: out}
    """, stages=f"""
        - copy: {{src: "A{region}", dst: "B{region}"}}
    """))


def test_a_region_wholly_outside_its_tensor_at_a_call_is_no_error():
    """Blocks 2 and 3 read zeros past the end of A and write nothing (past the end of B)."""
    copy = vectors("grid_too_large", '{bx: "ceildiv(N, 32)"}', "[bx*64 : +64]")
    a = random((70,), "int8")
    assert np.array_equal(copy(a), a)


def test_a_grid_extent_above_its_limit_at_a_call():
    copy = vectors("grid_y", "{bx: 1, by: N}", "[by : +1]")
    assert error(copy, random((65536,), "int8")) == (
        "<string>:7:28: error: the grid extent of 'by' is 65536 at this call, above the limit "
        "65535 of blockIdx.y\n"
        "  at: /launch/grid/by\n"
        "  hint: list the largest extent first: it becomes blockIdx.x")


def test_a_division_that_a_call_could_make_by_zero_is_refused_before_any_call():
    """Validation refuses a divisor that some size of a symbolic dim makes 0, so no call can
    divide by zero."""
    with pytest.raises(InterpretError) as err:
        vectors("divide", "{bx: N // (N - 4)}", "[bx : +1]")
    assert str(err.value) == (
        "<string>:7:21: error: 'N // (N - 4)' may divide by zero: 'N - 4' may be 0 for some "
        "sizes of 'N'\n"
        "  at: /launch/grid/bx\n"
        "  hint: a symbolic dim can be any size at a call, 0 included: give 'N' a 'min' (and a "
        "'max') that keeps 'N - 4' away from 0")


# -- what the interpreter does not run ------------------------------------------------------------

def test_local_buffers_are_refused():
    """It runs every stage kind, the asynchronous ones (test_async_faults.py) and both forms of
    copy_cluster among them (test_cluster_interpreted.py, test_block_to_block_interpreted.py),
    but not buffers of scope local."""
    with pytest.raises(InterpretError) as err:
        load("""
tlspec: 1
name: later_features
target: sm_100a
buffers:
  table: {scope: global, shape: [64, 256], dtype: float16, io: in}
  idx:   {scope: global, shape: [4], dtype: int32, io: in}
  A:     {scope: global, shape: [64, 64], dtype: float16, io: in}
  A_s:   {scope: shared, shape: [64, 64], dtype: float16}
  G_s:   {scope: shared, shape: [4, 256], dtype: float16}
  r:     {scope: local, shape: [4], dtype: float16}
launch: {grid: {bx: 2}, threads: 128, cluster: [2]}
stages:
  - alloc_barrier: {name: bar}
  - barrier_arrive: {barrier: bar, expect_tx: 2048}
  - gather: {src: table, dst: G_s, index: idx, rows: 4, barrier: bar}
  - barrier_wait: {barrier: bar, parity: 0}
  - copy_cluster: {src: A, dst: A_s, cluster_mask: 3}
  - copy_cluster: {src: A_s, dst: A_s, dst_block: (bx + 1) % 2}
""")
    assert [d.message for d in err.value.diagnostics.sorted()] == [
        "the interpreter does not run buffers of scope local yet"]
    assert str(err.value).startswith(
        "<string>:11:18: error: the interpreter does not run buffers of scope local yet\n"
        "  at: /buffers/r/scope\n")


def test_an_invalid_spec_gets_the_diagnostics_of_validate():
    with pytest.raises(InterpretError) as err:
        load("tlspec: 1\n" + PARTIAL_TILE.replace("float16, io: in", "fp16, io: in"),
             name="x.yaml")
    assert str(err.value).startswith("x.yaml:5:46: error: unknown dtype 'fp16'; did you mean "
                                     "'float16'?\n  at: /buffers/A/dtype\n")


def test_an_invalid_kernel_model_is_refused_by_run():
    text = "tlspec: 1\n" + PARTIAL_TILE.replace('"A[bx*8 : +4, :]"', '"A[bx*8 : +4, :, 1]"')
    result = validate_text(text.replace("ceildiv(N, 8)", "ceildiv(N, 0)"))
    assert not result.ok and result.kernels
    with pytest.raises(InterpretError) as err:
        run(result.kernels[0], {"A": random((8, 8)), "B": random((8, 8))})
    assert str(err.value) == (
        "<string>:8:22: error: this could not be read: the kernel is not valid\n"
        "  at: /launch/grid/bx\n"
        "  hint: fix the errors tlspec validate reports\n"
        "<string>:10:18: error: this could not be read: the kernel is not valid\n"
        "  at: /stages/0/copy/src\n"
        "  hint: fix the errors tlspec validate reports")
