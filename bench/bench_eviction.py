"""What `eviction_policy` costs or gains on SIMT stages: each kernel of
tests/gpu/matrix/eviction.tlspec.yaml that has a twin without hints (the same spec, no
`eviction_policy`) timed side by side with its twin, at sizes well past the 50 MB L2.

The hinted accesses are inline-asm ld/st that the compiler cannot reorder; ApplyEvictionHints
stages each thread's loads in registers so that they are still in flight together. This run
checks that the hinted kernel keeps the bandwidth of its twin. GB/s = (bytes read once + bytes
written once) / median GPU time (bench_jobs.gpu_ms: launches queued back to back). Usage:

    tlspec compile tests/gpu/matrix -o build/tlspec_matrix        # on any machine
    python bench/bench_eviction.py build/tlspec_matrix            # on the GPU machine
"""
import importlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_jobs import gpu_ms  # noqa: E402


def gather_case(k, name, rows=1 << 18, d=1024, ni=1 << 17):
    table = torch.randn(rows, d, device="cuda", dtype=torch.float16)
    idx = torch.randint(0, rows, (ni,), device="cuda", dtype=torch.int32)
    out = torch.empty(ni, d, device="cuda", dtype=torch.float16)
    return 2 * out.numel() * 2 + idx.numel() * 4, lambda: getattr(k, name)(table, idx, out)


def scatter_case(k, name, rows=1 << 18, d=1024, ni=1 << 17):
    table = torch.randn(rows, d, device="cuda", dtype=torch.float16)
    idx = torch.randperm(rows, device="cuda", dtype=torch.int32)[:ni]
    src = torch.randn(ni, d, device="cuda", dtype=torch.float16)
    return 2 * src.numel() * 2 + idx.numel() * 4, lambda: getattr(k, name)(table, idx, src)


def im2col_case(k, name, n=64, h=112, w=112, c=40):
    img = torch.randn(n, h, w, c, device="cuda", dtype=torch.float16)
    oh, ow = (h - 3) // 2 + 1, (w - 3) // 2 + 1
    col = torch.empty(n * oh * ow, 9 * c, device="cuda", dtype=torch.float16)
    return img.numel() * 2 + col.numel() * 2, lambda: getattr(k, name)(img, col)


def copy_case(k, name, m=16384, n=16384):
    a = torch.randn(m, n, device="cuda", dtype=torch.float16)
    b, c = torch.empty_like(a), torch.empty_like(a)
    return 6 * a.numel() * 2, lambda: getattr(k, name)(a, b, c)


PAIRS = [   # (plain kernel, hinted kernel, case)
    ("gather_f16", "gather_f16_evict", gather_case),
    ("scatter_f16", "scatter_f16_evict", scatter_case),
    ("im2col_k3s2d1p0_f16_global", "im2col_k3s2d1p0_f16_global_evict", im2col_case),
    # not exact twins: copy_simt's B goes through a register fragment, copy_evict's does not
    ("copy_simt_f16", "copy_evict_f16", copy_case),
]


def main(package: str) -> None:
    path = Path(package).resolve()
    sys.path.insert(0, str(path.parent))
    k = importlib.import_module(path.name)
    print(f"device: {torch.cuda.get_device_name()}")
    print("| kernel | GB/s | hinted kernel | GB/s | hinted / plain |")
    print("|---|---|---|---|---|")
    for plain, hinted, case in PAIRS:
        rates = []
        for name in (plain, hinted):
            nbytes, fn = case(k, name)
            rates.append(nbytes / gpu_ms(fn) / 1e6)
            del fn
            torch.cuda.empty_cache()
        print(f"| {plain} | {rates[0]:.0f} | {hinted} | {rates[1]:.0f} | "
              f"{rates[1] / rates[0]:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/tlspec_matrix")
