"""The transpose of bench/bench_jobs.py (8192 x 8192 fp16) written by hand in CUDA in the form
without a swizzled tile and TMA store (a padded tile, each thread reading a column and storing
16 bytes straight to global memory; 64 x 64, 64 x 128 and 128 x 128 tiles), next to Triton's
sweep, timed alike: median of 30 runs between CUDA events, the L2 flushed before each, each
result checked bit-exact against torch. What it showed (bench/RESULTS.md, session 6): that form
is a third slower than tlspec's TMA-store transpose. Needs cupy (NVRTC) and Triton.

Usage: python bench/transpose_forms.py      (on a GPU machine)
"""
import statistics
import sys
from pathlib import Path

import cupy as cp
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import triton_jobs  # noqa: E402

M = N = 8192
SRC = r'''
#include <cuda_fp16.h>
template <int TH, int TW, int NT>
__device__ void tr_direct(const half* __restrict__ A, half* __restrict__ B, int M, int N) {
  // TH x TW tile of A -> TW x TH tile of B; smem padded by 8 halves; stores 16 B to B directly
  __shared__ __align__(16) half s[TH][TW + 8];
  int bx = blockIdx.x, by = blockIdx.y, t = threadIdx.x;
  const half* a = A + (size_t)by * TH * N + bx * TW;
  #pragma unroll
  for (int i = 0; i < TH * TW / 8 / NT; ++i) {
    int v = i * NT + t; int r = v / (TW / 8), c = (v % (TW / 8)) * 8;
    *(uint4*)&s[r][c] = *(const uint4*)(a + (size_t)r * N + c);
  }
  __syncthreads();
  half* b = B + (size_t)bx * TW * M + by * TH;
  #pragma unroll
  for (int i = 0; i < TW * TH / 8 / NT; ++i) {
    int v = i * NT + t; int c = v / (TH / 8), r0 = (v % (TH / 8)) * 8;   // B row c, cols r0..r0+7
    __align__(16) half col[8];
    #pragma unroll
    for (int k = 0; k < 8; ++k) col[k] = s[r0 + k][c];
    *(uint4*)(b + (size_t)c * M + r0) = *(uint4*)col;
  }
}
extern "C" __global__ void __launch_bounds__(256) h64(const half* A, half* B, int M, int N) { tr_direct<64, 64, 256>(A, B, M, N); }
extern "C" __global__ void __launch_bounds__(256) h64x128(const half* A, half* B, int M, int N) { tr_direct<64, 128, 256>(A, B, M, N); }
extern "C" __global__ void __launch_bounds__(512) h128(const half* A, half* B, int M, int N) { tr_direct<128, 128, 512>(A, B, M, N); }
extern "C" __global__ void __launch_bounds__(256) h128_256(const half* A, half* B, int M, int N) { tr_direct<128, 128, 256>(A, B, M, N); }
'''
FORMS = {"h64": (64, 64, 256), "h64x128": (64, 128, 256), "h128": (128, 128, 512),
         "h128_256": (128, 128, 256)}          # kernel -> (tile rows, tile columns, threads)


def gpu_us(fn, flush) -> float:
    """Median microseconds of fn between CUDA events over 30 runs, the L2 flushed before each."""
    fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(30):
        flush.fill_(1)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) * 1e3)
    return statistics.median(samples)


def report(name, run, a, b, want, flush) -> None:
    b.fill_(float("nan"))
    run()
    torch.cuda.synchronize()
    exact = torch.equal(b.view(torch.int16), want.view(torch.int16))
    us = gpu_us(run, flush)
    print(f"| {name} | {us:.2f} | {2 * M * N * 2 / us / 1e3:.0f} | {exact} |")


def main() -> None:
    module = cp.RawModule(code=SRC, options=("-std=c++17", "--gpu-architecture=sm_90a"))
    a = torch.randn(M, N, device="cuda", dtype=torch.float16)
    want = a.t().contiguous()
    b = torch.empty(N, M, device="cuda", dtype=torch.float16)
    flush = torch.empty(512 * 1024 * 1024, dtype=torch.uint8, device="cuda")
    print("| kernel | us | GB/s | bit-exact |\n|---|---|---|---|")
    for name, (rows, cols, threads) in FORMS.items():
        kernel = module.get_function(name)
        grid = (N // cols, M // rows)
        report(f"hand CUDA {rows} x {cols}, {threads} threads", lambda: kernel(
            grid, (threads,), (a.data_ptr(), b.data_ptr(), np.int32(M), np.int32(N))),
            a, b, want, flush)
    for config in triton_jobs.CONFIGS["transpose"]:
        report(f"Triton {triton_jobs.describe(config)}",
               lambda: triton_jobs.transpose(a, b, **config), a, b, want, flush)


if __name__ == "__main__":
    main()
