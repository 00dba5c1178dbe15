"""Where the wrapper's host time goes, part by part, on a GPU: the whole call next to torch's
copy_ and the bare ctypes launch it ends in, the call with its launch replaced by a Python no-op,
and each part of the call timed alone (the intake, torch's current stream, the prepared launch's
lookup, the context query a call makes only when the driver refuses a launch, torch's tensor
accessors), us per call, median of batches of 100. The fixtures of bench/bench_launch.py.

Usage: python bench/launch_parts.py      (on a GPU machine)
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_runtime import host_time, load_fixture_package  # noqa: E402


def loop_time(fn, iters: int = 50) -> float:
    """Median seconds per call over batches of 100 calls of fn (no GPU work to wait for)."""
    for _ in range(200):
        fn()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        for _ in range(100):
            fn()
        samples.append((time.perf_counter() - t0) / 100)
    return statistics.median(samples)


def parts(fn, a, b) -> dict:
    """The whole call of wrapper fn on (a, b) and each of its parts, seconds per call."""
    fn(a, b)
    torch.cuda.synchronize()
    kernel = fn.__globals__["_KERNEL"]
    key, pointers = kernel.intake((a, b))
    plan = kernel._plans[key]
    via = kernel._via[1]
    stream = torch.cuda.current_stream().cuda_stream
    prepared = plan.launches[pointers, stream]
    raw_stream = torch._C._cuda_getCurrentRawStream
    rows = {"wrapper": host_time(lambda: fn(a, b), 50),
            "torch copy_": host_time(lambda: b.copy_(a), 50),
            "bare ctypes cuLaunchKernelEx": host_time(lambda: via.launch(*prepared.args), 50)}
    launch = via.launch
    via.launch = lambda *args: 0
    try:
        rows["wrapper, launch a Python no-op"] = loop_time(lambda: fn(a, b))
    finally:
        via.launch = launch
    rows.update({
        "intake of the two tensors": loop_time(lambda: kernel.intake((a, b))),
        "torch's current raw stream": loop_time(lambda: raw_stream(0)),
        "prepared launch lookup": loop_time(lambda: plan.launches.get((pointers, stream))),
        "context query (cuCtxGetCurrent)": loop_time(via.current_context),
        "torch.cuda.current_device()": loop_time(torch.cuda.current_device),
        "a.data_ptr()": loop_time(a.data_ptr),
        "a.shape": loop_time(lambda: a.shape),
        "a.stride()": loop_time(a.stride),
        "a.dtype": loop_time(lambda: a.dtype),
        "a.get_device()": loop_time(a.get_device),
        "a.is_cuda": loop_time(lambda: a.is_cuda),
        "an empty lambda": loop_time(lambda: None),
    })
    return rows


def main() -> None:
    pkg = load_fixture_package("b5_copy_symM", "b6_tma_symMN")
    print(f"device: {torch.cuda.get_device_properties(0).name}, torch {torch.__version__}; "
          "us per call")
    for name, shape in (("b5_copy_symM", (64, 1024)), ("b6_tma_symMN", (64, 64))):
        a = torch.randn(*shape, dtype=torch.float16, device="cuda")
        rows = parts(getattr(pkg, name), a, torch.empty_like(a))
        print(f"\n| {name} {shape[0]}x{shape[1]} fp16 | us |\n|---|---|")
        for what, seconds in rows.items():
            print(f"| {what} | {seconds * 1e6:.3f} |")


if __name__ == "__main__":
    main()
