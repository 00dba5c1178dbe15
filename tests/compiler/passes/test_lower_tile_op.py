"""LowerTileOp on small kernels.

It moves bits: every buffer a SIMT stage reads or writes is addressed through a view of the same
memory in the bit type of its element size (declared at the start of the stage), so that tvm's
CUDA code generation has a vector type for every width; a gather's index is read as its own
type, since its value is used. An im2col tile's columns past the last tap are zeros. A fragment
as a gather's or scatter's rows is addressed by register, as its copies address it, and a thread
grid of more entries than a copy moves dimensions lies over unit dimensions."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm
import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx
from tvm.ir.expr import TensorLoad

from tlspec.compiler.analysis import stage_kind
from tlspec.compiler.lower.common import substitute

def indexed_kernel(tile: str, stages: str, dtype: str = "float16", index: str = "int32") -> str:
    """A kernel of rows of 64 gathered from and scattered to a table, through the `tile`."""
    return f"""
tlspec: 1
name: indexed
target: sm_90a
dims: {{V: 999, R: 1000}}
buffers:
  table: {{scope: global, shape: [V, 64], dtype: {dtype}, io: inout}}
  idx:   {{scope: global, shape: [R], dtype: {index}, io: in}}
  out:   {{scope: global, shape: [R, 64], dtype: {dtype}, io: out}}
  {tile}
launch:
  grid: {{bx: "ceildiv(R, 16)"}}
  threads: 128
stages:
{stages}"""


GATHER_INT16 = indexed_kernel(
    "rows: {scope: shared, shape: [16, 64], dtype: int16}",
    '  - gather: {src: table, dst: rows, index: "idx[bx*16 : +16]"}\n'
    '  - copy: {src: rows, dst: "out[bx*16 : +16, :]", prefer_instruction: sync}\n',
    dtype="int16", index="int64")


def stages(func):
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, lambda a: found.append(a)
                                        if stage_kind(a) else None), order="pre")
    return found


def accessed(stmt) -> dict[str, str]:
    """name -> dtype of every buffer the statement stores to or loads from."""
    names = {}
    tvm_ffi.structural_walk(stmt, (tirx.BufferStore, lambda s: names.update(
        {s.buffer.name: str(s.buffer.dtype)})), order="pre")
    tvm_ffi.structural_walk(stmt, (TensorLoad, lambda l: names.update(
        {l.source.name: str(l.source.dtype)})), order="pre")
    return names


def test_simt_stages_move_16_bit_integers_as_halves_and_read_the_index_as_int64():
    gather, copy = stages(run_through(tile_ir(GATHER_INT16), "LowerTileOp")["main"])
    assert accessed(gather) == {"_flat_rows": "float16", "table": "float16", "idx": "int64"}
    assert accessed(copy) == {"_flat_rows": "float16", "out": "float16"}


def test_the_bit_views_are_declared_where_the_stage_starts():
    gather, _ = stages(run_through(tile_ir(GATHER_INT16), "LowerTileOp")["main"])
    first = list(gather.body.seq)[:2]
    assert all(isinstance(s, tirx.DeclBuffer) for s in first)
    assert sorted(s.buffer.name for s in first) == ["_flat_rows", "table"]


PARTIAL_COLUMN_TILE = """
tlspec: 1
name: im2col_partial_columns
target: sm_90a
dims: {N: 2, H: 8, W: 8, C: 4}
buffers:
  img:   {scope: global, shape: [N, H, W, C], dtype: float16, io: in}
  col_s: {scope: shared, shape: [32, 32], dtype: float16}
launch:
  grid: {bx: "ceildiv(N * H * W, 32)", by: "ceildiv(9 * C, 32)"}
  threads: 128
stages:
  - im2col: {img: img, col: col_s, nhw_step: bx, c_step: by, kernel: 3, pad: 1}
"""


def test_im2col_writes_zeros_to_the_columns_past_the_last_tap():
    """A 3x3 kernel over 4 channels makes 36 columns; the second 32-column tile holds 4 of them
    and 28 zeros, not the pixels that taps kh >= 3 would name."""
    (stage,) = stages(run_through(tile_ir(PARTIAL_COLUMN_TILE), "LowerTileOp")["main"])
    branches = []
    tvm_ffi.structural_walk(stage, (tirx.IfThenElse, branches.append), order="pre")
    (branch,) = branches
    assert isinstance(branch.else_case, tirx.BufferStore)
    assert isinstance(branch.else_case.value, tirx.FloatImm) and branch.else_case.value.value == 0
    by, tid = (next(v for v in vars_of(branch.condition) if v.name == name)
               for name in ("by", "tid"))
    analyzer = tvm.sym.Analyzer()
    for block in (0, 1):
        for thread in range(128):
            cond = substitute(substitute(branch.condition, by, tirx.IntImm("int32", block)), tid,
                              tirx.IntImm("int32", thread))
            column = block * 32 + thread % 8 * 4      # the first column of this thread's vector
            assert bool(analyzer.simplify(cond)) == (column < 36)



RECTANGULAR = PARTIAL_COLUMN_TILE.replace(
    "kernel: 3, pad: 1", "kernel: [3, 5], stride: [2, 1], dilation: [1, 2], pad: [1, 2]").replace(
    "9 * C", "15 * C")


def test_im2col_reads_a_rectangular_window_per_axis():
    """kernel [3, 5], stride [2, 1], dilation [1, 2], pad [1, 2] over an 8 x 8 image of 4
    channels: OH = 4, OW = 4 and 60 columns (kh*5 + kw)*4 + c; each thread's load reads
    img[n, oh*2 - 1 + kh, ow - 2 + kw*2, c], and columns from 60 on are zeros."""
    (stage,) = stages(run_through(tile_ir(RECTANGULAR), "LowerTileOp")["main"])
    branches, loads = [], []
    tvm_ffi.structural_walk(stage, (tirx.IfThenElse, branches.append), order="pre")
    tvm_ffi.structural_walk(stage, (TensorLoad, loads.append), order="pre")
    (branch,), (load,) = branches, [l for l in loads if l.source.name == "img"]
    names = {v.name: v for v in vars_of(load) + vars_of(branch.condition)}
    analyzer = tvm.sym.Analyzer()

    def at(expr, **values):
        for name, value in values.items():
            expr = substitute(expr, names[name], tirx.IntImm("int32", value))
        return int(analyzer.simplify(expr))

    for bx, by, tid, it in ((0, 0, 0, 0), (0, 1, 13, 1), (1, 0, 77, 0), (0, 1, 127, 1),
                            (1, 1, 40, 1)):
        row, column = bx * 32 + it * 16 + tid // 8, by * 32 + tid % 8 * 4
        n, oh, ow = row // 16, row // 4 % 4, row % 4
        kh, kw, c = column // 20, column // 4 % 5, column % 4
        point = {"bx": bx, "by": by, "tid": tid, "it": it, "v": 0}
        assert at(branch.condition, **point) == (column < 60)
        if column < 60:
            assert [at(i, **point) for i in load.indices] == [
                n, oh * 2 - 1 + kh, ow - 2 + kw * 2, c]

FRAGMENT_ROWS = indexed_kernel(
    "F: {scope: fragment, shape: [16, 64], dtype: float16}",
    '  - gather: {src: table, dst: F, index: "idx[bx*16 : +16]"}\n'
    '  - copy: {src: F, dst: "out[bx*16 : +16, :]"}\n'
    '  - scatter: {src: F, dst: table, index: "idx[bx*16 : +16]"}\n')


def test_a_fragment_is_a_gathers_and_a_scatters_rows_by_register():
    """Each thread's 8 elements (16 x 64 over 128 threads) are registers F[0:8], numbered as
    the copy out of the fragment numbers them (the gather and scatter were internal errors)."""
    func = run_through(tile_ir(FRAGMENT_ROWS), "LowerTileOp")["main"]
    gather, copy, scatter = stages(func)
    stores = []
    tvm_ffi.structural_walk(gather, (tirx.BufferStore, stores.append), order="pre")
    (store,) = [s for s in stores if s.buffer.name == "F"]
    assert list(store.buffer.shape) == [8] and len(store.indices) == 1
    assert accessed(copy)["F"] == accessed(scatter)["F"] == "float16"


def test_a_loop_layout_of_more_entries_than_moved_dimensions_idles_the_extra_threads():
    """threads [2, 8, 8] over a copy that moves 16 x 64 (its unit dimension dropped): the
    leading entry lies over a unit dimension, so only threads 0-63 move data, each vector once
    (the thread grid used to be laid over the wrong dimensions)."""
    text = """
tlspec: 1
name: wide_layout
target: sm_90a
dims: {M: 64}
buffers:
  A: {scope: global, shape: [M, 2, 64], dtype: float16, io: in}
  S: {scope: shared, shape: [16, 64], dtype: float16}
launch:
  grid: {bx: M // 16}
  threads: 128
stages:
  - copy: {src: "A[bx*16 : +16, 1, :]", dst: S, prefer_instruction: sync, loop_layout: {threads: [2, 8, 8]}}
"""
    (stage,) = stages(run_through(tile_ir(text), "LowerTileOp")["main"])
    branches = []
    tvm_ffi.structural_walk(stage, (tirx.IfThenElse, branches.append), order="pre")
    (branch,) = branches
    tid = next(v for v in vars_of(branch.condition) if v.name == "tid")
    analyzer = tvm.sym.Analyzer()
    active = [t for t in range(128) if bool(analyzer.simplify(
        substitute(branch.condition, tid, tirx.IntImm("int32", t))))]
    assert active == list(range(64))


def vars_of(expr):
    found = []
    tvm_ffi.structural_walk(expr, (tirx.Var, found.append), order="pre")
    return found
