"""Pipelined copies on the GPU, side by side in one run: a 256 MiB fp16 copy (16384 x 8192)
written as a serial `for` of synchronous TMA copies, as `pipeline` loops of plain copies (TMA or
cp.async loads issued ahead, several depths and tile heights), and with explicit barriers by
hand; torch's `copy_` of the same tensor, and the ceiling, a 512 MiB `copy_`. GB/s = (bytes read
once + written once) / GPU time, with bench_jobs' method (50 launches queued back to back, the
median of their event pairs). Every kernel's output is checked bit-exactly against the input
(poisoned first) before it is timed.

    tlspec compile bench/pipeline -o build/tlspec_bench_pipeline      # on any machine
    python bench/bench_pipeline.py build/tlspec_bench_pipeline         # on the GPU machine
"""
import importlib
import json
import sys
from pathlib import Path

import torch
from bench_jobs import gpu_ms

POISON = 0x7E01                       # an fp16 NaN pattern random inputs do not produce


def main(package: str) -> None:
    path = Path(package).resolve()
    sys.path.insert(0, str(path.parent))
    k = importlib.import_module(path.name)
    names = json.loads((path / "_tlspec_package.json").read_text())["kernels"]

    x = torch.randn(256 * 1024 * 1024, device="cuda", dtype=torch.float16)      # 512 MiB
    y = torch.empty_like(x)
    ceiling = 2 * x.nbytes / gpu_ms(lambda: y.copy_(x)) / 1e6
    del x, y
    a = torch.randn(16384, 8192, device="cuda", dtype=torch.float16)
    a[a == 0] = 1
    b = torch.empty_like(a)
    nbytes = 2 * a.nbytes
    rows = [("torch copy_", nbytes / gpu_ms(lambda: b.copy_(a)) / 1e6)]
    for name in names:
        kernel = getattr(k, name)
        b.view(torch.int16).fill_(POISON)
        kernel(a, b)
        torch.cuda.synchronize()
        assert torch.equal(a.view(torch.int16), b.view(torch.int16)), f"{name}: wrong output"
        rows.append((name, nbytes / gpu_ms(lambda: kernel(a, b)) / 1e6))

    print(f"device: {torch.cuda.get_device_name()}; ceiling (512 MiB copy_): {ceiling:.0f} GB/s\n")
    print("| 256 MiB fp16 copy | GB/s | / ceiling | / torch copy_ |")
    print("|---|---|---|---|")
    for name, gbs in rows:
        print(f"| {name} | {gbs:.0f} | {gbs / ceiling:.1%} | {gbs / rows[0][1]:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/tlspec_bench_pipeline")
