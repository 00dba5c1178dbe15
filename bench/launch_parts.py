"""Where the wrapper's host time goes, part by part, on a GPU: the whole call (through the
compiled launcher, and through the Python path) next to torch's copy_ and the bare ctypes launch
the Python path ends in, the Python path with its launch replaced by a Python no-op, and each
part of that path timed alone (the intake, torch's current stream, the prepared launch's
lookup, the context query a call makes only when the driver refuses a launch, torch's tensor
accessors), us per call, median of batches of 100. The fixtures of bench/bench_launch.py.

Usage: python bench/launch_parts.py      (on a GPU machine)
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_runtime import host_time, load_fixture_package  # noqa: E402

ITERS = 50              # batches of 100 calls per part


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
    rows = {"wrapper (compiled launcher)": host_time(lambda: fn(a, b), ITERS),
            "wrapper, Python path": host_time(lambda: kernel((a, b), None), ITERS),
            "torch copy_": host_time(lambda: b.copy_(a), ITERS),
            "bare ctypes cuLaunchKernelEx": host_time(lambda: via.launch(*prepared.args), ITERS)}
    launch = via.launch
    via.launch = lambda *args: 0
    try:
        rows["Python path, launch a Python no-op"] = host_time(lambda: kernel((a, b), None),
                                                               ITERS)
    finally:
        via.launch = launch
    rows.update({
        "intake of the two tensors": host_time(lambda: kernel.intake((a, b)), ITERS),
        "torch's current raw stream": host_time(lambda: raw_stream(0), ITERS),
        "prepared launch lookup": host_time(lambda: plan.launches.get((pointers, stream)), ITERS),
        "context query (cuCtxGetCurrent)": host_time(via.current_context, ITERS),
        "torch.cuda.current_device()": host_time(torch.cuda.current_device, ITERS),
        "a.data_ptr()": host_time(a.data_ptr, ITERS),
        "a.shape": host_time(lambda: a.shape, ITERS),
        "a.stride()": host_time(a.stride, ITERS),
        "a.dtype": host_time(lambda: a.dtype, ITERS),
        "a.get_device()": host_time(a.get_device, ITERS),
        "a.is_cuda": host_time(lambda: a.is_cuda, ITERS),
        "an empty lambda": host_time(lambda: None, ITERS),
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
