"""Three launches of each specs/ kernel that bench/RESULTS.md has no ncu profile of yet
(embedding_lookup, paged_kv_gather, paged_kv_gather_pages, im2col_3x3, concat_last) at
bench/bench_jobs.py's sizes, from the package `tlspec compile specs/ -o build/tlspec_kernels`
writes: what `tests/gpu/device_session.sh ncu` profiles.

Usage: ncu --clock-control none -k regex:"^(embedding|paged_kv|im2col_3x3|concat)" ... \\
           python bench/ncu_jobs.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "build"))
import tlspec_kernels as k  # noqa: E402


def main() -> None:
    h = torch.float16
    weight = torch.randn(128256, 4096, device="cuda", dtype=h)
    ids = torch.randint(0, 128256, (16384,), device="cuda")
    tokens = torch.empty(16384, 4096, device="cuda", dtype=h)
    b, t, p, d = 32, 2048, 16, 1024
    cache = torch.randn(2 * b * t // p, p, d, device="cuda", dtype=h)
    block_table = torch.randperm(2 * b * t // p, device="cuda")[:b * t // p].view(b, t // p).int()
    keys = torch.empty(b, t, d, device="cuda", dtype=h)
    img = torch.randn(32, 56, 56, 256, device="cuda", dtype=h)
    col = torch.empty(32 * 56 * 56, 9 * 256, device="cuda", dtype=h)
    left = torch.randn(16384, 4096, device="cuda", dtype=h)
    right = torch.randn(16384, 2048, device="cuda", dtype=h)
    joined = torch.empty(16384, 6144, device="cuda", dtype=h)
    for _ in range(3):
        k.embedding_lookup(weight, ids, tokens)
        k.paged_kv_gather(cache, block_table, keys)
        k.paged_kv_gather_pages(cache, block_table, keys)
        k.im2col_3x3(img, col)
        k.concat_last(left, right, joined)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
