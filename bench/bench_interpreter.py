"""Speed of the reference interpreter (tlspec.interpret) on the CPU: no GPU, no tvm.

Times Program.run (binding, memory, every block and stage, the race and definedness checks) on
a few kernels sized like the examples in docs/interpreter.md, median of --repeat runs after one
warm-up, and the kernels of tests/gpu/matrix/ at the small sizes a differential test uses.

Usage:
    python bench/bench_interpreter.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from tlspec.expr import evaluate
from tlspec.interpret import Program
from tlspec.validate import validate_text

ROOT = Path(__file__).resolve().parent.parent
BUFFERS = {
    "copy": """
  A:   {scope: global, shape: [M, N], dtype: float16, io: in}
  B:   {scope: global, shape: [M, N], dtype: float16, io: out}
  A_s: {scope: shared, shape: [64, 64], dtype: float16}
  At_s: {scope: shared, shape: [64, 64], dtype: float16}""",
    "ring": """
  A:   {scope: global, shape: [M, N], dtype: float16, io: in}
  B:   {scope: global, shape: [M, N], dtype: float16, io: out}
  A_s: {scope: shared, shape: [2, 64, 64], dtype: float16}""",
    "gather": """
  table: {scope: global, shape: [V, D], dtype: float16, io: in}
  idx:   {scope: global, shape: [R], dtype: int32, io: in}
  out:   {scope: global, shape: [R, D], dtype: float16, io: out}""",
    "im2col": """
  img:   {scope: global, shape: [N, H, W, C], dtype: float16, io: in}
  col:   {scope: global, shape: [N * H * W, 9 * C], dtype: float16, io: out}
  col_s: {scope: shared, shape: [64, 64], dtype: float16}""",
}
JOBS = [
    ("copy 1024 x 1024 fp16, 64 x 64 tiles via shared", "copy", {"M": 1024, "N": 1024},
     '{bx: "ceildiv(N, 64)", by: "ceildiv(M, 64)"}', """
  - copy: {src: "A[by*64 : +64, bx*64 : +64]", dst: A_s}
  - copy: {src: A_s, dst: "B[by*64 : +64, bx*64 : +64]"}"""),
    ("transpose 1024 x 1024 fp16, 64 x 64 tiles", "copy", {"M": 1024, "N": 1024},
     '{bx: "ceildiv(N, 64)", by: "ceildiv(M, 64)"}', """
  - copy: {src: "A[by*64 : +64, bx*64 : +64]", dst: A_s}
  - transpose: {src: A_s, dst: At_s}
  - copy: {src: At_s, dst: "B[bx*64 : +64, by*64 : +64]"}"""),
    ("TMA ring 1024 x 1024 fp16, 64 x 64 tiles, 2 slots (5 stages per tile)", "ring",
     {"M": 1024, "N": 1024}, '{bx: "ceildiv(M, 64)"}', """
  - alloc_barrier: {name: bars, count: 2}
  - pipeline:
      var: k
      extent: ceildiv(N, 64)
      stages:
        - barrier_arrive: {barrier: "bars[k % 2]", expect_tx: 8192}
        - tma_copy:
            src: "A[bx*64 : +64, k*64 : +64]"
            dst: "A_s[k % 2, :, :]"
            barrier: "bars[k % 2]"
        - barrier_wait: {barrier: "bars[k % 2]", parity: "k // 2 % 2"}
        - tma_copy: {src: "A_s[k % 2, :, :]", dst: "B[bx*64 : +64, k*64 : +64]"}
        - tma_store_wait: {pending: 1}"""),
    ("gather 4096 rows of a 65536 x 256 fp16 table, 16 per block", "gather",
     {"V": 65536, "D": 256, "R": 4096}, '{bx: "ceildiv(R, 16)"}', """
  - gather: {src: table, dst: "out[bx*16 : +16, :]", index: "idx[bx*16 : +16]"}"""),
    ("im2col 4 x 28 x 28 x 64 fp16, 3x3 pad 1, 64 x 64 tiles", "im2col",
     {"N": 4, "H": 28, "W": 28, "C": 64},
     '{bx: "ceildiv(N * H * W, 64)", by: "ceildiv(9 * C, 64)"}', """
  - im2col: {img: img, col: col_s, nhw_step: bx, c_step: by, kernel: 3, pad: 1}
  - copy: {src: col_s, dst: "col[bx*64 : +64, by*64 : +64]"}"""),
]


def arrays_for(kernel, dims: dict[str, int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {}
    for buffer in kernel.buffers.values():
        if buffer.is_global:
            shape = tuple(evaluate(e, dims) for e in buffer.shape)
            size = {"float16": 2, "bfloat16": 2, "int8": 1}.get(buffer.dtype, 4)
            arrays[buffer.name] = rng.integers(1, 100, shape).astype(f"u{size}")
    if "idx" in arrays:
        rows = arrays["table"].shape[0]
        arrays["idx"][...] = rng.integers(0, rows, arrays["idx"].shape).astype("u4")
    return arrays


def timed(program: Program, arrays: dict[str, np.ndarray], repeat: int) -> tuple[float, int]:
    done = program.run(arrays)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        program.run(arrays)
        times.append(time.perf_counter() - start)
    return statistics.median(times), done.blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| kernel | blocks | time | per block |\n|---|---|---|---|")
    for title, buffers, dims, grid, stages in JOBS:
        text = (f"tlspec: 1\nname: bench\ntarget: sm_90a\nbuffers:{BUFFERS[buffers]}\n"
                f"launch: {{grid: {grid}, threads: 256}}\nstages:{stages}\n")
        dims_text = ", ".join(f"{k}: {v}" for k, v in dims.items())
        result = validate_text(text.replace("buffers:", f"dims: {{{dims_text}}}\nbuffers:", 1))
        assert result.ok, result.diagnostics.render_text()
        kernel = result.kernels[0]
        seconds, blocks = timed(Program(kernel), arrays_for(kernel, dims), args.repeat)
        print(f"| {title} | {blocks} | {seconds * 1e3:.1f} ms | {seconds / blocks * 1e6:.0f} us |")
    sys.path.insert(0, str(ROOT / "tests" / "interpret"))
    from example_kernels import SIZES, fitted, inputs, kind_of, matrix_kernels  # the tests' own


    runs, total, blocks = 0, 0.0, 0
    for kernel in matrix_kernels():
        program = Program(kernel)
        for size in SIZES[kind_of(kernel)]:
            seconds, count = timed(program, inputs(kernel, fitted(kernel, size)), 1)
            runs, total, blocks = runs + 1, total + seconds, blocks + count
    print(f"\ntests/gpu/matrix at the CPU tests' sizes: {runs} runs, {blocks / runs:.0f} blocks "
          f"and {total / runs * 1e3:.1f} ms per run on average; 6000 such runs on 16 cores: "
          f"{6000 * total / runs / 16:.1f} s")


if __name__ == "__main__":
    main()
