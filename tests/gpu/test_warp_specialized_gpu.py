"""Warp-specialized pipelines on the GPU (tests/gpu/async/warp_specialized.tlspec.yaml, compiled
into the async package): a producer warp issues the TMA loads through full / empty mbarrier
rings, the launch's threads consume. Every output compared bit-exactly with torch on random
inputs, outputs poisoned and guarded:

- every dtype at num_stages 2, 3 and 4, with a TMA store and a SIMT copy through a fragment of
  each slot; trip counts of 1 (one partial tile), 2, 3, 4 and many, M ragged;
- the ways warp specialization has gone wrong elsewhere: a loop of zero or one iteration (a
  hang), a loop re-entered by an enclosing loop (parities from the rings' own history), two
  specialized loops in one kernel with copies before and after them (lost copies, only the first
  loop specialized), a body whose consumers rewrite a tile every iteration (the back edge's
  barrier, here a named barrier of the consumers);
- a producer of one warp (64 consumer threads) and a producer warp group that gives its
  registers to 256 consumers (setmaxnreg);
- a spec's sync_threads among the consumers (their named barrier: `__syncthreads()` would wait
  for the producer warp).

Imports only the compiled package, torch and pytest (TLSPEC_ASYNC: the package directory).
"""
from functools import partial

import pytest
from gpu_support import (POISON, assert_guards, assert_same, bits, check_outputs, compiled_package,
                         guarded, random, run_kernel, torch)

kernels = compiled_package("TLSPEC_ASYNC", "tlspec_async", "tests/gpu/async")
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "i8": torch.int8}
VEC = {"f16": 8, "bf16": 8, "f32": 4, "i8": 16}          # the specs' multiple_of of N
COLS = {"f16": 64, "bf16": 64, "f32": 32, "i8": 128}     # a tile row: 128 bytes


run = partial(run_kernel, kernels)
check = check_outputs


@pytest.mark.parametrize("stages", [2, 3, 4])
@pytest.mark.parametrize("tag", list(DTYPES))
def test_warp_specialized_copies(tag, stages):
    v, cols = VEC[tag], COLS[tag]
    for m, n in [(1, v), (45, cols), (96, 2 * cols), (33, 3 * cols - v), (64, 4 * cols),
                 (77, 17 * cols + 3 * v)]:
        (a,), outs = run(f"ws_s{stages}_{tag}", (m, n), outs=[(m, n)] * 2, dtype=DTYPES[tag])
        check(outs, [a, a])


@pytest.mark.parametrize("m, n", [(1, 8), (32, 56), (40, 64), (64, 128), (70, 192), (96, 1000)])
def test_zero_one_two_stages_or_many_iterations(m, n):
    (a,), (b,) = run("ws_maybe_empty_f16", (m, n), outs=[(m, n)], dtype=torch.float16)
    whole = n // 64 * 64
    assert_same(b[:, :whole], a[:, :whole], "B (whole tiles)")
    assert (bits(b[:, whole:]) == POISON[torch.float16]).all(), "B past the whole tiles was written"
    assert_guards(b, "B")


@pytest.mark.parametrize("m, n", [(1, 4), (16, 32), (30, 100), (64, 1000)])
def test_a_producer_of_one_warp(m, n):
    (a,), outs = run("ws_warp_producer_f32", (m, n), outs=[(m, n)], dtype=torch.float32)
    check(outs, [a])


@pytest.mark.parametrize("m, n", [(256, 8), (256, 64), (512, 200), (768, 1000)])
def test_registers_moved_to_the_consumers(m, n):
    (a,), outs = run("ws_registers_f16", (m, n), outs=[(m, n)] * 2, dtype=torch.float16)
    check(outs, [a, a])


@pytest.mark.parametrize("n", [8, 64, 128, 192, 200, 320, 1000])
@pytest.mark.parametrize("m", [48, 144])
def test_reentered_by_an_enclosing_loop(m, n):
    (a,), outs = run("ws_nested_f16", (m, n), outs=[(m, n)], dtype=torch.float16)
    check(outs, [a])


@pytest.mark.parametrize("m, n", [(1, 8), (32, 64), (50, 200), (96, 640)])
def test_two_specialized_loops_and_copies_around_them(m, n):
    x, a, c = (random(shape, torch.bfloat16) for shape in ((m, 64), (m, n), (m, n)))
    y, z = guarded((m, 64), torch.bfloat16), guarded((m, 64), torch.bfloat16)
    b, d = guarded((m, n), torch.bfloat16), guarded((m, n), torch.bfloat16)
    kernels.ws_two_loops_bf16(x, y, z, a, b, c, d)
    torch.cuda.synchronize()
    check([y, z, b, d], [x, x, a, c])


@pytest.mark.parametrize("m, n", [(8, 8), (64, 64), (72, 200), (200, 72), (256, 1000)])
def test_consumers_that_rewrite_a_tile_every_iteration(m, n):
    (a,), (b,) = run("ws_transpose_f16", (m, n), outs=[(n, m)], dtype=torch.float16)
    check([b], [a.t().contiguous()])


@pytest.mark.parametrize("m, n", [(1, 4), (16, 32), (40, 100), (64, 640)])
def test_a_specs_sync_threads_among_the_consumers(m, n):
    x, a = random((m, 32), torch.float32), random((m, n), torch.float32)
    y, b = guarded((m, 32), torch.float32), guarded((m, n), torch.float32)
    kernels.ws_sync_threads_f32(x, y, a, b)          # the buffers in their declared order
    torch.cuda.synchronize()
    check([y, b], [x, a])
