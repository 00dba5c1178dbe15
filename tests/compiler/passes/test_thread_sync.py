"""ThreadSync on loops whose body is a single stage: the stage stays the body when nothing
conflicts across iterations, and a barrier closes the body when the next iteration would write
a tile this one wrote.

The explicit asynchronous stages: two TMA copies (issued by thread 0, on different barriers)
need no block barrier between them, a SIMT read followed by a TMA load of the tile does, and a loop whose first
iteration conflicts with what precedes it gets its barrier before the loop."""
from pathlib import Path

import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from copy_kernels import copy_kernel, loop_lines
from pipeline_support import run_through, tile_ir
from test_inject_fence_proxy import LOOP_OF_ONE_GATHER, loop_of_one, spec_loop
from tvm import tirx

from tlspec.compiler.analysis import is_block_sync, stage_kind
from tlspec.compiler.passes.thread_sync import ThreadSync

ORDERING = Path(__file__).parent / "ordering"     # kernels of orderings once missing
LOOP_OF_ONE_LOAD = loop_of_one(
    'copy: {src: "A[bx*64 : +64, k*64 : +64]", dst: A_s, prefer_instruction: sync}')


def synced(text):
    return ThreadSync()(run_through(tile_ir(text), "InjectFenceProxy"))["main"]


def test_a_loop_of_one_stage_without_conflicts_keeps_the_stage_as_its_body():
    assert stage_kind(spec_loop(synced(LOOP_OF_ONE_GATHER)).body) == "gather:sync"


def test_a_loop_of_one_stage_rewriting_its_tile_ends_with_a_barrier():
    body = spec_loop(synced(LOOP_OF_ONE_LOAD)).body
    assert isinstance(body, tirx.SeqStmt) and len(body.seq) == 2
    assert stage_kind(body.seq[0]) == "copy:sync" and is_block_sync(body.seq[1])


# -- the explicit asynchronous stages -----------------------------------------------------------
def tma_loop(consumer: str, before: list[str] = ()) -> str:
    """A `for` loop over k loading A_s by tma_copy on a barrier, then running `consumer`."""
    return copy_kernel({"A_s": ((64, 64), "swizzle_128B")}, [
        "- alloc_barrier: {name: bar}", *before, *loop_lines([
            "- barrier_arrive: {barrier: bar, expect_tx: 8192}",
            "- tma_copy: {src: 'A[bx*64 : +64, k*64 : +64]', dst: A_s, barrier: bar}",
            "- barrier_wait: {barrier: bar, parity: k % 2}", consumer,
            "- tma_store_wait:"], kind="for", extent=4)])


def barriers_in(stmt) -> int:
    return stmt.script().count("cta_sync")


def test_two_tma_stages_of_thread_0_need_no_barrier_between_them():
    """A store reads A_s, the next load (on another barrier) rewrites it: both by thread 0 (the
    store's reads are the spec's tma_store_wait to order)."""
    func = synced(copy_kernel({"A_s": ((64, 64), "swizzle_128B")}, [
        "- alloc_barrier: {name: bars, count: 2}", *(line for n in (0, 1) for line in (
            f"- barrier_arrive: {{barrier: 'bars[{n}]', expect_tx: 8192}}",
            f"- tma_copy: {{src: 'A[bx*64 : +64, {n * 64} : +64]', dst: A_s, barrier: 'bars[{n}]'}}",
            f"- barrier_wait: {{barrier: 'bars[{n}]', parity: 0}}",
            f"- tma_copy: {{src: A_s, dst: 'B[bx*64 : +64, {n * 64} : +64]'}}",
            "- tma_store_wait:"))]))
    kernel = func.body.script()
    assert kernel.count("cta_sync") == 1        # the one after the mbarriers' initialisation
    assert kernel.index("cta_sync") < kernel.index("tlspec.stage")


def test_a_simt_read_then_a_tma_load_of_the_tile_needs_a_barrier():
    """Every thread reads A_s; the next iteration's load by thread 0 must wait for all of them."""
    func = synced(tma_loop("- copy: {src: A_s, dst: 'B[bx*64 : +64, k*64 : +64]', "
                           "prefer_instruction: sync}"))
    body = spec_loop(func).body.seq
    assert is_block_sync(body[-1]) and barriers_in(spec_loop(func)) == 1


def test_a_loop_whose_first_iteration_conflicts_gets_the_barrier_before_the_loop():
    """Threads write A_s before the loop; its first TMA load rewrites it: one barrier, before
    the loop, not in every iteration."""
    func = synced(tma_loop("- tma_copy: {src: A_s, dst: 'B[bx*64 : +64, k*64 : +64]'}", before=[
        "- copy: {src: 'A[bx*64 : +64, 0 : +64]', dst: A_s, prefer_instruction: sync}",
        "- copy: {src: A_s, dst: 'B[bx*64 : +64, 0 : +64]', prefer_instruction: sync}"]))
    loop = spec_loop(func)
    assert not is_block_sync(loop.body.seq[0])
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.SeqStmt, lambda s: found.append(s)
                                        if any(x.same_as(loop) for x in s.seq) else None),
                            order="pre")
    (parent,) = found
    at = [i for i, x in enumerate(parent.seq) if x.same_as(loop)][0]
    assert is_block_sync(parent.seq[at - 1])


# -- warp-specialized kernels -------------------------------------------------------------------
def ws_transpose(consumer_tile: str) -> str:
    """A warp-specialized pipeline: TMA loads into A_s[k % 3]; the consumers transpose the slot
    into `consumer_tile` and store it by TMA."""
    tiles = {"A_s": ((3, 64, 64), "swizzle_128B"), "T_s": ((2, 64, 64), "swizzle_128B")}
    return copy_kernel(tiles, loop_lines([
        '- copy: {src: "A[bx*64 : +64, k*64 : +64]", dst: "A_s[k % 3, :, :]"}',
        f'- transpose: {{src: "A_s[k % 3, :, :]", dst: "{consumer_tile}"}}',
        f'- copy: {{src: "{consumer_tile}", dst: "B[k*64 : +64, bx*64 : +64]"}}'],
        warp_specialize="true"), grid="{bx: 16}", dims="{M: 1024, N: 1024}")


def role(func, name: str):
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, lambda a: found.append(a)
                                        if a.attr_key == "tlspec.warp_role"
                                        and a.value.value == name else None), order="pre")
    return found[0]


def test_the_consumers_synchronise_by_a_named_barrier_of_their_threads_only():
    func = synced(ws_transpose("T_s[0, :, :]"))
    consumer = role(func, "consumer").script()
    assert "cta_sync" not in consumer and "cta_sync" not in role(func, "producer").script()
    # the transposed tile is written, then stored by TMA, and written again next iteration
    assert consumer.count("T.ptx.bar(T.uint32(1), T.uint32(128)") == 2


def test_the_rings_need_no_barrier():
    """Consumers that only read the slot: the full / empty rings order the slot's reuse."""
    text = copy_kernel({"A_s": ((3, 64, 64), "swizzle_128B")}, loop_lines([
        '- copy: {src: "A[bx*64 : +64, k*64 : +64]", dst: "A_s[k % 3, :, :]"}',
        '- copy: {src: "A_s[k % 3, :, :]", dst: "B[bx*64 : +64, k*64 : +64]", '
        'prefer_instruction: sync}'], warp_specialize="true"))
    assert "T.ptx.bar(" not in role(synced(text), "consumer").script()


def test_a_specs_sync_threads_among_the_consumers_becomes_their_named_barrier():
    text = copy_kernel({"A_s": ((3, 64, 64), "swizzle_128B"), "C_s": ((64, 64), "auto")}, [
        "- copy: {src: 'A[bx*64 : +64, 0 : +64]', dst: C_s, prefer_instruction: sync}",
        "- sync_threads:",
        "- copy: {src: C_s, dst: 'B[bx*64 : +64, 0 : +64]', prefer_instruction: sync}",
        *loop_lines([
            '- copy: {src: "A[bx*64 : +64, k*64 : +64]", dst: "A_s[k % 3, :, :]"}',
            '- copy: {src: "A_s[k % 3, :, :]", dst: "B[bx*64 : +64, k*64 : +64]", '
            'prefer_instruction: sync}'], warp_specialize="true")])
    consumer = role(synced(text), "consumer").script()
    # the spec's sync_threads, and one before the loop, whose first iteration writes the
    # columns of B that the copy before it wrote (other threads: global_writes)
    assert "cta_sync" not in consumer and consumer.count("T.ptx.bar(T.uint32(1)") == 2


def test_a_gather4_reading_indices_threads_wrote_waits_for_them():
    """Thread 0 reads the indices of a gather4 from a shared tile the block's threads wrote: a
    block barrier comes between (without it thread 0 could read indices not written yet)."""
    from copy_kernels import gather4_kernel, gather4_stages

    text = gather4_kernel(gather4_stages(), out="out").replace(
        "  G_s:", "  I_s: {scope: shared, shape: [8], dtype: int32}\n  G_s:").replace(
        'index: "idx[bx*8 : +8]"', "index: I_s").replace(
        "stages:\n", "stages:\n  - copy: {src: \"idx[bx*8 : +8]\", dst: I_s, "
        "prefer_instruction: sync}\n")
    body = synced(text).body
    stages = []
    tvm_ffi.structural_walk(body, (tirx.AttrStmt, lambda a: stages.append(a)
                                   if stage_kind(a) else None), order="pre")
    script = body.script()
    assert script.index("cta_sync", script.index('"copy:sync"')) < script.index('"gather:tma"')


def test_a_loop_that_may_run_zero_times_leaves_what_came_before_it_unordered():
    """The barrier closing the body of a loop over N // 4 (N may be below 4) does not run when
    the loop does not: the copy after the loop still reads what the copy before it wrote (the
    second round of bug hunting: the last copy read S without a barrier)."""
    text = (ORDERING / "zero_trip_loop.tlspec.yaml").read_text()
    body = synced(text).body
    stmts = []
    tvm_ffi.structural_walk(body, (tirx.SeqStmt, lambda s: stmts.extend(s.seq)
                                   if any(isinstance(x, tirx.For) for x in s.seq) else None),
                            order="pre")
    after = stmts[[isinstance(x, tirx.For) for x in stmts].index(True) + 1:]
    assert is_block_sync(after[0]), "a barrier between the loop and the copy that reads S"


# -- orderings the second round of bug hunting found missing (tests/compiler/passes/ordering) --


def ordering_ir(name: str) -> list[str]:
    """The lines of the named kernel's IR after ThreadSync that order things: barriers, proxy
    fences, bulk waits, TMA copies and the SIMT stages' markers."""
    text = (ORDERING / f"{name}.tlspec.yaml").read_text()
    script = run_through(tile_ir(text), "ThreadSync")["main"].script()
    keep = ("cta_sync", "fence", "wait_group", "copy_async", '"copy:sync"', '"gather:sync"')
    return [line.strip() for line in script.splitlines() if any(k in line for k in keep)]


def test_a_tile_rewritten_after_tma_store_wait_waits_for_a_barrier_after_it():
    """thread 0's wait says the store has read the tile; the others learn it at a barrier."""
    lines = ordering_ir("store_wait_then_overwrite")
    wait = next(i for i, line in enumerate(lines) if "wait_group" in line)
    assert lines[wait + 1] == "T.cuda.cta_sync()" and '"copy:sync"' in lines[wait + 2]


def test_the_proxy_fence_comes_before_the_barrier_that_precedes_a_tma_store():
    lines = ordering_ir("fence_then_tma_store")
    fence = next(i for i, line in enumerate(lines) if line.startswith("T.ptx.fence"))
    assert lines[fence + 1] == "T.cuda.cta_sync()" and "copy_async" in lines[fence + 2]


def test_a_tma_store_of_a_tensor_computed_indices_read_is_waited_for_until_done():
    lines = ordering_ir("tma_store_then_computed_index")
    assert any('"wait_group", "", ""' in line for line in lines)
    assert not any('"wait_group", "read"' in line for line in lines)
    assert any('fence("proxy", "async", "global"' in line for line in lines)
