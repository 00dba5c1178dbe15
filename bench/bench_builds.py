"""Two builds of the same kernels side by side, in one run: did a compiler change make a kernel
slower? Each kernel of both packages is called on the same random arrays (shapes from its
manifest at the dims given) and timed as bench_jobs.py times GPU work: 50 launches queued back to
back, CUDA events around each, the median after 5 warm-ups. Prints a markdown table of GB/s
(bytes of all arguments, each read or written once) and the ratio after / before.

    tlspec compile tests/gpu/matrix -o build/matrix_after          # on any machine, with the
    (the same with the earlier compiler into build/matrix_before)    # two compilers
    python bench/bench_builds.py build/matrix_before build/matrix_after \\
        --dims M=8192,N=8192 --kernels copy_simt_f16,transpose_f16   # on the GPU machine
"""
import argparse
import importlib
import json
import sys
from pathlib import Path

import torch

from bench_jobs import gpu_ms

TORCH = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
         "int8": torch.int8, "int16": torch.int16, "int32": torch.int32, "int64": torch.int64}


def load(package: str):
    path = Path(package).resolve()
    sys.path.insert(0, str(path.parent))
    return path, importlib.import_module(path.name)


def arrays(manifest: dict, module, dims: dict) -> list:
    runtime = importlib.import_module(module.__name__ + "._runtime")
    out = []
    for arg in manifest["arguments"]:
        shape = [runtime.evaluate(e, dims) for e in arg["shape"]]
        dtype = TORCH[arg["dtype"]]
        out.append(torch.randn(shape, device="cuda").to(dtype) if dtype.is_floating_point else
                   torch.randint(0, 2, shape, device="cuda", dtype=dtype))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--dims", required=True, help="NAME=VALUE,... for the symbolic dims")
    parser.add_argument("--kernels", required=True, help="comma-separated kernel names")
    args = parser.parse_args()
    dims = {k: int(v) for k, v in (p.split("=") for p in args.dims.split(","))}
    builds = [load(p) for p in (args.before, args.after)]
    print(f"device: {torch.cuda.get_device_name()}; dims {dims}\n")
    print("| kernel | before GB/s | after GB/s | after / before |")
    print("|---|---|---|---|")
    for name in args.kernels.split(","):
        speeds = []
        for path, module in builds:
            manifest = json.loads((path / f"{name}.json").read_text())
            values = arrays(manifest, module, dims)
            nbytes = sum(v.numel() * v.element_size() for v in values)
            fn = getattr(module, name)
            try:
                speeds.append(nbytes / gpu_ms(lambda: fn(*values)) / 1e6)
            except (TypeError, ValueError) as e:     # the wrapper refused these dims
                print(f"| {name} | refused: {e} | | |")
                break
        if len(speeds) < 2:
            continue
        print(f"| {name} | {speeds[0]:.0f} | {speeds[1]:.0f} | {speeds[1] / speeds[0]:.3f} |")


if __name__ == "__main__":
    main()
