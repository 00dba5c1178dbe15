"""The four data-movement jobs of ../shared/anchors/h100.md at their sizes, in one run:
tlspec's compiled kernel, the PyTorch equivalent, and a 512 MiB device-to-device copy (the
ceiling). Prints a markdown table of GB/s (bytes read once + bytes written once, CUDA-event
median of 50 runs after 5 warm-ups) and each figure's ratio to the ceiling.

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


def median_ms(fn):
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(RUNS):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def gbps(nbytes, ms):
    return nbytes / ms / 1e6


def main(package: str) -> None:
    path = Path(package).resolve()
    sys.path.insert(0, str(path.parent))
    k = importlib.import_module(path.name)
    h = torch.float16
    rows = []

    x = torch.randn(256 * 1024 * 1024, device="cuda", dtype=h)        # 512 MiB
    y = torch.empty_like(x)
    ceiling = gbps(2 * x.numel() * 2, median_ms(lambda: y.copy_(x)))
    del x, y

    a = torch.randn(16384, 16384, device="cuda", dtype=h)
    b = torch.empty_like(a)
    nbytes = 2 * a.numel() * 2
    rows.append(("copy 16384x16384", gbps(nbytes, median_ms(lambda: k.copy_tiles(a, b))),
                 gbps(nbytes, median_ms(lambda: b.copy_(a))), "copy_"))
    del a, b

    a = torch.randn(8192, 8192, device="cuda", dtype=h)
    b = torch.empty_like(a)
    nbytes = 2 * a.numel() * 2
    rows.append(("transpose 8192x8192", gbps(nbytes, median_ms(lambda: k.transpose_tma_store(a, b))),
                 gbps(nbytes, median_ms(lambda: b.copy_(a.t()))), "copy_(a.t())"))
    del a, b

    table = torch.randn(262144, 1024, device="cuda", dtype=h)
    idx = torch.randint(0, 262144, (65536,), device="cuda", dtype=torch.int32)
    idx64 = idx.long()
    out = torch.empty(65536, 1024, device="cuda", dtype=h)
    nbytes = 2 * out.numel() * 2 + idx.numel() * 4
    rows.append(("gather 65536 of 262144x1024 rows",
                 gbps(nbytes, median_ms(lambda: k.gather_rows(table, idx, out))),
                 gbps(nbytes + idx.numel() * 4,
                      median_ms(lambda: torch.index_select(table, 0, idx64, out=out))),
                 "index_select (int64 idx)"))
    del table, out

    img = torch.randn(32, 56, 56, 256, device="cuda", dtype=h)
    col = torch.empty(32 * 56 * 56, 9 * 256, device="cuda", dtype=h)
    nchw = img.permute(0, 3, 1, 2).contiguous()
    nbytes = (img.numel() + col.numel()) * 2
    rows.append(("im2col 32x56x56x256 3x3",
                 gbps(nbytes, median_ms(lambda: k.im2col_3x3(img, col))),
                 gbps(nbytes, median_ms(lambda: F.unfold(nchw, 3, padding=1))),
                 "F.unfold (NCHW)"))

    print(f"device: {torch.cuda.get_device_name()}; ceiling (512 MiB copy_): {ceiling:.0f} GB/s\n")
    print("| job (fp16) | tlspec GB/s | tlspec / ceiling | PyTorch GB/s | PyTorch / ceiling | PyTorch op |")
    print("|---|---|---|---|---|---|")
    for name, ours, theirs, op in rows:
        print(f"| {name} | {ours:.0f} | {ours / ceiling:.0%} | {theirs:.0f} | "
              f"{theirs / ceiling:.0%} | {op} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/tlspec_kernels")
