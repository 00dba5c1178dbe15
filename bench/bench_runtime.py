"""Benchmark of the compiled-package run time on a GPU (run on the H100 through the device tool).

It measures the run-time half of `tlspec compile` (the generated wrapper and codegen/runtime.py)
with the tests' fixture kernels, side by side in one run (bench_jobs.py measures the compiled
kernels of specs/):

1. the ceiling: torch's device-to-device copy of 512 MiB, and `copy_` of a 16384 x 16384 fp16
   matrix (the copy job of ../shared/anchors/h100.md);
2. the same 16384 x 16384 copy by the tests' TMA fixture kernel (tests/gpu/fixtures/b6, built by
   tvm tirx from a hand-written IR, NOT by tlspec), launched through a generated package: what
   the launch path delivers for a TMA kernel with symbolic dims;
3. host time per call (launch-bound) is bench/bench_launch.py's: the wrapper side by side with
   torch's copy_, a bare cuLaunchKernel and Triton.

Bandwidth = (bytes read once + bytes written once) / median time of CUDA-event-timed runs.
Usage: python bench/bench_runtime.py [--iters 50]
"""
from __future__ import annotations

import argparse
import importlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tlspec import native_launch  # noqa: E402
from tlspec.package import KernelArtifact, write_package

FIXTURES = ROOT / "tests" / "gpu" / "fixtures"


def gpu_time(fn, iters: int, warmup: int = 10) -> float:
    """Median seconds per call, CUDA events around each call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def host_time(fn, iters: int) -> float:
    """Median host seconds per call over batches of 100 calls (launch-bound on a tiny shape)."""
    for _ in range(100):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        for _ in range(100):
            fn()
        samples.append((time.perf_counter() - t0) / 100)
        torch.cuda.synchronize()
    return statistics.median(samples)


def load_fixture_package(*names: str):
    """The fixture kernels as a package; where no launcher could be compiled here (a GPU machine
    without Python's headers), the one of a package carried in build/ is copied in."""
    out = Path(tempfile.mkdtemp()) / "bench_pkg"
    write_package(out, [KernelArtifact(n, json.loads((FIXTURES / f"{n}.json").read_text()),
                                       (FIXTURES / f"{n}.cu").read_text(),
                                       (FIXTURES / f"{n}.cubin").read_bytes()) for n in names])
    carried = ROOT / "build" / "tlspec_kernels" / native_launch.LIBRARY
    if not (out / native_launch.LIBRARY).exists() and carried.exists():
        shutil.copyfile(carried, out / native_launch.LIBRARY)
    sys.path.insert(0, str(out.parent))
    return importlib.import_module("bench_pkg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=50)
    args = parser.parse_args()
    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}")
    rows = []

    n = 512 * 1024 * 1024 // 2
    src = torch.randn(n, dtype=torch.float16, device="cuda")
    dst = torch.empty_like(src)
    t = gpu_time(lambda: dst.copy_(src), args.iters)
    ceiling = 2 * src.numel() * 2 / t / 1e9
    rows.append(("device-to-device copy 512 MiB (torch copy_)", t, ceiling))

    a = torch.randn(16384, 16384, dtype=torch.float16, device="cuda")
    b = torch.empty_like(a)
    t = gpu_time(lambda: b.copy_(a), args.iters)
    rows.append(("copy 16384x16384 fp16, torch copy_", t, 2 * a.numel() * 2 / t / 1e9))

    pkg = load_fixture_package("b6_tma_symMN", "b5_copy_symM")
    b.view(torch.int16).fill_(-1)
    pkg.b6_tma_symMN(a, b)
    torch.cuda.synchronize()
    assert torch.equal(a.view(torch.int16), b.view(torch.int16)), "fixture copy is wrong"
    t = gpu_time(lambda: pkg.b6_tma_symMN(a, b), args.iters)
    rows.append(("copy 16384x16384 fp16, TMA fixture via generated wrapper", t,
                 2 * a.numel() * 2 / t / 1e9))

    print("\n| job | median time | GB/s | % of ceiling |\n|---|---|---|---|")
    for name, seconds, gbs in rows:
        print(f"| {name} | {seconds * 1e6:.1f} us | {gbs:.0f} | {100 * gbs / ceiling:.1f}% |")


if __name__ == "__main__":
    main()
