"""Kernels lowered by tlspec's passes and run whole on the CPU by tests/tir_run.py (TMA loads and
stores complete at once, the tiles laid out as the hardware's swizzle lays them): the GPU
matrix's transposes (tests/gpu/matrix/transpose.tlspec.yaml, both forms; B and C are A
transposed, each on one partial tile), specs/gather4_blackwell's TMA gather4 / scatter4 kernels
(sm_100a, which no GPU here runs) against the interpreter, indices outside the table and
positions past the index tensor's end included, and the kernels of specs/ against the
interpreter, converting copies between pairs of dtypes (CUDA's conversions, tests/tir_float.py)
and warp-specialized pipelines (tests/gpu/async). The GPU tests run the compiled kernels
(tests/gpu); this keeps the lowering of every commit checked where no GPU is."""
import os
import sys

import numpy as np
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from conftest import ROOT
from fragment_kernels import GATHER, LOAD, SCATTER, STORE, fragment_kernel
from global_write_kernels import kernel as writes_kernel
from pipeline_support import run_through
from tir_async import EAGER, LAZY
from tir_run import run_kernel

sys.path.insert(0, str(ROOT / "tests" / "interpret"))
from example_kernels import SMALL, fitted, inputs, small, spec_kernels  # noqa: E402

from tlspec.compiler.tileir import build_tile_ir
from tlspec.interpret import Program
from tlspec.interpret import run as interpret
from tlspec.validate import validate_paths, validate_text

MATRIX = ROOT / "tests" / "gpu" / "matrix" / "transpose.tlspec.yaml"
KERNELS = {k.name: k for k in validate_paths([str(MATRIX)]).kernels}
BITS = {"float16": np.uint16, "bfloat16": np.uint16, "float32": np.uint32, "int8": np.uint8}


@pytest.mark.parametrize("form", ["", "blocks_"])
@pytest.mark.parametrize("tag, shape", [("f16", (40, 24)), ("bf16", (24, 40)), ("f32", (8, 8)),
                                        ("i8", (48, 16)), ("batched_f16", (2, 24, 16))])
def test_a_transpose_of_the_matrix_leaves_a_transposed(tag, shape, form):
    kernel = KERNELS[f"transpose_{form}{tag}"]
    func = run_through(build_tile_ir(kernel), "ThreadSync", kernel.target.name)["main"]
    bits = BITS[kernel.buffers["A"].dtype]
    a = np.random.default_rng(5).integers(1, np.iinfo(bits).max, shape, dtype=bits)
    transposed = (*shape[:-2], shape[-1], shape[-2])
    b, c = np.full(transposed, 0x5A, bits), np.full(transposed, 0x5A, bits)
    run_kernel(func, {"A": a, "B": b, "C": c})
    assert np.array_equal(b, np.swapaxes(a, -1, -2)), "B"
    assert np.array_equal(c, np.swapaxes(a, -1, -2)), "C"


GATHER4 = (ROOT / "specs" / "gather4_blackwell.tlspec.yaml").read_text().replace(
    "V: 262144", "V: 40").replace("D: 1024", "D: 512").replace("R: 65536", "R: {symbolic: true}")


@pytest.mark.parametrize("name", ["gather4_rows", "scatter4_rows"])
@pytest.mark.parametrize("count", [24, 22])     # 22: the last block's positions 22, 23 past the end
def test_the_tma_row_forms_leave_what_the_interpreter_does(name, count):
    (kernel,) = [k for k in validate_text(GATHER4).kernels if k.name == name]
    func = run_through(build_tile_ir(kernel), "ThreadSync", kernel.target.name)["main"]
    rng = np.random.default_rng(11)
    idx = rng.permutation(40)[:count].astype(np.int32)
    if name == "gather4_rows":
        idx[[3, 5]] = -1, 77                       # outside the table: rows of zeros
    arrays = {"table": rng.integers(1, 60000, (40, 512), dtype=np.uint16), "idx": idx,
              "out" if name == "gather4_rows" else "rows":
                  rng.integers(1, 60000, (count, 512), dtype=np.uint16)}
    expected = {n: a.copy() for n, a in arrays.items()}
    interpret(kernel, expected)
    run_kernel(func, arrays, {"R": count})
    for n in arrays:
        assert np.array_equal(arrays[n], expected[n]), n


def assert_like_the_interpreter(kernel, dims: dict) -> None:
    """`kernel` lowered through tlspec's passes and run on the CPU leaves what the interpreter
    leaves, on the same random inputs (outputs poisoned), its asynchronous copies completing
    when issued and as late as they may (tests/tir_async.py)."""
    func = run_through(build_tile_ir(kernel), "ThreadSync", kernel.target.name)["main"]
    expected = inputs(kernel, dims)
    Program(kernel).run(expected)
    for completion in (EAGER, LAZY):
        arrays = inputs(kernel, dims)
        run_kernel(func, arrays, dims, completion=completion)
        for name in arrays:
            assert np.array_equal(arrays[name], expected[name]), f"{name} ({completion})"


# the spec kernels that take seconds in the evaluator (many blocks or long loops at SMALL's
# sizes): run when TLSPEC_CPU_ALL=1 (all passed on 2026-12-05; 14 s of the 21 s that all take)
SLOW = {"copy_tiles", "nchw_to_nhwc", "transpose_tma_store", "transpose_batched",
        "transpose_padded_sm80"}


@pytest.mark.parametrize("kernel", spec_kernels(), ids=lambda k: k.name)
def test_the_spec_kernels_leave_what_the_interpreter_does(kernel):
    """specs/ at SMALL's sizes (tests/interpret/example_kernels.py), compiled through the tlspec
    passes and run on the CPU, against the interpreter on the same inputs."""
    if kernel.name in SLOW and not os.environ.get("TLSPEC_CPU_ALL"):
        pytest.skip("seconds in the evaluator: TLSPEC_CPU_ALL=1 runs it")
    assert_like_the_interpreter(small(kernel), SMALL[kernel.name][1])


@pytest.mark.parametrize("stages", [
    LOAD.format("") + SCATTER.format(""),                       # both take the narrowest: 2
    LOAD.format("") + SCATTER.format(", coalesced_width: 1"),
    GATHER.format(", coalesced_width: 4") + STORE.format(""),
    LOAD.format(", loop_layout: {threads: [16, 8]}") + STORE.format("")],
    ids=["narrowest", "scatter_width", "gather_width", "load_grid"])
def test_a_fragment_is_drained_by_the_threads_that_filled_it(stages):
    """Stages of one fragment without a layout of their own take the one its other stages give
    (InstructionAnnotation): each thread must move the registers it filled."""
    (kernel,) = validate_text(fragment_kernel(stages)).kernels
    assert_like_the_interpreter(kernel, {})


@pytest.mark.parametrize("stages", [
    # an overwrite of part of B by other threads (ThreadSync's barrier between the stages)
    '  - copy: {src: A, dst: B, coalesced_width: 4}\n'
    '  - copy: {src: "C[0 : +8, 3 : +33]", dst: "B[8 : +8, 0 : +33]", coalesced_width: 1}\n',
    # ordinary stores, then a TMA store of the same elements (its issuing thread waits)
    '  - copy: {src: A, dst: A_s}\n'
    '  - copy: {src: "A_s[0 : +64, 0 : +8]", dst: "B[0 : +64, 56 : +8]", '
    'prefer_instruction: sync}\n'
    '  - copy: {src: A_s, dst: B, prefer_instruction: tma}\n'], ids=["simt", "simt_then_tma"])
def test_a_later_stage_writing_the_same_elements_leaves_its_values(stages):
    """Two stages writing one element of B: the later one's value is the result (global_writes;
    the threads run in turn between block barriers here, so a missing barrier shows)."""
    (kernel,) = validate_text(writes_kernel(stages)).kernels
    assert_like_the_interpreter(kernel, {})


@pytest.mark.parametrize("name, dims", [("writes_of_nested_loops", {}),
                                        ("zero_trip_loop", {"N": 3})])
def test_the_ordering_kernels_leave_what_the_interpreter_does(name, dims):
    """tests/compiler/passes/ordering: writes of one tensor in nested loops (stage 2 of (i, 1)
    and stage 1 of (i + 1, 0) write the same elements; only the next iteration of the inner
    loop was compared); a loop over N // 4 run zero times (N = 3), after which a copy reads a
    tile other threads wrote before it (the barrier closing the body never ran)."""
    path = ROOT / "tests" / "compiler" / "passes" / "ordering" / f"{name}.tlspec.yaml"
    (kernel,) = validate_paths([str(path)]).kernels
    assert_like_the_interpreter(kernel, dims)



PITCHED = """
tlspec: 1
name: pitched_copy
target: sm_90a
dims: {M: symbolic, N: symbolic, LD: symbolic, LE: symbolic}
buffers:
  A: {scope: global, shape: [M, N], strides: [LD, 1], dtype: float32, io: in}
  B: {scope: global, shape: [M, N], strides: [LE, 1], dtype: float32, io: out}
  S: {scope: shared, shape: [8, 16], dtype: float32}
launch:
  grid: {bx: "ceildiv(N, 16)", by: "ceildiv(M, 8)"}
  threads: 32
stages:
  - copy: {src: "A[by*8 : +8, bx*16 : +16]", dst: S, prefer_instruction: sync}
  - copy: {src: S, dst: "B[by*8 : +8, bx*16 : +16]", prefer_instruction: sync}
"""


@pytest.mark.parametrize("m, n, ld, le", [(9, 19, 23, 21), (8, 16, 16, 40), (3, 5, 5, 6)])
def test_pitched_tensors_run_with_their_declared_pitch(m, n, ld, le):
    """Views with declared row strides (tests/tir_run.py binds LD and LE from the kernel's
    parameters, not from the row views its body makes): the rows copied, every gap of B left
    poisoned, as the interpreter leaves them."""
    (kernel,) = validate_text(PITCHED).kernels
    func = run_through(build_tile_ir(kernel), "ThreadSync", kernel.target.name)["main"]
    rng = np.random.default_rng(7)
    a_base = rng.integers(1, 2**31, m * ld, dtype=np.uint32).view(np.float32)
    outputs = []
    for _ in range(2):                          # the kernel's, then the interpreter's
        b_base = np.full(m * le, 0x7FBADBAD, np.uint32).view(np.float32)
        arrays = {"A": np.lib.stride_tricks.as_strided(a_base, (m, n), (4 * ld, 4)),
                  "B": np.lib.stride_tricks.as_strided(b_base, (m, n), (4 * le, 4))}
        outputs.append((arrays, b_base))
    run_kernel(func, outputs[0][0])
    Program(kernel).run(outputs[1][0])
    got, want = outputs[0][1].view(np.uint32), outputs[1][1].view(np.uint32)
    assert np.array_equal(got, want)
    rows = got.reshape(m, le)
    assert np.array_equal(rows[:, :n], a_base.view(np.uint32).reshape(m, ld)[:, :n])
    assert (rows[:, n:] == 0x7FBADBAD).all()


CONVERTING = """
tlspec: 1
name: converting_copy
target: {target}
dims: {{M: symbolic, N: {{symbolic: true, multiple_of: 4}}}}
buffers:
  A: {{scope: global, shape: [M, N], dtype: {src}, io: in}}
  S: {{scope: shared, shape: [8, 32], dtype: {mid}}}
  B: {{scope: global, shape: [M, N], dtype: {dst}, io: out}}
launch:
  grid: {{bx: "ceildiv(N, 32)", by: "ceildiv(M, 8)"}}
  threads: 64
stages:
  - copy: {{src: "A[by*8 : +8, bx*32 : +32]", dst: S}}
  - copy: {{src: S, dst: "B[by*8 : +8, bx*32 : +32]"}}
"""
UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32}
# bits worth converting in each source type: zeros, infinities, NaNs of both signs and other
# payloads, subnormals, the largest finite values and the ties around the destinations' limits
SPECIAL = {
    "float32": [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001,
                0x7F800001, 0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0xFF7FFFFF,
                0x477FF000, 0x477FEFFF, 0xC77FF000,                 # float16: the tie to inf
                0x33000000, 0x33000001, 0x387FE000,                 # float16 subnormals
                0x3F808000, 0x3F818000, 0x7F7F8000, 0x7F7F7FFF,     # bfloat16 ties
                0x43E80000, 0x43E7FFFF, 0x47700000, 0x476FFFFF,     # float8 ties at 464, 61440
                0x4F000000, 0xCF000001, 0x3FC00000, 0xBFC00000, 0x42FF0000, 0xC3010000],
    "float16": [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7C01, 0xFE00, 0x7FFF, 0x0001, 0x83FF,
                0x7BFF, 0xFBFF, 0x5F40, 0x5F3F, 0x7B80, 0x3C01, 0x57F0],
    "bfloat16": [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7F81, 0xFFC0, 0x7FFF, 0x0001, 0x807F,
                 0x7F7F, 0xFF7F, 0x43E8, 0x4770, 0x3F81, 0x4F00, 0xCF01],
    "int32": [0, -1, 2**31 - 1, -2**31, 16777217, 16777219, -16777217, 65520, 65519, 127, -129],
}


def conversion_inputs(src: str, shape: tuple[int, int], seed: int) -> np.ndarray:
    """Bits of `src` for a (rows, 32 * k) array: every pattern of an 8-bit type, else SPECIAL's,
    values of ordinary magnitudes and random bits."""
    rng = np.random.default_rng(seed)
    size = {"float32": 4, "int32": 4, "float16": 2, "bfloat16": 2}.get(src, 1)
    count = shape[0] * shape[1]
    if size == 1:
        return (np.arange(count) % 256).astype(np.uint8).reshape(shape)
    special = np.array(SPECIAL[src], np.int64).astype(UNSIGNED[size])
    if src == "int32":
        ordinary = rng.integers(-300, 300, count).astype(np.int32).view(np.uint32)
    else:                     # normal values around 1 and past the narrow types' ranges
        numbers = rng.standard_normal(count) * rng.choice([1e-6, 1, 100, 1e5], count)
        ordinary = numbers.astype(np.float32).view(np.uint32)
        if size == 2:         # float32 -> the top half for bfloat16, a float16 otherwise
            with np.errstate(over="ignore"):
                ordinary = ((ordinary >> 16).astype(np.uint16) if src == "bfloat16"
                            else numbers.astype(np.float16).view(np.uint16))
    bits = rng.integers(0, 2**(8 * size), count, dtype=np.uint64).astype(UNSIGNED[size])
    bits[: count // 2] = ordinary[: count // 2]
    bits[: len(special)] = special
    return bits.reshape(shape)


@pytest.mark.parametrize("src, dst, target", [
    ("float32", "bfloat16", "sm_90a"), ("bfloat16", "float32", "sm_90a"),
    ("float32", "float16", "sm_90a"), ("float16", "float32", "sm_90a"),
    ("float16", "bfloat16", "sm_90a"), ("bfloat16", "float16", "sm_80"),
    ("int32", "float16", "sm_90a"), ("int32", "bfloat16", "sm_90a"),
    ("int8", "bfloat16", "sm_80"), ("int8", "float32", "sm_90a"),
    ("float32", "int8", "sm_90a"), ("float16", "int32", "sm_90a"),
    ("bfloat16", "int8", "sm_90a"), ("int32", "int8", "sm_90a"), ("int8", "int32", "sm_90a"),
    ("float8_e4m3", "float32", "sm_90a"), ("float8_e5m2", "float16", "sm_90a"),
    ("float8_e4m3", "bfloat16", "sm_80"), ("float8_e4m3", "float8_e5m2", "sm_90a"),
    ("float8_e5m2", "int8", "sm_90a"), ("int8", "float8_e4m3", "sm_90a"),
    ("float32", "float8_e4m3", "sm_90a"), ("float32", "float8_e5m2", "sm_90a"),
    ("bfloat16", "float8_e5m2", "sm_80"), ("float16", "float8_e4m3", "sm_90a")],
    ids=lambda x: x)
@pytest.mark.parametrize("where", ["load", "store"])
def test_converting_copies_leave_what_the_interpreter_does(src, dst, target, where):
    """A copy converting between dtypes, global -> shared (`load`: the tile holds dst) or shared
    -> global (`store`: it holds src), run on the CPU with CUDA's conversions
    (tests/tir_float.py) against the interpreter's (tlspec/interpret/convert.py), bit for bit:
    every 8-bit pattern, the special values of each type (NaNs, infinities, subnormals, ties at
    the narrow types' limits), ordinary values and random bits; M and N ragged."""
    mid = dst if where == "load" else src
    (kernel,) = validate_text(CONVERTING.format(src=src, dst=dst, mid=mid, target=target)).kernels
    func = run_through(build_tile_ir(kernel), "ThreadSync", kernel.target.name)["main"]
    m, n = 16, 60                                    # 8-bit sources: all 256 patterns, and more
    size = {"float32": 4, "int32": 4, "float16": 2, "bfloat16": 2}.get(dst, 1)
    arrays = {"A": conversion_inputs(src, (m, n), seed=len(src + dst)),
              "B": np.full((m, n), 0x5A5A5A5A & ((1 << 8 * size) - 1), UNSIGNED[size])}
    expected = {name: array.copy() for name, array in arrays.items()}
    Program(kernel).run(expected)
    run_kernel(func, arrays, {"M": m, "N": n})
    differ = np.flatnonzero(arrays["B"] != expected["B"])
    assert not differ.size, [(hex(int(arrays["A"].flat[i])), hex(int(arrays["B"].flat[i])),
                              hex(int(expected["B"].flat[i]))) for i in differ[:8]]


WARP_SPECIALIZED = ROOT / "tests" / "gpu" / "async" / "warp_specialized.tlspec.yaml"


@pytest.mark.parametrize("name, dims", [
    ("ws_s2_f16", {"M": 40, "N": 136}), ("ws_s3_bf16", {"M": 33, "N": 200}),
    ("ws_maybe_empty_f16", {"M": 20, "N": 56}), ("ws_maybe_empty_f16", {"M": 20, "N": 200}),
    ("ws_warp_producer_f32", {"M": 20, "N": 44}), ("ws_registers_f16", {"M": 256, "N": 72}),
    ("ws_nested_f16", {"M": 48, "N": 136}), ("ws_sync_threads_f32", {"M": 20, "N": 36}),
    ("ws_transpose_f16", {"M": 72, "N": 136})])
def test_warp_specialized_pipelines_leave_what_the_interpreter_does(name, dims):
    """tests/gpu/async/warp_specialized's kernels (a producer warp issuing TMA loads, consumers
    handing slots back through empty mbarriers, named barriers among the consumers, setmaxnreg),
    run on the CPU: every thread in lockstep, each waiting on its mbarrier phases and named
    barriers, against the interpreter. Ragged sizes, and loops run zero to several times."""
    (kernel,) = [k for k in validate_paths([str(WARP_SPECIALIZED)]).kernels if k.name == name]
    assert_like_the_interpreter(kernel, dims)


PIPELINED_CONVERSION = """
tlspec: 1
name: pipelined_conversion
target: {target}
dims:
  M: symbolic
  N: {{symbolic: true, multiple_of: 8}}
buffers:
  A:   {{scope: global, shape: [M, N], dtype: float32, io: in}}
  B:   {{scope: global, shape: [M, N], dtype: float32, io: out}}
  A_s: {{scope: shared, shape: [2, 16, 64], dtype: bfloat16}}
launch:
  grid: {{bx: "ceildiv(M, 16)"}}
  threads: 128
stages:
  - pipeline:
      var: k
      extent: ceildiv(N, 64)
      num_stages: 2
      stages:
        - copy: {{src: "A[bx*16 : +16, k*64 : +64]", dst: "A_s[k % 2, :, :]"}}
        - copy: {{src: "A_s[k % 2, :, :]", dst: "B[bx*16 : +16, k*64 : +64]"}}
"""


@pytest.mark.parametrize("target", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("dims", [{"M": 16, "N": 64}, {"M": 19, "N": 200}])
def test_a_converting_load_in_a_pipeline_converts(target, dims):
    """float32 into a bfloat16 slot in a pipeline loop: it was made a cp.async, which moved the
    float32 bits into the slot unconverted (every element of B wrong; a bug hunt's find)."""
    (kernel,) = validate_text(PIPELINED_CONVERSION.format(target=target)).kernels
    assert_like_the_interpreter(kernel, dims)


ASYNC = {k.name: k for k in validate_paths([str(ROOT / "tests" / "gpu" / "async")]).kernels}


@pytest.mark.parametrize("name", [
    "pipe_tma_s1_f16", "pipe_tma_s2_bf16", "pipe_tma_s3_f32", "pipe_tma_s4_i8", "pipe_cp_s2_f16",
    "pipe_cp_s3_i8", "pipe_nested_tma_f16", "pipe_maybe_empty_f16", "pipe_overwrite_slot_f32",
    "pipe_two_loops_bf16", "explicit_one_barrier_f16", "explicit_slots3_bf16",
    "explicit_concat_f16", "explicit_cp_prefetch_i8", "explicit_cp_groups_f32"])
@pytest.mark.parametrize("wanted", [{"M": 40, "N": 200}, {"M": 16, "N": 72}])
def test_the_async_kernels_leave_what_the_interpreter_does(name, wanted):
    """tests/gpu/async's pipelines (TMA and cp.async, 1 to 4 slots, nested, maybe empty) and
    explicit synchronisation, each form once, at ragged sizes: a wait the pipeline places one
    group or one phase short shows when the copies complete late."""
    kernel = ASYNC[name]
    assert_like_the_interpreter(kernel, fitted(kernel, {**wanted, "K": 3}))
