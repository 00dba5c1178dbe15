"""PipelinePlanning: the plan of each `pipeline` loop (the loop annotation tlspec.pipeline_plan).

A loop of plain copies whose loads (TMA or cp.async, global -> shared) write a slot `k % s` of
their tile, s >= num_stages, is pipelined: its plan lists the loads. Every other pipeline loop
runs as written, and its plan says why: num_stages 1, a synchronisation stage in the body, no
load writing a slot, a stage touching another slot of a load's tile, a stage touching a load's
tile before the load in the body (it would see the load of its own iteration; before this, such
a loop was pipelined and its stage read the wrong tile), a body writing a global tensor its
loads read, and TMA loads in a nest whose trip counts vary (their barriers'
phases are counted across the loop's entries)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from copy_kernels import copy_kernel, loop_lines
from pipeline_support import run_through, tile_ir
from tvm import tirx

from tlspec.compiler.passes.pipeline_planning import NOTES_ATTR, PLAN_ATTR

TILE = {"A_s": ((3, 64, 64), "swizzle_128B")}
REGION = "bx*64 : +64, k*64 : +64"
LOAD = f'- copy: {{src: "A[{REGION}]", dst: "A_s[k % 3, :, :]"}}'
STORE = f'- copy: {{src: "A_s[k % 3, :, :]", dst: "B[{REGION}]"}}'
SERIAL = "runs as written, one iteration after another: "


def plans(stages: list[str], tiles=None, a_io: str = "in", cluster=None) -> list[dict]:
    """The plan of every pipeline loop, outermost first (A declared `io: a_io`)."""
    text = copy_kernel(tiles or TILE, stages, cluster=cluster).replace("io: in}",
                                                                        f"io: {a_io}}}")
    func = run_through(tile_ir(text), "PipelinePlanning")["main"]
    loops = []
    tvm_ffi.structural_walk(func.body, (tirx.For, loops.append), order="pre")
    return [{"loads": [int(i) for i in loop.annotations[PLAN_ATTR]["loads"]],
             "why": str(loop.annotations[PLAN_ATTR]["why"])}
            for loop in loops if PLAN_ATTR in loop.annotations]


def test_a_loop_of_slotted_tma_loads_is_pipelined():
    assert plans(loop_lines([LOAD, STORE])) == [
        {"loads": [0], "why": "1 load(s) issued 2 iteration(s) ahead"}]


def test_cp_async_loads_are_pipelined_and_listed_in_body_order():
    tiles = {"A_s": ((2, 64, 64), "auto"), "C_s": ((2, 64, 64), "auto")}
    body = [f'- copy: {{src: "A[{REGION}]", dst: "A_s[k % 2, :, :]", prefer_instruction: cp_async}}',
            f'- copy: {{src: "A_s[k % 2, :, :]", dst: "B[{REGION}]", prefer_instruction: sync}}',
            f'- copy: {{src: "A[{REGION}]", dst: "C_s[k % 2, :, :]"}}',
            '- copy: {src: "C_s[k % 2, :, :]", dst: "A_s[k % 2, :, :]"}']
    assert plans(loop_lines(body, num_stages=2), tiles) == [
        {"loads": [0, 2], "why": "2 load(s) issued 1 iteration(s) ahead"}]


def test_slots_may_outnumber_the_stages():
    assert plans(loop_lines([LOAD, STORE], num_stages=2))[0]["loads"] == [0]


@pytest.mark.parametrize("name, stages, tiles, why", [
    ("num_stages 1", loop_lines([LOAD.replace("k % 3", "k % 1"), STORE.replace("k % 3", "k % 1")],
                                num_stages=1), None, "num_stages is 1"),
    ("a sync stage", loop_lines([LOAD, "- sync_threads:", STORE]), None,
     "the body holds stages other than copy, transpose, gather, scatter and im2col (its "
     "synchronisation is the spec's own)"),
    ("no slot", loop_lines([f'- copy: {{src: "A[{REGION}]", dst: A_s}}',
                            f'- copy: {{src: A_s, dst: "B[{REGION}]"}}']),
     {"A_s": ((64, 64), "swizzle_128B")},
     "no copy into a shared tile by TMA or cp.async (or cp.async-sized vectors) writes a slot "
     "'k % s' with s >= num_stages (3) of its tile's first dimension"),
    ("too few slots", loop_lines([LOAD.replace("k % 3", "k % 2"), STORE.replace("k % 3", "k % 2")]),
     None, "no copy into a shared tile by TMA or cp.async (or cp.async-sized vectors) writes a "
     "slot 'k % s' with s >= num_stages (3) of its tile's first dimension"),
    ("another slot", loop_lines([LOAD, STORE.replace("k % 3", "(k + 1) % 3")]), None,
     "a stage touches 'A_s' outside the slot its load writes"),
    ("a fixed slot", loop_lines([LOAD, STORE.replace("k % 3", "0")]), None,
     "a stage touches 'A_s' outside the slot its load writes"),
    ("before its load", loop_lines([STORE, LOAD]), None,
     "a stage touches 'A_s' before its load in the body (it would see the load of its own "
     "iteration)"),
    ("writes what loads read", loop_lines([LOAD, f'- copy: {{src: "A_s[k % 3, :, :]", '
                                                 f'dst: "A[{REGION}]"}}']), None,
     "the body writes 'A', which its loads read"),
])
def test_a_loop_that_cannot_be_pipelined_runs_as_written_and_says_why(name, stages, tiles, why):
    a_io = "inout" if name == "writes what loads read" else "in"
    assert plans(stages, tiles, a_io) == [{"loads": [], "why": SERIAL + why}]


def nest(inner_extent: str, prefer: str = "") -> list[str]:
    """A pipeline loop over k inside a `for` over j."""
    load = LOAD.replace("}", f", prefer_instruction: {prefer}}}") if prefer else LOAD
    return loop_lines(loop_lines([load, STORE], extent=inner_extent), kind="for", var="j",
                      extent="4")


def test_loads_in_a_nest_of_varying_trip_counts_are_pipelined_without_tma():
    """TMA loads would count their barriers' phases across the loop's entries, as if every
    entry ran equally often: InstructionAnnotation makes them SIMT loops, pipelined as cp.async."""
    assert plans(nest("j + 3")) == [{"loads": [0], "why": "1 load(s) issued 2 iteration(s) ahead"}]


def test_a_nest_of_constant_trip_counts_is_pipelined():
    assert plans(nest("5"))[0]["loads"] == [0]


def test_cp_async_loads_in_a_nest_of_varying_trip_counts_are_pipelined():
    """cp.async groups are counted per entry (the wait is `pending`, not a phase)."""
    tiles = {"A_s": ((3, 64, 64), "auto")}
    assert plans(nest("j + 3", "cp_async"), tiles)[0]["loads"] == [0]


def notes(stages: list[str]) -> list[list[str]]:
    func = run_through(tile_ir(copy_kernel(TILE, stages)), "PipelinePlanning")["main"]
    return [[str(p), str(m)] for p, m, _hint in (func.attrs or {}).get(NOTES_ATTR, [])]


def test_a_loop_of_data_stages_run_as_written_is_a_note_for_tlspec_compile():
    """The slow path the spec did not ask for is reported (as a warning at the loop)."""
    (note,) = notes(loop_lines([LOAD, STORE.replace("k % 3", "(k + 1) % 3")]))
    assert note[0].endswith("/pipeline")
    assert note[1] == ("this pipeline loop runs as written, one iteration after another: a stage "
                       "touches 'A_s' outside the slot its load writes")


def test_loops_run_as_the_spec_asks_are_no_note():
    """num_stages 1 and a pipelined loop leave no note."""
    assert notes(loop_lines([LOAD.replace("k % 3", "k % 1"), STORE.replace("k % 3", "k % 1")],
                            num_stages=1)) == []
    assert notes(loop_lines([LOAD, STORE])) == []


def test_a_simt_load_the_spec_asks_to_keep_synchronous_is_not_issued_ahead():
    """A padded tile rules TMA out; its 16-byte vectors could be cp.async, and are, unless the
    spec says `prefer_instruction: sync`."""
    tiles = {"A_s": ((3, 64, 64), "padded")}
    load = f'- copy: {{src: "A[{REGION}]", dst: "A_s[k % 3, :, :]"}}'
    assert plans(loop_lines([load, STORE]), tiles)[0]["loads"] == [0]
    sync = load.replace("}", ", prefer_instruction: sync}")
    assert plans(loop_lines([sync, STORE]), tiles)[0]["loads"] == []


def test_a_scatter4_in_the_body_runs_it_as_written():
    """A TMA scatter4 is asynchronous, ordered by the spec's tma_store_wait: the loop runs as
    written rather than issuing its loads (into the slots of X) ahead of it."""
    from copy_kernels import gather4_kernel

    stages = loop_lines(['- copy: {src: "out[bx*8 : +8, k*64 : +64]", dst: "X[k % 2, :, :]"}',
                         '- copy: {src: "X[k % 2, :, :]", dst: G_s}',
                         '- scatter: {src: G_s, dst: "table[:, k*64 : +64]", '
                         'index: "idx[bx*8 : +8]", rows: 4}'], num_stages=2, extent="4")
    text = gather4_kernel(stages).replace(
        "  G_s:", "  X: {scope: shared, shape: [2, 8, 64], dtype: float16}\n  G_s:")
    func = run_through(tile_ir(text), "PipelinePlanning", arch="sm_100a")["main"]
    loops = []
    tvm_ffi.structural_walk(func.body, (tirx.For, loops.append), order="pre")
    assert str(loops[0].annotations[PLAN_ATTR]["why"]) == (
        SERIAL + "the body holds a TMA gather4 or scatter4, an asynchronous copy the spec "
        "orders itself")


def test_a_load_with_a_fill_is_not_issued_ahead_and_the_plan_says_why():
    """TMA and cp.async read zeros outside a tensor: a load with a fill other than zero (here a
    halo before A's start) stays a synchronous SIMT copy in its iteration."""
    halo = '- copy: {src: "A[bx*64 - 8 : +64, k*64 : +64]", dst: "A_s[k % 3, :, :]", fill: -1}'
    [plan] = plans(loop_lines([halo, STORE]), {"A_s": ((3, 64, 64), "auto")})
    assert plan["loads"] == []
    assert plan["why"].endswith("(the fill of /stages/0/pipeline/stages/0/copy is not zero, and "
                                "TMA and cp.async read zeros outside a tensor)")


# the blocks of a pair share their multicast source
SHARED_REGION = "bx // 2 * 64 : +64, k*64 : +64"
MULTICAST = (f'- copy_cluster: {{src: "A[{SHARED_REGION}]", dst: "A_s[k % 3, :, :]", '
             'cluster_mask: 3}')


def test_a_multicast_into_a_slot_is_a_load_its_issuer_refills_once_released():
    assert plans(loop_lines([MULTICAST, STORE]), cluster="[2]") == [
        {"loads": [0], "why": "1 load(s) issued 2 iteration(s) ahead; the multicast's issuer "
                              "(rank 0) refills a slot once the 2 blocks of mask 0x3 released it"}]


def test_multicasts_with_different_masks_run_as_written():
    tiles = {"A_s": ((3, 64, 64), "swizzle_128B"), "C_s": ((3, 64, 64), "swizzle_128B")}
    body = [MULTICAST, MULTICAST.replace("A_s", "C_s").replace("cluster_mask: 3", "cluster_mask: 2"),
            STORE]
    assert plans(loop_lines(body), tiles, cluster="[2]")[0]["why"] == (
        SERIAL + "its multicast loads have different cluster masks (0x2, 0x3): one ring of "
        "release barriers serves one mask")


def test_a_block_to_block_copy_in_the_body_runs_as_written():
    body = [LOAD, '- copy_cluster: {src: "A_s[k % 3, :, :]", dst: "A_s[k % 3, :, :]", '
                  'dst_block: (bx + 1) % 2}', STORE]
    assert plans(loop_lines(body), cluster="[2]")[0]["why"].startswith(
        SERIAL + "the body holds a block-to-block copy_cluster (dst_block)")


def test_a_converting_load_is_not_issued_ahead_as_a_cp_async():
    """cp.async moves bits: a copy from float16 into a float32 slot that PipelinePlanning made a
    cp.async load left the raw bits in the slot (every element wrong; a bug hunt's find). It
    stays a SIMT copy of the body."""
    tiles = {"A_s": ((3, 64, 64), "padded")}
    load = f'- copy: {{src: "A[{REGION}]", dst: "A_s[k % 3, :, :]"}}'
    text = copy_kernel(tiles, loop_lines([load, STORE]))
    assert plans(loop_lines([load, STORE]), tiles)[0]["loads"] == [0]     # the same, unconverted
    converting = text.replace("shared, shape: [3, 64, 64], dtype: float16",
                              "shared.dyn, shape: [3, 64, 64], dtype: float32")
    func = run_through(tile_ir(converting), "PipelinePlanning")["main"]
    loops = []
    tvm_ffi.structural_walk(func.body, (tirx.For, loops.append), order="pre")
    (plan,) = [loop.annotations[PLAN_ATTR] for loop in loops if PLAN_ATTR in loop.annotations]
    assert [int(i) for i in plan["loads"]] == []
    assert str(plan["why"]).endswith("(the copy /stages/0/pipeline/stages/0/copy converts "
                                     "float16 to float32, and TMA and cp.async move bits)")
