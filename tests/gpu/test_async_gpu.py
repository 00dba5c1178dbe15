"""The asynchronous stages on the GPU: every kernel of tests/gpu/async/, compiled by `tlspec
compile tests/gpu/async -o build/tlspec_async` (on any machine), run and compared bit-exactly
with torch on random inputs, outputs poisoned and guarded.

- `pipeline` loops of plain copies, pipelined by the compiler: TMA loads (num_stages 1 to 4,
  every dtype) and cp.async loads (num_stages 2 and 3, stores through shared memory and a
  fragment), with trip counts of 1, 2, num_stages, more, and partial last tiles in both dims; a
  TMA pipeline re-entered by an enclosing loop (its barriers' phases carry across entries);
- the ways pipelining has gone wrong elsewhere: zero iterations (and one, two, num_stages,
  many), a body that overwrites a slot it read, two pipeline loops in a kernel with a copy before
  them;
- explicit synchronisation as docs/spec.md writes it: TMA loads on one reused barrier, three
  slots with a barrier each, two loads announced by one arrival with arrivals on a barrier array
  of arrive_count 2, cp.async prefetching with async_wait 1 / 0, and groups with an empty commit.

Imports only the compiled package, torch and pytest (TLSPEC_ASYNC: the package directory).
"""
from functools import partial

import pytest
from gpu_support import (POISON, assert_guards, assert_same, bits, check_outputs, compiled_package,
                         guarded, random, run_kernel, torch)

kernels = compiled_package("TLSPEC_ASYNC", "tlspec_async", "tests/gpu/async")
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "i8": torch.int8}
VEC = {"f16": 8, "bf16": 8, "f32": 4, "i8": 16}          # the specs' multiple_of of N
ROW_BYTES = {"pipe_tma": 128, "pipe_cp": 256}           # the tiles' row bytes (their columns)


run = partial(run_kernel, kernels)
check = check_outputs


def sizes(tag: str, row_bytes: int):
    """(M, N): trip counts 1 (one partial tile), 1, 2, 3 (partial), 4, and many (partial), with
    M ragged."""
    v, cols = VEC[tag], row_bytes // torch.empty((), dtype=DTYPES[tag]).element_size()
    return [(1, v), (45, cols), (96, 2 * cols), (33, 3 * cols - v), (64, 4 * cols),
            (77, 17 * cols + 3 * v)]


@pytest.mark.parametrize("stages", [1, 2, 3, 4])
@pytest.mark.parametrize("tag", list(DTYPES))
def test_pipelined_tma_copies(tag, stages):
    for m, n in sizes(tag, ROW_BYTES["pipe_tma"]):
        (a,), outs = run(f"pipe_tma_s{stages}_{tag}", (m, n), outs=[(m, n)], dtype=DTYPES[tag])
        check(outs, [a])


@pytest.mark.parametrize("stages", [2, 3])
@pytest.mark.parametrize("tag", list(DTYPES))
def test_pipelined_cp_async_copies(tag, stages):
    for m, n in sizes(tag, ROW_BYTES["pipe_cp"]):
        (a,), outs = run(f"pipe_cp_s{stages}_{tag}", (m, n), outs=[(m, n)] * 2,
                         dtype=DTYPES[tag])
        check(outs, [a, a])


@pytest.mark.parametrize("n", [8, 64, 128, 192, 200, 320, 1000])
@pytest.mark.parametrize("m", [48, 144])
def test_pipeline_reentered_by_an_enclosing_loop(m, n):
    (a,), outs = run("pipe_nested_tma_f16", (m, n), outs=[(m, n)], dtype=torch.float16)
    check(outs, [a])


@pytest.mark.parametrize("tag", ["f16", "f32"])
@pytest.mark.parametrize("m, n", [(1, 4), (64, 64), (100, 200), (130, 1000)])
def test_explicit_tma_on_one_barrier(tag, m, n):
    n = -(-n // VEC[tag]) * VEC[tag]
    (a,), outs = run(f"explicit_one_barrier_{tag}", (m, n), outs=[(m, n)], dtype=DTYPES[tag])
    check(outs, [a])


@pytest.mark.parametrize("m, n", [(1, 8), (64, 64), (65, 192), (200, 200), (128, 1000)])
def test_explicit_tma_three_slots(m, n):
    (a,), outs = run("explicit_slots3_bf16", (m, n), outs=[(m, n)], dtype=torch.bfloat16)
    check(outs, [a])


@pytest.mark.parametrize("m, n", [(1, 64), (70, 64), (128, 192)])
def test_explicit_tma_concat_with_a_barrier_array(m, n):
    (a, b), (out, c) = run("explicit_concat_f16", (m, n), (m, n), outs=[(m, 2 * n), (m, n)],
                           dtype=torch.float16)
    check([out, c], [torch.cat([a, b], dim=1), a])


@pytest.mark.parametrize("tag", ["f16", "i8"])
@pytest.mark.parametrize("m, n", [(1, 16), (32, 128), (40, 256), (64, 272), (33, 2000)])
def test_explicit_cp_async_prefetch(tag, m, n):
    (a,), outs = run(f"explicit_cp_prefetch_{tag}", (m, n), outs=[(m, n)], dtype=DTYPES[tag])
    check(outs, [a])


@pytest.mark.parametrize("m, n", [(1, 64), (32, 64), (50, 128), (64, 192)])
def test_explicit_cp_async_groups(m, n):
    (a, b), (out,) = run("explicit_cp_groups_f32", (m, n), (m, n), outs=[(m, 2 * n)],
                         dtype=torch.float32)
    check([out], [torch.cat([a, b], dim=1)])


# -- known ways pipelining goes wrong elsewhere (pipeline_cases.tlspec.yaml) --------------------
@pytest.mark.parametrize("m, n", [(1, 8), (32, 56), (40, 64), (64, 128), (70, 192), (96, 1000)])
def test_a_pipeline_of_zero_one_two_stages_or_many_iterations(m, n):
    """N // 64 iterations: zero (nothing written, no hang), one, two, three (num_stages), many;
    the columns past the last whole tile are never written."""
    (a,), (b,) = run("pipe_maybe_empty_f16", (m, n), outs=[(m, n)], dtype=torch.float16)
    whole = n // 64 * 64
    assert_same(b[:, :whole], a[:, :whole], "B (whole tiles)")
    tail = bits(b[:, whole:])
    assert (tail == POISON[torch.float16]).all(), "B past the whole tiles was written"
    assert_guards(b, "B")


@pytest.mark.parametrize("m, n", [(1, 4), (16, 64), (33, 200), (64, 1000)])
def test_a_pipeline_that_overwrites_a_slot_it_read(m, n):
    (a, c), outs = run("pipe_overwrite_slot_f32", (m, n), (m, n), outs=[(m, n)] * 2,
                       dtype=torch.float32)
    check(outs, [a, c])


@pytest.mark.parametrize("m, n", [(1, 8), (32, 64), (50, 200), (96, 640)])
def test_two_pipelines_and_a_copy_before_them(m, n):
    x, a, c = (random(shape, torch.bfloat16) for shape in ((m, 64), (m, n), (m, n)))
    y, b, d = guarded((m, 64), torch.bfloat16), guarded((m, n), torch.bfloat16), \
        guarded((m, n), torch.bfloat16)
    kernels.pipe_two_loops_bf16(x, y, a, b, c, d)
    torch.cuda.synchronize()
    check([y, b, d], [x, a, c])
