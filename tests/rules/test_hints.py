"""Semantic errors come with a hint, written where the message is made: these had none (the
spec fuzzer's list of errors without one, seeds 6017-6022)."""
import pytest

from tlspec.validate import validate_text

from conftest import ROOT


def starter(name: str) -> str:
    return (ROOT / "tlspec" / "starters" / f"{name}.tlspec.yaml").read_text().replace("$name", "k")


def spec(name: str) -> str:
    return (ROOT / "specs" / f"{name}.tlspec.yaml").read_text()


GATHER_STAGE = 'index: "idx[bx*16 : +16]"'
TMA_LOAD = 'dst: A_s, barrier: bar, eviction_policy: evict_first}'


@pytest.mark.parametrize("text, old, new, message, hint", [
    (starter("transpose"), "coalesced_width: 8", "coalesced_width: 6",
     "coalesced_width must be a power of two, got 6", "use 4 or 8"),
    (starter("transpose"), "coalesced_width: 8",
     "coalesced_width: 8, loop_layout: {threads: [2, 4, 32]}",
     "loop_layout.threads has 3 entries but the copy has 2 dimensions",
     "give at most 2, laid over the copy's last dimensions"),
    (starter("transpose"), "transpose: {src: A_s, dst: At_s}", "transpose: {src: A, dst: At_s}",
     "transpose: 'src' must be a shared-memory tile; 'A' is global",
     "name a buffer of scope shared or shared.dyn here: A_s, At_s"),
    (starter("gather"), "dtype: int32", "dtype: float32",
     "gather: 'index' must be int32 or int64; 'idx' is float32",
     "declare 'idx' with dtype int32 (or int64)"),
    (starter("gather"), "shape: [V, D], dtype", "shape: [V, D, 1], dtype",
     "gather: the table 'table' must be 2-D (rows x columns); it has 3 dimensions",
     "declare the table with shape [rows, columns]"),
    (starter("gather"), "shape: [R, D], dtype: float16, io: out", "shape: [R, 512], dtype: float16, "
     "io: out", "gather: 'dst' has [512] columns but the table region has [D]",
     "each row moves whole: give both the same number of columns"),
    (starter("copy_cluster"), "cluster: [2]", "cluster: [4, 8]",
     "cluster of 32 blocks; sm_90a allows at most 16 (8 portably)",
     "use a cluster of at most 8 blocks"),
    (starter("copy_cluster"), ", cluster_mask: 3}", "}",
     "copy_cluster takes exactly one of 'cluster_mask' (TMA multicast) and 'dst_block'",
     "add 'cluster_mask: 3' (multicast to blocks 0 and 1: bits 0 and 1) or 'dst_block: 1'"),
    (starter("copy_cluster"), "cluster_mask: 3}", "cluster_mask: 3, dst_block: 1}",
     "copy_cluster takes exactly one of", "remove 'cluster_mask' or 'dst_block'"),
    (starter("copy_cluster"), "cluster_mask: 3}", "cluster_mask: 3, loop_layout: {threads: [128]}}",
     "'loop_layout' does not apply to a TMA multicast copy (cluster_mask)",
     "remove 'loop_layout', or copy with 'dst_block' instead"),
    (starter("tma_copy"), TMA_LOAD, TMA_LOAD[:-1] + ", leader_scope_threads: 48}",
     "leader_scope_threads 48 does not divide the block's 128 threads",
     "use a divisor of the block's threads (32 for one warp), or leave it out"),
    (spec("copy_tiles"), "shape: [64, 128]", "shape: [0, 128]",
     "dimension 0 of buffer 'A_s' has extent 0; extents must be positive",
     "give every dimension at least 1 element"),
    (spec("copy_tiles"), 'by: "ceildiv(M, 64)"', "by: 0",
     "grid extent of 'by' is 0; it must be positive",
     "a grid extent is the number of blocks along its axis, at least 1"),
    (starter("gather").replace("shape: [R]", "shape: [R, 2]"), GATHER_STAGE,
     'index: "idx[bx*16 : +16, 0 : +2]"',
     "gather: 'index' must be a 1-D region, got extents [16, 2]",
     "give every dimension but one a single index (an extent of 1)"),
    (spec("copy_tiles"), 'src: "A[by*64 : +64,', 'src: "A[by*64 : +0,',
     "region 'A[by*64 : +0, bx*128 : +128]' has extent 0 in dimension 0",
     "write 'start : +extent' with an extent of at least 1"),
    (spec("gather4_blackwell"), "rows: 4\n", "rows: 2\n",
     "TMA gather4 moves exactly 4 rows per instruction; 'rows' is 2",
     "write 'rows: 4', or remove the TMA options for vectorized loads"),
    (spec("gather4_blackwell"), "            barrier: bar\n", "",
     "TMA gather4 needs a 'barrier' to arrive on", "declare one with alloc_barrier"),
    (spec("gather4_blackwell"), 'index: "idx[bx*4 : +4]"', 'index: "idx[bx*4 : +6]"',
     "TMA gather4 moves rows in fours; 'index' selects 6", "select a multiple of 4 rows"),
    (starter("tma_copy").replace("{name: bar}", "{name: bar, count: 2}"), TMA_LOAD,
     TMA_LOAD.replace("barrier: bar", 'barrier: "bar[0 : +2]"'),
     "'barrier' names one barrier: write 'bar[i]', not a range", "e.g. 'bar[k % 2]'"),
    (starter("paged_gather").replace("cache:       {scope: global, shape: [NP, P, D], dtype: "
                                     "float16, io: in}", "cache: {scope: shared, shape: [2, 2, "
                                     "2], dtype: float16}"), "src: cache", "src: cache",
     "gather: 'src' must be a global tensor (the table); 'cache' is shared",
     "name a buffer of scope global here: "),
    (starter("im2col"), "img: img,", 'img: "img[0 : +1, :, :, :]",',
     "im2col reads windows anywhere in the image: name the whole buffer ('img')",
     "write 'img: img'; 'nhw_step' and 'c_step' choose the tile"),
    (starter("im2col"), "shape: [64, 64], dtype: float16}", "shape: [64, 8, 8], dtype: float16}",
     "im2col: 'col' must be a 2-D tile (output pixels x kernel taps*channels); it has 3",
     "declare the tile with shape [pixels, taps*channels]"),
])
def test_a_semantic_error_has_a_hint(text, old, new, message, hint):
    mutated = text.replace(old, new)
    assert old in text
    errors = [e for e in validate_text(mutated, "k.tlspec.yaml").diagnostics.errors
              if e.message.startswith(message)]
    assert len(errors) == 1, validate_text(mutated, "k.tlspec.yaml").diagnostics.render_text()
    assert errors[0].hint is not None and (hint is None or errors[0].hint.startswith(hint)), \
        errors[0].hint
