"""The copy and transpose jobs of bench_jobs.py in pipelined form (bench/jobs_pipelined/) side by
side with the synchronous specs of specs/ (one tile per block), in one run, with bench_jobs'
method; every output is checked bit-exactly against torch first. Which form is faster decides
which one specs/ keeps as the example users copy.

    tlspec compile specs/ -o build/tlspec_kernels                          # on any machine
    tlspec compile bench/jobs_pipelined -o build/tlspec_jobs_pipelined
    python bench/bench_jobs_pipelined.py build/tlspec_kernels build/tlspec_jobs_pipelined
"""
import importlib
import sys
from pathlib import Path

import torch
from bench_jobs import gpu_ms


def load(package: str):
    path = Path(package).resolve()
    sys.path.insert(0, str(path.parent))
    return importlib.import_module(path.name)


def main(specs: str, pipelined: str) -> None:
    s, p = load(specs), load(pipelined)
    h = torch.float16
    a = torch.randn(16384, 16384, device="cuda", dtype=h)
    b = torch.empty_like(a)
    jobs = [("copy 16384x16384", a, b, a, [("copy_tiles (specs/)", s.copy_tiles)] +
             [(n, getattr(p, n)) for n in ("copy_pipe_c512_s4", "copy_pipe_c1024_s4",
                                             "copy_pipe_c512_s4_ws", "copy_pipe_c1024_s4_ws")])]
    t = torch.randn(8192, 8192, device="cuda", dtype=h)
    tb = torch.empty_like(t)
    jobs.append(("transpose 8192x8192", t, tb, t.t().contiguous(),
                 [("transpose_tma_store (specs/)", s.transpose_tma_store)] +
                 [(n, getattr(p, n)) for n in ("transpose_pipe_c256_s2", "transpose_pipe_c256_s3",
                                               "transpose_pipe_c512_s2", "transpose_pipe_c512_s3",
                                               "transpose_tma_pipe_c512_s3", "transpose_ws_c512_s3",
                                               "transpose_ws_c512_s3_two_tiles")]))
    print(f"device: {torch.cuda.get_device_name()}\n")
    print("| job (fp16) | kernel | GB/s | / synchronous spec |")
    print("|---|---|---|---|")
    for job, src, dst, want, kernels in jobs:
        first = None
        for name, kernel in kernels:
            dst.view(torch.int16).fill_(0x7E01)
            kernel(src, dst)
            torch.cuda.synchronize()
            assert torch.equal(dst.view(torch.int16), want.view(torch.int16)), f"{name}: wrong"
            gbs = 2 * src.nbytes / gpu_ms(lambda: kernel(src, dst)) / 1e6
            first = first or gbs
            print(f"| {job} | {name} | {gbs:.0f} | {gbs / first:.3f} |")


if __name__ == "__main__":
    main(*(sys.argv[1:3] if len(sys.argv) > 2 else ("build/tlspec_kernels",
                                                     "build/tlspec_jobs_pipelined")))
