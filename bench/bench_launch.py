"""Launch overhead on a GPU, side by side in one run: host time per call of a tlspec wrapper,
torch's copy_, a bare cuLaunchKernel of the same function and parameters (cuda.bindings, and
the ctypes cuLaunchKernelEx the wrapper itself ends in), and a Triton launch of a copy kernel.

Two workloads, each launch-bound (tiny shapes, plans cached):
1. a two-tensor kernel called on the same pair again and again: the SIMT fixture b5_copy_symM
   (64 x 1024 fp16) and the TMA fixture b6_tma_symMN (64 x 64 fp16, two tensor maps);
2. a loop of tiny copies over 16 different pairs of 64 x 1024 fp16 tensors, one after the
   other (new pointers each call, repeating every 16).
Every copy is checked bit-exact once before timing. "wrapper" is the package's wrapper with its
compiled launcher (codegen/_native_launch.c), "wrapper, Python path" the same call without it.
The table's last columns are the wrapper's time over torch's copy_ and over the bare
cuda.bindings launch (issue 13's targets: at most 1 and at most 1.5). bench/host_overhead.py times the wrapper's Python side without a GPU.

Usage: python bench/bench_launch.py [--iters 50]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_runtime import host_time, load_fixture_package  # noqa: E402

PAIRS = 16


def triton_copy():
    """A Triton copy of n fp16 elements, launched as a function of (src, dst); None without
    Triton."""
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return None

    @triton.jit
    def copy_kernel(src, dst, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        tl.store(dst + offs, tl.load(src + offs, mask=mask), mask=mask)

    def launch(src, dst):
        n = src.numel()
        copy_kernel[(triton.cdiv(n, 1024),)](src, dst, n, BLOCK=1024)
    return launch


def bare_launches(fn, *arrays):
    """(cuda.bindings cuLaunchKernel, ctypes cuLaunchKernelEx) of fn's own prepared launch on
    arrays on torch's current stream: the same function and packed parameters."""
    kernel, rt = fn.__globals__["_KERNEL"], fn.__globals__["_runtime"]
    fn(*arrays)                                   # prepares the launch
    key, pointers = rt.intake(arrays)
    plan, d = kernel._plans[key], rt._cuda()
    stream = torch.cuda.current_stream().cuda_stream
    (loaded,) = kernel._functions.values()
    via = kernel._via[1]
    prepared = plan.launches[pointers, stream]
    params = prepared.keep[1].address
    return (lambda: d.cuLaunchKernel(loaded.function, *plan.grid, *plan.block, plan.smem,
                                     stream, params, 0),
            lambda: via.launch(*prepared.args))


def python_path(fn, a, b, stream=None):
    """What wrapper fn does without its compiled launcher (a package compiled where there was
    no C compiler, or TLSPEC_NATIVE_LAUNCH=0): the Python path, Kernel.__call__."""
    return fn.__globals__["_KERNEL"]((a, b), stream)


def checked(copy, src, dst) -> None:
    """Run copy(src, dst) once on poisoned dst and check it bit-exact."""
    dst.view(torch.int16).fill_(-1)
    copy(src, dst)
    torch.cuda.synchronize()
    assert torch.equal(src.view(torch.int16), dst.view(torch.int16)), "a copy is wrong"


def two_tensor_rows(pkg, triton_launch, iters: int) -> list:
    rows = []
    for name, shape in (("b5_copy_symM", (64, 1024)), ("b6_tma_symMN", (64, 64))):
        fn = getattr(pkg, name)
        a = torch.randn(*shape, dtype=torch.float16, device="cuda")
        b = torch.empty_like(a)
        for copy in (fn, lambda s, t: t.copy_(s)) + ((triton_launch,) if triton_launch else ()):
            checked(copy, a, b)
        bindings, ctypes_launch = bare_launches(fn, a, b)
        handle = torch.cuda.current_stream().cuda_stream
        row = {"wrapper": host_time(lambda: fn(a, b), iters),
               "wrapper, stream=int": host_time(lambda: fn(a, b, stream=handle), iters),
               "wrapper, Python path": host_time(lambda: python_path(fn, a, b), iters),
               "torch copy_": host_time(lambda: b.copy_(a), iters),
               "bare cuLaunchKernel (cuda.bindings)": host_time(bindings, iters),
               "bare cuLaunchKernelEx (ctypes)": host_time(ctypes_launch, iters)}
        if triton_launch:
            row["Triton launch"] = host_time(lambda: triton_launch(a, b), iters)
        rows.append((f"{name} {shape[0]}x{shape[1]} fp16, same pair", row))
    return rows


def loop_row(pkg, triton_launch, iters: int) -> tuple:
    pairs = [(torch.randn(64, 1024, dtype=torch.float16, device="cuda"),
              torch.empty(64, 1024, dtype=torch.float16, device="cuda")) for _ in range(PAIRS)]

    def loop(copy):
        def run():
            for s, t in pairs:
                copy(s, t)
        return run

    for s, t in pairs:
        checked(pkg.b5_copy_symM, s, t)
    per = lambda fn: host_time(fn, iters) / PAIRS      # noqa: E731
    row = {"wrapper": per(loop(pkg.b5_copy_symM)),
           "wrapper, Python path": per(loop(lambda s, t: python_path(pkg.b5_copy_symM, s, t))),
           "torch copy_": per(loop(lambda s, t: t.copy_(s)))}
    if triton_launch:
        row["Triton launch"] = per(loop(triton_launch))
    return (f"loop of tiny copies over {PAIRS} pairs (b5, 64x1024 fp16), per copy", row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=50)
    args = parser.parse_args()
    import cuda.bindings
    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}, cuda-bindings "
          f"{cuda.bindings.__version__}; host time per call in us, median of batches of 100")
    pkg = load_fixture_package("b6_tma_symMN", "b5_copy_symM")
    native = pkg.b5_copy_symM.__globals__["_KERNEL"]._native
    print("the wrapper's launcher: " + ("compiled (codegen/_native_launch.c)" if native else
                                        f"the Python path ({pkg._runtime._native.REASON})"))
    triton_launch = triton_copy()
    rows = two_tensor_rows(pkg, triton_launch, args.iters) + [
        loop_row(pkg, triton_launch, args.iters)]
    columns = ["wrapper", "wrapper, stream=int", "wrapper, Python path", "torch copy_",
               "bare cuLaunchKernel (cuda.bindings)", "bare cuLaunchKernelEx (ctypes)",
               "Triton launch"]
    print("\n| workload | " + " | ".join(columns) + " | wrapper / copy_ | wrapper / bare |")
    print("|---" * (len(columns) + 3) + "|")
    for what, row in rows:
        cells = [f"{row[c] * 1e6:.2f}" if c in row else "-" for c in columns]
        bare = row.get("bare cuLaunchKernel (cuda.bindings)")
        ratios = [f"{row['wrapper'] / row['torch copy_']:.2f}",
                  f"{row['wrapper'] / bare:.2f}" if bare else "-"]
        print(f"| {what} | " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    main()
