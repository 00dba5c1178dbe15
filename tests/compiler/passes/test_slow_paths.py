"""InstructionAnnotation's slow-path notes (tlspec/compiler/passes/slow_paths.py): a copy that
is a SIMT loop where the target has TMA and the spec did not rule TMA out, and SIMT vectors that
the spec's symbolic dims keep narrow, each noted at its stage with the reason, unless the stage
says `quiet: [slow_path]`; and `tlspec compile` prints them as located warnings."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from copy_kernels import copy_kernel
from pipeline_support import run_through, tile_ir

from tlspec.compiler.driver import compile_paths
from tlspec.compiler.passes.pipeline_planning import NOTES_ATTR

TILED = ('copy: {src: "A[by*64 : +64, bx*64 : +64]", dst: A_s%s}',
         'copy: {src: A_s, dst: "B[by*64 : +64, bx*64 : +64]"%s}')
GRID = '{bx: "ceildiv(N, 64)", by: "ceildiv(M, 64)"}'
SYMBOLIC = "{M: symbolic, N: symbolic}"
QUIET = ", quiet: [slow_path]"
TMA_HINT = ("see docs/spec.md#tma-constraints for what TMA needs; or add `quiet: [slow_path]` "
            "to the stage to silence this warning")
VECTOR_HINT = ("declare the symbolic dims it depends on with a `multiple_of` of 8 (the launch "
               "wrapper then checks it at each call), or add `quiet: [slow_path]` to the stage "
               "to silence this warning")


def tiled_copy(dims=SYMBOLIC, layout="auto", load="", store="", tile=(64, 64)):
    return copy_kernel({"A_s": (tile, layout)}, ["- " + TILED[0] % load, "- " + TILED[1] % store],
                       dims=dims, grid=GRID, threads=256)


def notes(text):
    func = run_through(tile_ir(text), "InstructionAnnotation")["main"]
    return [[str(part) for part in note] for note in (func.attrs or {}).get(NOTES_ATTR, [])]


def tma_note(stage, tensor):
    return [f"/stages/{stage}/copy", "this copy is a SIMT loop, not a TMA copy: a row stride of "
            f"'{tensor}' (N elements) is not proven to be a multiple of 16 bytes", TMA_HINT]


def vector_note(stage, tensor):
    return [f"/stages/{stage}/copy", "this copy moves 2-byte vectors (1 element), not 16-byte "
            f"ones: the rows of '{tensor}' (N elements) are not a multiple of 8", VECTOR_HINT]


def test_symbolic_dims_without_multiple_of_note_the_lost_tma_and_vectors():
    assert notes(tiled_copy()) == [tma_note(0, "A"), vector_note(0, "A"),
                                   tma_note(1, "B"), vector_note(1, "B")]


def test_quiet_silences_its_stage_only():
    assert notes(tiled_copy(load=QUIET)) == [tma_note(1, "B"), vector_note(1, "B")]
    assert notes(tiled_copy(load=QUIET, store=QUIET)) == []


def test_a_multiple_of_that_allows_tma_leaves_nothing_to_note():
    assert notes(tiled_copy("{M: symbolic, N: {symbolic: true, multiple_of: 8}}")) == []


def test_a_vector_bounded_by_a_too_small_multiple_of_is_noted():
    (note,) = notes(tiled_copy("{M: symbolic, N: {symbolic: true, multiple_of: 4}}",
                               load=", disable_tma: true", store=QUIET))
    assert note[:2] == ["/stages/0/copy", "this copy moves 8-byte vectors (4 elements), not "
                        "16-byte ones: the rows of 'A' (N elements) are not a multiple of 8"]


@pytest.mark.parametrize("load", [", disable_tma: true, coalesced_width: 1",
                                  ", prefer_instruction: sync, coalesced_width: 1",
                                  ", loop_layout: {threads: [32, 8], vector: 1}",
                                  ", fill: -1, coalesced_width: 1"])
def test_a_simt_loop_the_spec_asked_for_is_not_noted(load):
    assert notes(tiled_copy(load=load, store=QUIET)) == []


def test_a_padded_tile_is_the_spec_s_choice():
    assert notes(tiled_copy("{M: 1024, N: 1024}", layout="padded")) == []


def test_a_vector_bounded_by_constant_extents_is_not_noted():
    """N = 1004: no 16-byte vector fits the rows whatever the call; only TMA's loss is said."""
    text = tiled_copy("{M: 1024, N: 1004}")
    assert [note[:2] for note in notes(text)] == [
        ["/stages/0/copy", "this copy is a SIMT loop, not a TMA copy: TMA needs strides that are "
         "multiples of 16 bytes; one is 2008 bytes"],
        ["/stages/1/copy", "this copy is a SIMT loop, not a TMA copy: TMA needs strides that are "
         "multiples of 16 bytes; one is 2008 bytes"]]


def test_a_box_past_256_on_constant_shapes_is_noted():
    text = copy_kernel({"A_s": ((8, 512), "auto")},
                       ['- copy: {src: "A[bx*8 : +8, 0 : +512]", dst: A_s}',
                        '- copy: {src: A_s, dst: "B[bx*8 : +8, 0 : +512]", quiet: [slow_path]}'],
                       grid="{bx: 128}", threads=256)
    (note,) = notes(text)
    assert note[0] == "/stages/0/copy" and "box" in note[1] and "256" in note[1], note


def test_a_gather_of_symbolic_width_notes_its_vectors():
    text = """
tlspec: 1
name: g
target: sm_90a
dims: {V: 4096, D: symbolic, R: 1024}
buffers:
  table: {scope: global, shape: [V, D], dtype: float16, io: in}
  idx:   {scope: global, shape: [R], dtype: int32, io: in}
  out:   {scope: global, shape: [R, D], dtype: float16, io: out}
launch:
  grid: {bx: 64}
  threads: 256
stages:
  - gather: {src: table, dst: "out[bx*16 : +16, :]", index: "idx[bx*16 : +16]"}
"""
    (note,) = notes(text)
    assert note[:2] == ["/stages/0/gather", "this gather moves 2-byte vectors (1 element), not "
                        "16-byte ones: the innermost extent D is not a multiple of 8"]
    assert notes(text.replace('idx[bx*16 : +16]"', 'idx[bx*16 : +16]", quiet: [slow_path]')) == []


def test_compile_prints_the_notes_as_located_warnings(tmp_path):
    spec = tmp_path / "slow.tlspec.yaml"
    spec.write_text(tiled_copy(store=QUIET))
    result = compile_paths([str(spec)], str(tmp_path / "out"))
    assert result.ok
    first, second = result.diagnostics.warnings
    assert first.render().splitlines() == [
        f"{spec}:14:5: warning: this copy is a SIMT loop, not a TMA copy: a row stride of 'A' "
        "(N elements) is not proven to be a multiple of 16 bytes",
        "  at: /stages/0/copy", f"  hint: {TMA_HINT}"]
    assert second.render().splitlines()[:2] == [
        f"{spec}:14:5: warning: this copy moves 2-byte vectors (1 element), not 16-byte ones: "
        "the rows of 'A' (N elements) are not a multiple of 8", "  at: /stages/0/copy"]


def test_an_im2col_over_symbolic_channels_notes_its_vectors():
    text = """
tlspec: 1
name: im
target: sm_90a
dims: {N: 2, H: 8, W: 8, C: symbolic}
buffers:
  img: {scope: global, shape: [N, H, W, C], dtype: float16, io: in}
  col: {scope: global, shape: [N * H * W, 9 * C], dtype: float16, io: out}
launch:
  grid: {bx: 9, by: 4}
  threads: 128
stages:
  - im2col: {img: img, col: "col[by*32 : +32, bx*64 : +64]", nhw_step: by, c_step: bx, kernel: 3, pad: 1}
"""
    (note,) = notes(text)
    assert note[:2] == ["/stages/0/im2col", "this im2col moves 2-byte vectors (1 element), not "
                        "16-byte ones: the channels of 'img' (C) are not known to be a multiple "
                        "of 8"]
    assert notes(text.replace("C: symbolic", "C: {symbolic: true, multiple_of: 8}")) == []


def test_the_reason_is_the_one_for_the_vector_named_and_in_the_specs_syntax():
    """An int8 copy that stops at min(...): the aligned variant would move 4-byte vectors, so
    the note says why not 4 (not why not 16), with `min`, not tvm's `T.min`."""
    text = """
tlspec: 1
name: minstop
target: sm_90a
dims: {N: symbolic}
buffers:
  A: {scope: global, shape: [N], dtype: int8, io: in}
  B: {scope: global, shape: [N], dtype: int8, io: out}
launch: {grid: {bx: "ceildiv(N, 100)"}, threads: 32}
stages:
  - copy: {src: "A[bx*100 : min(bx*100 + 100, N)]", dst: "B[bx*100 : min(bx*100 + 100, N)]"}
"""
    (note,) = notes(text)
    assert note[:2] == ["/stages/0/copy", "this copy moves 1-byte vectors (1 element), not 4-byte "
                        "ones: the innermost extent min(N, bx * 100 + 100) - bx * 100 is not a "
                        "multiple of 4"]


SWAP = """\
tlspec: 1
name: swap_then_reload
target: sm_90a
dims: {M: {symbolic: true, multiple_of: 64}}
buffers:
  A:   {scope: global, shape: [M, 64], dtype: float32, io: in}
  B:   {scope: global, shape: [M, 64], dtype: float32, io: out}
  C:   {scope: global, shape: [M, 64], dtype: float32, io: out}
  A_s: {scope: shared, shape: [32, 64], dtype: float32}
  R_s: {scope: shared, shape: [32, 64], dtype: float32}
launch: {grid: {bx: M // 32}, threads: 128, cluster: [2]}
stages:
  - alloc_barrier: {name: bar}
  - barrier_arrive: {barrier: bar, expect_tx: 8192}
  - copy: {src: "A[bx*32 : +32, :]", dst: A_s}
  - copy_cluster: {src: A_s, dst: R_s, dst_block: (bx + 1) % 2, remote_barrier: bar OPTIONS}
  - copy: {src: "A[(bx + 1) % 2 * 32 : +32, :]", dst: A_s}
  - copy: {src: A_s, dst: "C[bx*32 : +32, :]"}
  - barrier_wait: {barrier: bar, parity: 0}
  - copy: {src: R_s, dst: "B[bx*32 : +32, :]"}
"""


def test_a_block_to_block_copy_kept_from_bulk_by_its_reloaded_source_is_noted():
    """The source is reloaded before the receiver's wait: a bulk copy might still read it, so
    the copy is SIMT stores; moving the reload to another tile makes it one bulk copy."""
    assert notes(SWAP.replace(" OPTIONS", "")) == [[
        "/stages/3/copy_cluster", "this copy_cluster is SIMT stores into the destination block, "
        "not one bulk copy: 'A_s' is written again at /stages/4/copy before a barrier_wait sees "
        "this copy land, and a bulk copy may still be reading it then",
        "give 'A_s' two slots and write the next tile into the other one, so the bulk copy reads "
        "a slot nothing rewrites before its wait, or add `quiet: [slow_path]` to the stage to "
        "silence this warning"]]
    assert notes(SWAP.replace(" OPTIONS", QUIET)) == []
