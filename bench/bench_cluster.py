"""Thread block clusters on the H200: a broadcast of W (fp16, 4096 x 4096) to a batch of 8
(out[b] = W) with one TMA multicast per cluster of 8 blocks, side by side with the same kernels
without clusters (each block loads its tile itself), one tile per block, in a loop and in a
pipelined loop (a ring of 4 slots), and
torch's expand().contiguous(). GB/s counts W read once and out written once; every output is
checked against torch first. `--ncu` prints what ncu is to measure (DRAM and L2 bytes read).

    tlspec compile bench/cluster -o build/tlspec_bench_cluster     # on any machine
    python bench/bench_cluster.py build/tlspec_bench_cluster
"""
import importlib
import sys
from pathlib import Path

import torch
from bench_jobs import gpu_ms


def main(package: str) -> None:
    path = Path(package).resolve()
    sys.path.insert(0, str(path.parent))
    k = importlib.import_module(path.name)
    w = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)
    out = torch.empty(8, 4096, 4096, device="cuda", dtype=torch.float16)
    want = w.expand(8, -1, -1)
    nbytes = w.nbytes + out.nbytes
    print(f"device: {torch.cuda.get_device_name()}\n")
    print("| out[b] = W, b < 8 (fp16 4096 x 4096) | GB/s | / without cluster |")
    print("|---|---|---|")
    torch_gbs = nbytes / gpu_ms(lambda: out.copy_(want)) / 1e6
    print(f"| torch copy_ of W.expand(8, ...) | {torch_gbs:.0f} | |")
    for plain, multicast in (("bcast_plain", "bcast_multicast"),
                             ("bcast_loop_plain", "bcast_loop_multicast"),
                             ("bcast_pipe_plain", "bcast_pipe_multicast")):
        base = None
        for name in (plain, multicast):
            kernel = getattr(k, name)
            out.view(torch.int16).fill_(0x7E01)
            kernel(w, out)
            torch.cuda.synchronize()
            assert torch.equal(out, want), f"{name}: wrong"
            gbs = nbytes / gpu_ms(lambda: kernel(w, out)) / 1e6
            base = base or gbs
            print(f"| {name} | {gbs:.0f} | {gbs / base:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/tlspec_bench_cluster")
