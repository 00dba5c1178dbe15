"""The synchronisation of the asynchronous stages in the interpreter: what makes a block hang
(a barrier_wait whose phase never completes) and what reads or overwrites data still in flight,
each a located error naming the barrier, the element and the stage missing; and what the model
allows (bytes landing before they are announced, empty cp.async groups, batched stores).
Where validation proves the fault from the order of the stages (tlspec.rules.sync_order) or
from the phases of a barrier in a loop (tlspec.rules.barrier_phases), a test checks that it
refuses the spec, and runs the kernel in the interpreter regardless (`checked=False`) to check
the interpreter's own finding.

Every kernel here moves one 64-element fp16 vector (128 bytes) through a shared tile A_s."""
from __future__ import annotations

import textwrap

import pytest

from interpret_support import assert_same, kernel, random, spec
import tlspec.rules as rules
import tlspec.rules.barrier_phases as barrier_phases
from tlspec.interpret import InterpretError
from tlspec.interpret.machine import Program
from tlspec.interpret.module import kernel_function
from tlspec.validate import validate_text

VECTOR = """
    A:   {scope: global, shape: [N], dtype: float16, io: in}
    B:   {scope: global, shape: [N], dtype: float16, io: out}
    A_s: {scope: shared, shape: [64], dtype: float16}
"""

WIDE = VECTOR.replace("[64]", "[128]")       # a tile of two 128-byte halves


# what validation says of a spec whose stages' order makes a copy race (tlspec.rules.sync_order)
# or whose barrier phases in a loop are wrong (tlspec.rules.barrier_phases)
SYNC_ORDER = ("writes asynchronously", "may still be reading: no tma_store_wait",
              "this wait names the wrong phase in the iteration",
              "this wait never returns in the iteration",
              "this arrival is one past the arrive_count in the iteration")


def vector_kernel(name: str, *stages: str, target: str = "sm_90a", buffers: str = VECTOR,
                  checked: bool = True):
    """A kernel of one block on A[N] and B[N], N a symbolic multiple of 8; its stages are the
    parts `stages`, each indented as it likes. `checked=False`: run it even though validation
    refuses the order of its stages (and nothing else)."""
    text = "\n".join(textwrap.dedent(part).strip() for part in stages)
    text = f"target: {target}\n" + spec(name, dims="{N: {symbolic: true, multiple_of: 8}}",
                                        buffers=buffers, stages=text, threads=128)
    if checked:
        return kernel(text)
    result = validate_text("tlspec: 1\n" + textwrap.dedent(text).strip() + "\n")
    assert result.diagnostics.has_errors, "validation accepts it: use checked=True"
    assert all(any(s in d.message for s in SYNC_ORDER) for d in result.diagnostics), \
        result.diagnostics.render_text()
    with pytest.MonkeyPatch.context() as patch:    # the interpreter re-checks the rules
        patch.setattr(rules, "check_sync_order", lambda ctx: None)
        patch.setattr(barrier_phases, "check_phases", lambda *args: None)
        return kernel_function(Program(result.kernels[0]))


def error(run, *args) -> str:
    with pytest.raises(InterpretError) as err:
        run(*args)
    return str(err.value)


LOAD = """
    - alloc_barrier: {name: bar, arrive_count: ARRIVALS}
    - barrier_arrive: {barrier: bar, expect_tx: EXPECT}
    - tma_copy: {src: "A[0 : +64]", dst: A_s, barrier: bar}
"""
STORE = """
    - copy: {src: A_s, dst: "B[0 : +64]"}
"""


def tma_load(name: str, after: str = "", expect: str = "128", arrivals: int = 1,
             wait: str = "- barrier_wait: {barrier: bar, parity: 0}"):
    """alloc_barrier, barrier_arrive, tma_copy, `wait`, `after` then A_s stored to B."""
    load = LOAD.replace("EXPECT", expect).replace("ARRIVALS", str(arrivals))
    return vector_kernel(name, load, wait, after, STORE)


# -- waits that hang -----------------------------------------------------------------------------

def refused(make) -> str:
    """The diagnostics of a spec the interpreter refuses before it runs (validation's)."""
    with pytest.raises(InterpretError) as err:
        make()
    return str(err.value)


def refused_then_run(make, *args, **options):
    """The first line of what validation says of `make(*args, **options)`, and the kernel run
    regardless."""
    first = refused(lambda: make(*args, **options)).splitlines()[0]
    return first, make(*args, checked=False, **options)


def test_a_wait_with_no_arrival_is_refused_before_it_runs():
    """Validation proves this wait hangs (tlspec.rules.barriers), so nothing runs."""
    assert refused(lambda: vector_kernel("no_arrival", """
        - alloc_barrier: {name: bar}
        - barrier_wait: {barrier: bar, parity: 0}
    """)).splitlines()[0] == (
        "<string>:12:29: error: this wait never returns: no barrier_arrive arrives on 'bar'")


def test_top_level_waits_that_hang_are_refused_before_they_run():
    """Too few arrivals for arrive_count, and a parity naming the phase in progress, in
    straight-line code: validation follows the phases and refuses both."""
    assert refused(lambda: tma_load("missing_arrival", arrivals=2)).splitlines()[0] == (
        "<string>:14:42: error: this wait never returns: it waits for a phase of parity 0 of "
        "'bar', and phase 0, of that parity, is still in progress here (1 arrival(s) so far, 2 "
        "per phase)")
    assert refused(lambda: tma_load("wrong_parity", wait="- barrier_wait: {barrier: bar, "
                                                         "parity: 1}")).splitlines()[0] == (
        "<string>:14:42: error: this wait never returns: it waits for a phase of parity 1 of "
        "'bar', and phase 1, of that parity, is still in progress here (1 arrival(s) so far, 1 "
        "per phase)")


def test_a_wait_for_arrivals_that_never_come_hangs():
    """In a loop: validation follows the phases and refuses it; the interpreter finds the hang
    at the same stage and iteration."""
    def wait(checked=True):
        return vector_kernel("missing_arrival_loop", """
        - alloc_barrier: {name: bar, arrive_count: 2}
        - for:
            var: k
            extent: N // 64
            stages:
              - barrier_arrive: {barrier: bar, expect_tx: 128}
              - tma_copy: {src: "A[k*64 : +64]", dst: A_s, barrier: bar}
              - barrier_wait: {barrier: bar, parity: k % 2}
              - copy: {src: A_s, dst: "B[k*64 : +64]"}
              - sync_threads:
    """, checked=checked)
    first, run = refused_then_run(wait)
    assert first == ("<string>:18:48: error: this wait never returns in the iteration k = 0: it "
                     "waits for phase 0 of 'bar' (parity 0), which has had 1 of its 2 arrivals "
                     "(arrive_count 2), and no other arrival comes while the block waits")
    assert error(run, random((128,))) == (
        "<string>:18:11: error: barrier_wait in block (bx=0), k = 0: hangs: phase 0 of 'bar' "
        "(parity 0) never completes: 1 of its 2 arrivals have come\n"
        "  at: /stages/1/for/stages/2/barrier_wait\n"
        "  hint: arrive on 'bar' 2 times (its arrive_count) in every phase before waiting for it")


def one_barrier_loop(name: str, parity: str, last: str = "- sync_threads:", checked=True):
    """Tile k loaded into A_s, waited for with `parity`, copied to B, then `last`."""
    return vector_kernel(name, f"""
        - alloc_barrier: {{name: bar}}
        - for:
            var: k
            extent: N // 64
            stages:
              - barrier_arrive: {{barrier: bar, expect_tx: 128}}
              - tma_copy: {{src: "A[k*64 : +64]", dst: A_s, barrier: bar}}
              - barrier_wait: {{barrier: bar, parity: {parity}}}
              - copy: {{src: A_s, dst: "B[k*64 : +64]"}}
              {last}
    """, checked=checked)


def test_a_constant_parity_in_a_loop_hangs_in_the_second_iteration():
    """Validation refuses it at the wait, in iteration 1; so does the interpreter."""
    first, loop = refused_then_run(one_barrier_loop, "constant_parity", "0")
    assert first.startswith("<string>:18:48: error: this wait names the wrong phase in the "
                            "iteration k = 1: the copies it waits for complete phase 1 of 'bar'")
    a = random((64,))
    assert_same(loop(a), a)
    assert error(loop, random((128,))).startswith(
        "<string>:18:11: error: barrier_wait in block (bx=0), k = 1: hangs: phase 2 of 'bar' "
        "(parity 0) never completes: it has not started (phase 1 has completed")


def test_expect_tx_too_large_hangs():
    """N = 72: 144 bytes announced, the 64-element box delivers 128."""
    assert error(tma_load("expect_too_much", expect="N * 2"), random((72,))).splitlines()[0::2] == [
        "<string>:14:5: error: barrier_wait in block (bx=0): hangs: phase 0 of 'bar' (parity 0) "
        "never completes: 16 bytes announced with expect_tx have not landed",
        "  hint: announce only the bytes of the copies completing on 'bar' in this phase (product "
        "of the box's extents x dtype size)"]


def test_bytes_that_land_before_too_few_are_announced_hang():
    """The copy first: its 128 bytes count the phase down to -128, the arrival's 80 to -48."""
    early = vector_kernel("landed_first", """
        - alloc_barrier: {name: bar}
        - tma_copy: {src: "A[0 : +64]", dst: A_s, barrier: bar}
        - barrier_arrive: {barrier: bar, expect_tx: N * 2}
        - barrier_wait: {barrier: bar, parity: 0}
    """, STORE)
    a = random((64,))
    assert_same(early(a)[:64], a)       # announced after landing, but all of it: fine
    assert "never completes: 48 bytes landed in it that no expect_tx announced\n" in error(
        early, random((40,)))


def test_an_asynchronous_refill_of_a_tile_threads_read_needs_sync_threads():
    """The copy of iteration 0 reads A_s in every thread; the TMA load of iteration 1 may land
    while a slow thread still reads it, unless a sync_threads comes between."""
    a = random((192,))
    assert_same(one_barrier_loop("refill", "k % 2")(a), a)
    assert error(one_barrier_loop("refill_unsynced", "k % 2", last=""), a) == (
        "<string>:17:49: error: tma_copy in block (bx=0), k = 1: overwrites A_s[0], which a stage "
        "of this block read since the last sync_threads: other threads may still be reading it "
        "when the tma_copy lands\n"
        "  at: /stages/1/for/stages/1/tma_copy/dst\n"
        "  hint: add sync_threads before this stage")


# -- data read or overwritten while in flight ------------------------------------------------------

def test_expect_tx_too_small_lets_the_wait_return_before_the_data_lands():
    """N = 40: 80 bytes announced. Phase 0 completes once 80 bytes landed; the other 48 count in
    phase 1, which no wait sees complete."""
    assert error(tma_load("expect_too_little", expect="N * 2"), random((40,))) == (
        "<string>:16:17: error: copy in block (bx=0): reads A_s[0], which a TMA load completes on "
        "'bar' in its phase 1, before a barrier_wait has seen that phase complete: phase 0 completed "
        "once the bytes announced for it had landed, and the last 48 bytes of the copy count in "
        "phase 1 (expect_tx announced too few)\n"
        "  at: /stages/4/copy/src\n"
        "  hint: announce every byte of the box with expect_tx: a TMA load counts the whole box, "
        "the zeros past the tensor's end included")


def test_reading_a_tma_loaded_tile_before_barrier_wait():
    first, early = refused_then_run(vector_kernel, "read_early",
                                    LOAD.replace("EXPECT", "128").replace("ARRIVALS", "1"),
                                    STORE, "- barrier_wait: {barrier: bar, parity: 0}")
    assert first == (
        "<string>:14:17: error: copy reads A_s, which a TMA load (/stages/2/tma_copy) writes "
        "asynchronously, and no barrier_wait on 'bar' comes between them: the copy may not have "
        "landed (a race on the GPU)")
    assert error(early, random((64,))) == (
        "<string>:14:17: error: copy in block (bx=0): reads A_s[0], which a TMA load completes on "
        "'bar' in its phase 0, before a barrier_wait has seen that phase complete\n"
        "  at: /stages/3/copy/src\n"
        "  hint: barrier_wait on bar first: add '- barrier_wait: {barrier: \"bar\", parity: 0}' "
        "before this stage")


def test_overwriting_a_tile_a_tma_load_writes():
    first, overwrite = refused_then_run(vector_kernel, "overwrite_loading", """
        - alloc_barrier: {name: bar}
        - barrier_arrive: {barrier: bar, expect_tx: 128}
        - tma_copy: {src: "A[0 : +64]", dst: A_s, barrier: bar}
        - copy: {src: "A[0 : +8]", dst: "A_s[8 : +8]"}
        - barrier_wait: {barrier: bar, parity: 0}
    """, STORE)
    assert first.startswith("<string>:14:36: error: copy overwrites A_s[8 : +8], which a TMA load")
    assert error(overwrite, random((64,))).startswith(
        "<string>:14:36: error: copy in block (bx=0): overwrites A_s[8], which a TMA load completes "
        "on 'bar' in its phase 0, before a barrier_wait has seen that phase complete\n")


TWO_PHASES = """
    - alloc_barrier: {name: bar}
    - barrier_arrive: {barrier: bar, expect_tx: 128}
    - tma_copy: {src: "A[0 : +64]", dst: "A_s[0 : +64]", barrier: bar}
    - barrier_arrive: {barrier: bar, expect_tx: 128}
    - tma_copy: {src: "A[64 : +64]", dst: "A_s[64 : +64]", barrier: bar}
    - barrier_wait: {barrier: bar, parity: 1}
    - copy: {src: A_s, dst: "B[0 : +128]"}
"""


def test_arriving_for_the_next_phase_before_a_wait_saw_the_last_is_refused():
    """Two loads on one barrier, two phases, one wait after both: phase 0 completes when its
    load lands, which may be after the second arrival on the GPU, which is then one past the
    arrive_count of phase 0 (docs/spec.md, Synchronisation). Validation refuses it in
    straight-line code as in loops (tlspec.rules.barrier_phases), and the interpreter faults at
    the arrival (it used to run it, the wait for parity 1 seeing both tiles: the CPU evaluator
    of the lowered kernel, tests/tir_run.py, finds the arrival past the count)."""
    assert refused(lambda: vector_kernel("two_phases", TWO_PHASES, buffers=WIDE)).splitlines()[
        0] == ("<string>:14:31: error: this arrival is one past the arrive_count if phase 0 of "
               "'bar' has not completed yet: that phase has had all its 1 arrival(s) and "
               "completes when its copies have landed, which no barrier_wait has seen; an "
               "arrival then is undefined (the phase may complete before its data lands, or "
               "never)")
    with pytest.MonkeyPatch.context() as patch:     # the interpreter finds it by itself
        patch.setattr(rules.barriers, "check_top_level_phases", lambda *args: None)
        two = vector_kernel("two_phases", TWO_PHASES, buffers=WIDE)
    assert error(two, random((128,))).splitlines()[0] == (
        "<string>:14:5: error: barrier_arrive in block (bx=0): arrives on 'bar' for phase 1 "
        "before a barrier_wait has seen phase 0 complete: that phase completes when its copies "
        "have landed, which on the GPU may be after this arrival (it would then be one past the "
        "arrive_count of phase 0)")


def test_a_wait_between_the_phases_makes_the_second_arrival_safe():
    waited = vector_kernel("two_phases_waited", TWO_PHASES.replace(
        """    - barrier_arrive: {barrier: bar, expect_tx: 128}
    - tma_copy: {src: "A[64""", """    - barrier_wait: {barrier: bar, parity: 0}
    - barrier_arrive: {barrier: bar, expect_tx: 128}
    - tma_copy: {src: "A[64"""), buffers=WIDE)
    a = random((128,))
    assert_same(waited(a), a)


CP_ASYNC = """
    - async_copy: {src: "A[0 : +32]", dst: "A_s[0 : +32]"}
    - async_copy: {src: "A[32 : +32]", dst: "A_s[32 : +32]"}
"""


def cp_async(name: str, between: str, checked: bool = True):
    return vector_kernel(name, CP_ASYNC, between, STORE, target="sm_80", checked=checked)


def test_reading_cp_async_data_without_async_wait():
    first, no_wait = refused_then_run(cp_async, "no_async_wait", "- sync_threads:")
    assert first == (
        "<string>:14:17: error: copy reads A_s, which an async_copy (/stages/0/async_copy) "
        "writes asynchronously, and no async_wait between them completes its group (1 group(s) "
        "committed after it): the copy may not have landed (a race on the GPU)")
    assert error(no_wait, random((64,))) == (
        "<string>:14:17: error: copy in block (bx=0): reads A_s[0], which an async_copy is still "
        "writing: no async_wait has completed its group\n"
        "  at: /stages/3/copy/src\n"
        "  hint: async_wait + sync_threads first: add '- async_wait: {pending: 1}' and "
        "'- sync_threads:' before this stage")


def test_reading_cp_async_data_without_sync_threads():
    assert error(cp_async("no_sync", "- async_wait: {pending: 0}"), random((64,))) == (
        "<string>:14:17: error: copy in block (bx=0): reads A_s[0], which an async_copy wrote: "
        "async_wait has completed its group in each thread, but other threads copied parts of it\n"
        "  at: /stages/3/copy/src\n"
        "  hint: add sync_threads after async_wait, before this stage")


def test_async_wait_leaves_the_newest_groups_in_flight():
    """pending 1 completes the first copy's group, not the second's."""
    first, pending_one = refused_then_run(cp_async, "pending_one",
                                          "- async_wait: {pending: 1}\n- sync_threads:")
    assert "copy reads A_s, which an async_copy (/stages/1/async_copy) writes" in first
    assert "reads A_s[32], which an async_copy is still writing" in error(pending_one,
                                                                         random((64,)))
    a = random((64,))
    assert_same(cp_async("pending_zero", "- async_wait: {pending: 0}\n- sync_threads:")(a), a)


@pytest.mark.parametrize("commits, pending, lands",
                         [(0, 0, True), (1, 1, True), (1, 2, False), (2, 2, True), (2, 3, False)])
def test_empty_groups_count_in_pending(commits, pending, lands):
    """async_copy commits its own group; each async_commit after it commits an empty one."""
    parts = ('- async_copy: {src: "A[0 : +64]", dst: A_s}', "- async_commit:\n" * commits,
             f"- async_wait: {{pending: {pending}}}\n- sync_threads:", STORE)
    a = random((64,))
    if lands:
        assert_same(vector_kernel("empty_groups", *parts, target="sm_80")(a), a)
    else:
        first, copy = refused_then_run(vector_kernel, "empty_groups", *parts, target="sm_80")
        assert f"no async_wait between them completes its group ({commits} group(s)" in first
        assert "which an async_copy is still writing" in error(copy, a)


STORE_BUFFERS = VECTOR + "    C:   {scope: global, shape: [N], dtype: float16, io: out}\n"


def stores(name: str, wait: str, checked: bool = True):
    """A_s stored to B by TMA, then refilled for the store to C."""
    return vector_kernel(name, f"""
        - copy: {{src: "A[0 : +64]", dst: A_s}}
        - tma_copy: {{src: A_s, dst: "B[0 : +64]"}}
        {wait}
        - copy: {{src: "A[64 : +64]", dst: A_s}}
        - tma_copy: {{src: A_s, dst: "C[0 : +64]"}}
    """, buffers=STORE_BUFFERS, checked=checked)


def test_overwriting_a_tile_an_unretired_tma_store_reads():
    first, refill = refused_then_run(stores, "store_then_refill", "- sync_threads:")
    assert first == (
        "<string>:15:37: error: copy overwrites A_s, which a TMA store (/stages/1/tma_copy) may "
        "still be reading: no tma_store_wait between them retires it (0 store group(s) issued "
        "after it)")
    assert error(refill, random((128,))) == (
        "<string>:15:37: error: copy in block (bx=0): overwrites A_s[0], which a TMA store "
        "(a tma_copy to global, or a scatter4) may still be reading\n"
        "  at: /stages/3/copy/dst\n"
        "  hint: tma_store_wait before overwriting the tile: add '- tma_store_wait: {pending: 0}' "
        "before this stage")


def test_tma_store_wait_retires_the_store_and_none_is_needed_at_the_end():
    a = random((128,))
    b, c = stores("store_wait_refill", "- tma_store_wait: {pending: 0}")(a)
    assert_same(b[:64], a[:64])
    assert_same(c[:64], a[64:])


def test_tma_store_wait_leaves_the_newest_stores_in_flight():
    """Two stores from two halves of the tile; pending 1 retires the first only."""
    first, halves = refused_then_run(vector_kernel, "store_halves", """
        - copy: {src: "A[0 : +128]", dst: A_s}
        - tma_copy: {src: "A_s[0 : +64]", dst: "B[0 : +64]"}
        - tma_copy: {src: "A_s[64 : +64]", dst: "B[64 : +64]"}
        - tma_store_wait: {pending: 1}
        - copy: {src: "A[128 : +64]", dst: "A_s[0 : +64]"}
        - copy: {src: "A[192 : +64]", dst: "A_s[64 : +64]"}
    """, buffers=WIDE)
    assert first.startswith("<string>:16:39: error: copy overwrites A_s[64 : +64], which a TMA "
                            "store (/stages/2/tma_copy) may still be reading")
    assert error(halves, random((128,))).startswith(
        "<string>:16:39: error: copy in block (bx=0): overwrites A_s[64], which a TMA store "
        "(a tma_copy to global, or a scatter4) may still be reading\n")


# -- the block's end, and arrivals -------------------------------------------------------------

def test_a_block_that_ends_before_its_tma_load_is_waited_for():
    unwaited = vector_kernel("unwaited_load", LOAD.replace("EXPECT", "128")
                             .replace("ARRIVALS", "1"))
    assert error(unwaited, random((64,))) == (
        "<string>:13:5: error: block (bx=0): the block ends while this tma_copy may still be "
        "writing A_s[0]: no barrier_wait on 'bar' saw its phase 0 complete\n"
        "  at: /stages/2/tma_copy\n"
        "  hint: wait for every load before the block ends: add '- barrier_wait: {barrier: "
        "\"bar\", parity: 0}' after it")


def test_a_block_that_ends_before_its_cp_async_is_waited_for():
    unwaited = vector_kernel("unwaited_cp_async", CP_ASYNC, "- async_wait: {pending: 1}",
                             target="sm_80")
    assert error(unwaited, random((64,))).splitlines()[:2] == [
        "<string>:12:5: error: block (bx=0): the block ends while this async_copy may still be "
        "writing A_s[32]: no async_wait completed its group",
        "  at: /stages/1/async_copy"]


EXTRA_ARRIVAL = """
    - alloc_barrier: {name: bar}
    - barrier_arrive: {barrier: bar, expect_tx: 128}
    - barrier_arrive: {barrier: bar}
    - tma_copy: {src: "A[0 : +64]", dst: A_s, barrier: bar}
"""


def test_an_arrival_past_arrive_count():
    """Validation refuses it (its phases at the top level), and the interpreter finds it."""
    assert refused(lambda: vector_kernel("extra_arrival", EXTRA_ARRIVAL)).splitlines()[0] == (
        "<string>:13:31: error: this arrival is one past the arrive_count if phase 0 of 'bar' "
        "has not completed yet: that phase has had all its 1 arrival(s) and completes when its "
        "copies have landed, which no barrier_wait has seen; an arrival then is undefined (the "
        "phase may complete before its data lands, or never)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rules.barriers, "check_top_level_phases", lambda *args: None)
        extra = vector_kernel("extra_arrival", EXTRA_ARRIVAL)
    assert error(extra, random((64,))).splitlines()[0] == (
        "<string>:13:5: error: barrier_arrive in block (bx=0): arrives on 'bar' in phase 0, which "
        "has had all its 1 arrivals and still waits for 128 bytes: an extra arrival is undefined")
