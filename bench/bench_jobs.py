"""The four data-movement jobs of ../shared/anchors/h100.md at their sizes, in one run:
tlspec's compiled kernel, the PyTorch equivalent, and a 512 MiB device-to-device copy (the
ceiling). Prints a markdown table of GB/s (bytes read once + bytes written once) and each
figure's ratio to the ceiling, measured two ways, each with its own ceiling:

- GPU time: 50 launches issued back to back, a pair of CUDA events around each, one
  synchronisation at the end (as triton's do_bench). The launches queue up on the stream, so
  each pair of events brackets the kernel alone. The floors of the issue are judged on these.
- per call: a synchronisation after every launch, so each time also holds the host's work
  between the first event and the kernel's start: the wrapper's argument checks and launch
  (tlspec) or torch's dispatch (PyTorch). For a ~100 us kernel that work is a visible share.

Both are medians of 50 runs after 5 warm-ups. Usage:

    tlspec compile specs/ -o build/tlspec_kernels      # on any machine
    python bench/bench_jobs.py build/tlspec_kernels     # on the GPU machine (torch, cuda-python)
"""
import importlib
import statistics
import sys
from pathlib import Path

import torch

F = torch.nn.functional
RUNS, WARMUP = 50, 5
FLOORS = {"copy": 0.90, "transpose": 0.85, "gather": 0.85, "im2col": 0.85}


def events():
    return torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)


def gpu_ms(fn):
    """Median kernel time with the launches queued back to back."""
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    pairs = [events() for _ in range(RUNS)]
    for start, end in pairs:
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return statistics.median(start.elapsed_time(end) for start, end in pairs)


def per_call_ms(fn):
    """Median time of one call waited for on its own (host work before the launch included)."""
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(RUNS):
        start, end = events()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def measure(nbytes, fn):
    return nbytes / gpu_ms(fn) / 1e6, nbytes / per_call_ms(fn) / 1e6


def main(package: str) -> None:
    path = Path(package).resolve()
    sys.path.insert(0, str(path.parent))
    k = importlib.import_module(path.name)
    h = torch.float16
    rows = []          # (job, floor key, nbytes, tlspec call, torch call, torch op)

    x = torch.randn(256 * 1024 * 1024, device="cuda", dtype=h)        # 512 MiB
    y = torch.empty_like(x)
    ceiling = measure(2 * x.numel() * 2, lambda: y.copy_(x))

    a = torch.randn(16384, 16384, device="cuda", dtype=h)
    b = torch.empty_like(a)
    rows.append(("copy 16384x16384", "copy", measure(4 * a.numel(), lambda: k.copy_tiles(a, b)),
                 measure(4 * a.numel(), lambda: b.copy_(a)), "copy_"))

    a = torch.randn(8192, 8192, device="cuda", dtype=h)
    b = torch.empty_like(a)
    rows.append(("transpose 8192x8192", "transpose",
                 measure(4 * a.numel(), lambda: k.transpose_tma_store(a, b)),
                 measure(4 * a.numel(), lambda: b.copy_(a.t())), "copy_(a.t())"))

    table = torch.randn(262144, 1024, device="cuda", dtype=h)
    idx = torch.randint(0, 262144, (65536,), device="cuda", dtype=torch.int32)
    idx64 = idx.long()
    out = torch.empty(65536, 1024, device="cuda", dtype=h)
    nbytes = 2 * out.numel() * 2 + idx.numel() * 4
    rows.append(("gather 65536 of 262144x1024 rows", "gather",
                 measure(nbytes, lambda: k.gather_rows(table, idx, out)),
                 measure(nbytes + idx.numel() * 4,
                         lambda: torch.index_select(table, 0, idx64, out=out)),
                 "index_select (int64 idx)"))

    img = torch.randn(32, 56, 56, 256, device="cuda", dtype=h)
    col = torch.empty(32 * 56 * 56, 9 * 256, device="cuda", dtype=h)
    nchw = img.permute(0, 3, 1, 2).contiguous()
    nbytes = (img.numel() + col.numel()) * 2
    rows.append(("im2col 32x56x56x256 3x3", "im2col",
                 measure(nbytes, lambda: k.im2col_3x3(img, col)),
                 measure(nbytes, lambda: F.unfold(nchw, 3, padding=1)), "F.unfold (NCHW)"))

    print(f"device: {torch.cuda.get_device_name()}; ceiling (512 MiB copy_): "
          f"{ceiling[0]:.0f} GB/s GPU time, {ceiling[1]:.0f} GB/s per call\n")
    print("| job (fp16) | tlspec GB/s | / ceiling | floor | tlspec per call | / ceiling "
          "| PyTorch GB/s | / ceiling | PyTorch per call | / ceiling | PyTorch op |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, key, ours, theirs, op in rows:
        ratio = ours[0] / ceiling[0]
        verdict = "met" if ratio >= FLOORS[key] else "NOT met"
        print(f"| {name} | {ours[0]:.0f} | {ratio:.0%} | {FLOORS[key]:.0%} {verdict} "
              f"| {ours[1]:.0f} | {ours[1] / ceiling[1]:.0%} "
              f"| {theirs[0]:.0f} | {theirs[0] / ceiling[0]:.0%} "
              f"| {theirs[1]:.0f} | {theirs[1] / ceiling[1]:.0%} | {op} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/tlspec_kernels")
