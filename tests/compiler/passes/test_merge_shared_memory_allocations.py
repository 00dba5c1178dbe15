"""MergeSharedMemoryAllocations: every tile placed in the pool with the storage its layout needs.

A swizzled tile's rows are stored padded to a multiple of the swizzle span, as TMA lays out box
rows narrower than the span (measured on an H200): a tile of fewer than 8 rows has a defined
layout and size (before: tirx's 8-row atom divided by zero), rows of 96 bytes take 128 (before:
refused by LayoutInference although the language allows them), and rows of 192 bytes take 256
(before: 192, so the swizzle of the last row's 128-byte line could reach past the tile).

The mbarriers are numbered: the slots of the spec's barrier arrays first, then one for each TMA
load of a `copy`. A pool past the target's shared memory per block (what the compiler adds
counted: validation sees only the spec's tiles and barriers) is refused at the spec's buffers."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from copy_kernels import copy_kernel
from pipeline_support import run_through, tile_ir
from tvm import tirx
from tvm.tirx.layout import ComposeLayout

from tlspec.compiler import ops
from tlspec.compiler.analysis import dtype_bytes, tile_calls
from tlspec.compiler.errors import take_stage_error
from tlspec.validate import validate_text


def kernel(shape, layout, dtype="float16", instruction="tma"):
    """A padded tile, then the tile under test."""
    rows, cols = shape
    return copy_kernel({"P_s": ((3, 40), "padded"), "A_s": (shape, layout)}, [
        '- copy: {src: "A[0 : +3, 0 : +40]", dst: P_s}',
        '- copy: {src: P_s, dst: "B[0 : +3, 0 : +40]"}',
        f'- copy: {{src: "A[0 : +{rows}, 0 : +{cols}]", dst: A_s, prefer_instruction: {instruction}}}',
        f'- copy: {{src: A_s, dst: "B[0 : +{rows}, 0 : +{cols}]", prefer_instruction: sync}}'],
        dtype=dtype, grid="{bx: 4}")


def merged(text):
    """(the function after the pass, {view name: DeclBuffer'd buffer})."""
    func = run_through(tile_ir(text), "MergeSharedMemoryAllocations")["main"]
    declared = []
    tvm_ffi.structural_walk(func.body, (tirx.DeclBuffer, declared.append), order="pre")
    return func, {d.buffer.name: d.buffer for d in declared}


def place(views, name):
    """(byte offset in the pool, bytes) of a tile, from its flat view."""
    flat = views["_flat_" + name]
    elem = dtype_bytes(flat.dtype)
    return int(flat.elem_offset) * elem, int(flat.shape[0]) * elem


@pytest.mark.parametrize("shape, span", [((4, 64), 128), ((2, 32), 64), ((1, 16), 32)])
def test_a_swizzled_tile_of_fewer_than_8_rows_has_a_layout(shape, span):
    func, views = merged(kernel(shape, f"swizzle_{span}B"))
    offset, size = place(views, "A_s")
    assert size == shape[0] * span and offset % (8 * span) == 0
    layout = views["A_s"].layout
    assert isinstance(layout, ComposeLayout) and int(layout.swizzle_len) == {32: 1, 64: 2, 128: 3}[span]
    assert int(func.attrs["tlspec.shared_bytes"]) >= offset + size


def test_rows_narrower_than_the_span_are_stored_over_the_span():
    func, views = merged(kernel((64, 48), "swizzle_128B"))
    offset, size = place(views, "A_s")
    assert size == 64 * 128
    rows = views["_rows_A_s"]          # what TMA copies are handed: the storage, as rows
    assert [int(e) for e in rows.shape] == [64, 64] and isinstance(rows.layout, ComposeLayout)
    assert int(rows.elem_offset) * 2 == offset


def test_rows_wider_than_the_span_are_padded_to_whole_spans():
    """The swizzle permutes 16-byte chunks inside each 128-byte line of the address: a tile that
    ended inside a line could have its last elements placed past its end."""
    _, views = merged(kernel((3, 96), "swizzle_128B", instruction="sync"))
    assert place(views, "A_s")[1] == 3 * 256


def test_dense_tiles_keep_their_size_and_get_no_rows_view():
    _, views = merged(kernel((64, 64), "swizzle_128B"))
    assert place(views, "A_s")[1] == 64 * 128 and "_rows_A_s" not in views
    assert place(views, "P_s")[1] == 3 * (40 * 2 + 16)


def test_mbarriers_are_numbered_the_specs_first_then_each_copys_tma_load():
    """The spec's barrier array takes slots 0 and 1; each TMA load of a `copy` gets the next
    slot (tlspec.mbarrier), an explicit tma_copy none of its own."""
    text = copy_kernel({"A_s": ((64, 64), "swizzle_128B"), "C_s": ((64, 64), "swizzle_128B")}, [
        "- alloc_barrier: {name: bars, count: 2}",
        "- barrier_arrive: {barrier: 'bars[1]', expect_tx: 8192}",
        "- tma_copy: {src: 'A[0 : +64, 0 : +64]', dst: C_s, barrier: 'bars[1]'}",
        "- barrier_wait: {barrier: 'bars[1]', parity: 0}",
        "- copy: {src: 'A[0 : +64, 64 : +64]', dst: A_s}",
        "- copy: {src: A_s, dst: 'B[0 : +64, 64 : +64]'}",
        "- copy: {src: 'A[0 : +64, 128 : +64]', dst: A_s}",
        "- copy: {src: C_s, dst: 'B[0 : +64, 0 : +64]'}",
        "- copy: {src: A_s, dst: 'B[0 : +64, 128 : +64]'}"], grid="{bx: 4}")
    func, views = merged(text)
    slots = [(ops.kind_of(c), ops.config_of(c).get("tlspec.mbarrier"))
             for c in tile_calls(func.body) if ops.kind_of(c) in ("copy", "tma_copy")]
    assert slots == [("tma_copy", None), ("copy", 2), ("copy", None), ("copy", 3),
                     ("copy", None), ("copy", None)]
    assert [int(e) for e in views["_tlspec_mbar"].shape] == [4]


BARRIERS_ONLY = """
tlspec: 1
name: barriers_only
target: sm_90a
buffers:
  A: {scope: global, shape: [64], dtype: float32, io: in}
  B: {scope: global, shape: [64], dtype: float32, io: out}
launch:
  grid: {bx: 1}
  threads: 64
stages:
  - alloc_barrier: {name: bar}
  - barrier_arrive: {barrier: bar}
  - barrier_wait: {barrier: bar, parity: 0}
  - copy: {src: A, dst: B}
"""


def test_mbarriers_without_tiles_are_declared_after_the_thread_indices():
    """With no shared tile there is no tile allocation to put the pool in place of: the pool
    and its mbarriers were never declared, an internal compiler error (fuzz seed 6009)."""
    func, views = merged(BARRIERS_ONLY)
    assert "_tlspec_mbar" in views
    top = func.body.body.seq
    kinds = [type(s).__name__ for s in top]
    assert kinds[:6] == ["ScopeIdDefStmt"] * 4 + ["AllocBuffer", "DeclBuffer"], kinds


def full_tile(rows, load="tma"):
    """A float32 tile of `rows` x 256 in dynamic shared memory (227 rows: 232448 bytes, all that
    an sm_90a block may have), loaded by `load` and stored by a SIMT loop."""
    return f"""
tlspec: 1
name: full
target: sm_90a
dims: {{M: 2270, N: 256}}
buffers:
  A: {{scope: global, shape: [M, N], dtype: float32, io: in}}
  B: {{scope: global, shape: [M, N], dtype: float32, io: out}}
  A_s: {{scope: shared.dyn, shape: [{rows}, 256], dtype: float32}}
launch:
  grid: {{bx: "ceildiv(M, {rows})"}}
  threads: 128
stages:
  - copy: {{src: "A[bx*{rows} : +{rows}, :]", dst: A_s, prefer_instruction: {load}}}
  - copy: {{src: A_s, dst: "B[bx*{rows} : +{rows}, :]", prefer_instruction: sync}}
"""


def test_a_pool_past_the_targets_shared_memory_is_refused_at_the_buffers():
    """Validation counts the spec's tiles (232448 bytes: sm_90a's 227 KB exactly), not the
    mbarrier the compiler adds for the TMA load: the pool came to 232464 bytes, a kernel that
    compiled but whose every launch the driver refuses (cuFuncSetAttribute's
    MAX_DYNAMIC_SHARED_SIZE_BYTES above the device's opt-in limit)."""
    assert validate_text(full_tile(227)).ok
    with pytest.raises(Exception) as raised:
        merged(full_tile(227))
    error = take_stage_error(raised.value)
    assert error is not None and error.pointer == "/buffers", raised.value
    assert error.message == (
        "the kernel's shared memory comes to 232464 bytes once compiled (the tiles 232448 bytes, "
        "1 mbarrier for the TMA loads 8 bytes, rounded up to 16 bytes); sm_90a allows 227 KB "
        "(232448 bytes) per block, so no launch would be accepted")
    assert error.hint.startswith("free at least 16 bytes: ")


@pytest.mark.parametrize("rows, load, pool", [(227, "sync", 232448), (226, "tma", 231440)])
def test_a_pool_within_the_targets_shared_memory_compiles(rows, load, pool):
    """The same tile loaded without TMA (no mbarrier), or a row smaller with it, fits."""
    func, _ = merged(full_tile(rows, load))
    assert int(func.attrs["tlspec.shared_bytes"]) == pool


def test_the_barrier_rings_of_a_pipeline_count_in_the_pool():
    """A pipeline of plain copies gets a ring of mbarriers that the spec does not declare."""
    text = full_tile(227).replace("shape: [227, 256]", "shape: [2, 227, 128]").split("stages:")[0]
    text += """stages:
  - pipeline:
      var: k
      extent: 2
      num_stages: 2
      stages:
        - copy: {src: "A[bx*227 : +227, k*128 : +128]", dst: "A_s[k % 2, :, :]"}
        - copy: {src: "A_s[k % 2, :, :]", dst: "B[bx*227 : +227, k*128 : +128]"}
"""
    with pytest.raises(Exception) as raised:
        merged(text)
    error = take_stage_error(raised.value)
    assert error is not None and error.pointer == "/buffers", raised.value
    assert "2 mbarriers of the barrier arrays and pipeline loops 16 bytes" in error.message
