"""The phases of mbarriers through loops (tlspec/rules/barrier_phases.py): each barrier of an
array followed through unrolled iterations, a wait checked against the phase its copies
complete, arrivals against arrive_count. Mistakes are refused at the stage, with the iteration;
every correct way of counting phases (one barrier, rings, prefetches, nested loops, phases
before the loop, arrivals after the copy) is accepted."""
import textwrap

import pytest

from tlspec.validate import validate_text

HEAD = """\
tlspec: 1
name: phases
target: sm_90a
dims:
  M: {symbolic: true, multiple_of: 8}
  N: {symbolic: true, multiple_of: 8}
buffers:
  A:   {scope: global, shape: [M, N], dtype: float16, io: in}
  B:   {scope: global, shape: [M, N], dtype: float16, io: out}
  A_s: {scope: shared, shape: [3, 64, 64], dtype: float16, layout: swizzle_128B}
launch:
  grid: {bx: "ceildiv(M, 64)"}
  threads: 128
stages:
"""

LOAD = """\
- barrier_arrive: {barrier: BAR, expect_tx: 8192}
- tma_copy: {src: "A[bx*64 : +64, K*64 : +64]", dst: "A_s[S, :, :]", barrier: BAR}
"""
USE = """\
- barrier_wait: {barrier: BAR, parity: PARITY}
- tma_copy: {src: "A_s[S, :, :]", dst: "B[bx*64 : +64, K*64 : +64]"}
- tma_store_wait: {pending: 0}
"""


def body(bar: str = "bar", parity: str = "k % 2", slot: str = "0", k: str = "k",
         wait_bar: str | None = None) -> str:
    load = LOAD.replace("BAR", bar).replace("S", slot).replace("K", k)
    use = USE.replace("BAR", wait_bar or bar).replace("PARITY", parity).replace("S", slot)
    return load + use.replace("K", k)


def loop(stages: str, var: str = "k", extent: str = "ceildiv(N, 64)") -> str:
    return (f"- for:\n    var: {var}\n    extent: {extent}\n    stages:\n"
            + textwrap.indent(stages, "      "))


def kernel(*parts: str, alloc: str = "{name: bar}") -> str:
    stages = f"- alloc_barrier: {alloc}\n" + "".join(parts)
    return HEAD + textwrap.indent(stages, "  ")


def errors(text: str) -> list:
    return [d for d in validate_text(text).diagnostics if d.severity.name == "ERROR"]


def only_error(text: str):
    found = errors(text)
    assert len(found) == 1, [d.render() for d in found]
    return found[0]


RING = '"full[k % 3]"'


@pytest.mark.parametrize("text", [
    kernel(loop(body())),                                            # one barrier, k % 2
    kernel(loop(body(parity="(k + 0) % 2"))),
    # a ring of three, each slot a phase every third iteration
    kernel(loop(body(RING, "k // 3 % 2", "k % 3")), alloc="{name: full, count: 3}"),
    # the arrival after the copy; two arrivals of an arrive_count 2
    kernel(loop(body().replace("- barrier_arrive: {barrier: bar, expect_tx: 8192}\n", "")
                .replace("- barrier_wait", "- barrier_arrive: {barrier: bar, expect_tx: 8192}\n"
                         "- barrier_wait"))),
    kernel(loop(body() .replace("- barrier_wait", "- barrier_arrive: {barrier: bar}\n"
                                "- barrier_wait")), alloc="{name: bar, arrive_count: 2}"),
    # a phase before the loop: the loop's waits are one phase on
    kernel(body(parity="0", k="0"), loop(body(parity="(k + 1) % 2"))),
    # a prefetch: the copy of iteration k + 1 issued before the wait of iteration k
    kernel(LOAD.replace("BAR", '"full[0]"').replace("S", "0").replace("K", "0"),
           loop(LOAD.replace("BAR", '"full[(k + 1) % 2]"').replace("S", "(k + 1) % 2")
                .replace("K", "(k + 1)")
                + USE.replace("BAR", '"full[k % 2]"').replace("PARITY", "k // 2 % 2")
                .replace("S", "k % 2").replace("K", "k"), extent="3"),
           alloc="{name: full, count: 2}"),
    # nested constant loops: the phase counts both variables
    kernel(loop(loop(body(parity="(i * 3 + k) % 2"), extent="3"), var="i", extent="4")),
    # an inner loop of unknown trip count: k % 2 is right where it is even (not followed on)
    kernel(loop(loop(body(parity="k % 2")), var="i", extent="4")),
    # a slot that depends on the block: not followed
    kernel(loop(body('"full[bx % 3]"', "k % 2", "bx % 3")), alloc="{name: full, count: 3}"),
    # a wait with nothing in flight returns at once (a producer's first wait on a free slot)
    kernel(loop("- barrier_wait: {barrier: \"e[k % 2]\", parity: (k // 2 + 1) % 2}\n"
                + body(), extent="2"), alloc="{name: bar}\n- alloc_barrier: {name: e, count: 2}"),
])
def test_correct_phases_are_accepted(text):
    text += "  - barrier_arrive: {barrier: \"e[0]\"}\n" if "name: e" in text else ""
    assert not errors(text), [d.render() for d in errors(text)]


@pytest.mark.parametrize("parity, k, hint", [
    ("0", 1, "'k % 2'"), ("(k + 1) % 2", 0, "'k % 2'"), ("k // 2 % 2", 1, "'k % 2'"),
])
def test_one_barrier_wrong_parity(parity, k, hint):
    error = only_error(kernel(loop(body(parity=parity))))
    assert error.message.startswith(f"this wait names the wrong phase in the iteration k = {k}")
    assert error.pointer.endswith("/barrier_wait/parity")
    assert hint in error.hint


def test_ring_wrong_parity_gets_the_rings_parity():
    error = only_error(kernel(loop(body(RING, "k % 2", "k % 3")),
                              alloc="{name: full, count: 3}"))
    assert "iteration k = 1" in error.message and "phase 0 of 'full[1]'" in error.message
    assert "'k // 3 % 2'" in error.hint


def test_ring_of_two_slots_waited_as_three():
    error = only_error(kernel(loop(body('"full[k % 2]"', "k // 3 % 2", "k % 2")),
                              alloc="{name: full, count: 3}"))
    assert "iteration k = 2" in error.message and "'k // 2 % 2'" in error.hint


def test_ring_wait_on_another_slot():
    error = only_error(kernel(loop(body(RING, "k // 3 % 2", "k % 3",
                                        wait_bar='"full[(k + 1) % 3]"')),
                              alloc="{name: full, count: 3}"))
    assert "nothing has arrived on 'full[1]' yet" in error.message
    assert error.pointer.endswith("/barrier_wait/barrier")
    assert "'full[k % 3]'" in error.hint


def test_ring_copy_on_the_wrong_slot_is_reported_at_the_copy():
    text = kernel(loop(body(RING, "k // 3 % 2", "k % 3").replace(
        'dst: "A_s[k % 3, :, :]", barrier: "full[k % 3]"',
        'dst: "A_s[k % 3, :, :]", barrier: "full[0]"')), alloc="{name: full, count: 3}")
    error = only_error(text)
    assert error.message.startswith("this copy completes on 'full[0]' in the iteration k = 1")
    assert error.pointer.endswith("/tma_copy/barrier")


def test_one_arrival_of_two():
    error = only_error(kernel(loop(body()), alloc="{name: bar, arrive_count: 2}"))
    assert "which has had 1 of its 2 arrivals" in error.message
    assert "iteration k = 0" in error.message


def test_arrival_past_the_count():
    half = body().replace("expect_tx: 8192}", "expect_tx: 4096}\n- barrier_arrive: "
                          "{barrier: bar, expect_tx: 4096}")
    error = only_error(kernel(loop(half)))
    assert error.message.startswith("this arrival is one past the arrive_count")
    assert "expect_tx: 8192" in error.hint and "arrive_count: 2" in error.hint


def test_second_phase_before_the_first_is_waited_for():
    twice = body().replace("- barrier_wait", LOAD.replace("BAR", "bar").replace("S", "1")
                           .replace("K", "k") + "- barrier_wait")
    text = kernel(loop(twice)).replace('dst: "A_s[1, :, :]"', 'dst: "A_s[2, :, :]"')
    error = only_error(text)
    assert "copies may still be landing" in error.message


@pytest.mark.parametrize("between", ["", "- barrier_arrive: {barrier: other}\n"])
def test_second_phase_before_the_first_is_waited_for_at_the_top_level(between):
    """In straight-line code too (barriers.check_top_level_phases): the second arrival may come
    before the first load landed (the interpreter used to accept it, its wait for parity 1
    seeing both tiles)."""
    first = LOAD.replace("BAR", "bar").replace("S", "0").replace("K", "0")
    second = LOAD.replace("BAR", "bar").replace("S", "1").replace("K", "1")
    text = kernel(first, between, second, USE.replace("BAR", "bar").replace("PARITY", "1")
                  .replace("S", "1").replace("K", "1"),
                  alloc="{name: bar}\n- alloc_barrier: {name: other}")
    error = only_error(text)
    assert error.pointer == f"/stages/{5 if between else 4}/barrier_arrive/barrier"
    assert error.message.startswith("this arrival is one past the arrive_count if phase 0 of "
                                    "'bar' has not completed yet")
    assert error.hint.startswith("wait for phase 0 (barrier_wait with parity 0 here)")
    waited = USE.replace("BAR", "bar").replace("PARITY", "0").replace("S", "0").replace("K", "0")
    assert not errors(kernel(first, waited, second, USE.replace("BAR", "bar").replace(
        "PARITY", "1").replace("S", "1").replace("K", "1")))


def test_nested_loops_counting_only_the_inner_variable():
    error = only_error(kernel(loop(loop(body(parity="k % 2"), extent="3"), var="i",
                                   extent="4")))
    assert "in the iteration i = 1, k = 0" in error.message


def test_wait_after_the_loop():
    after = body(parity="0", k="0").split("- barrier_wait")[0].replace(
        "- barrier_arrive", "- barrier_arrive").replace("A_s[0", "A_s[1")
    text = kernel(loop(body(), extent="3"), after,
                  "- barrier_wait: {barrier: bar, parity: 0}\n")
    error = only_error(text)
    assert "(after the loop)" in error.message and "phase 3 of 'bar'" in error.message
    assert not errors(text.replace("parity: 0}\n", "parity: 1}\n").rstrip() + "\n")
