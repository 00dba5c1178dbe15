"""Compile time and memory against the number of stages in one kernel (CPU only, no GPU).

Three generated kernels, each with STAGES stages of one kind:
- copy:   SIMT copies (`prefer_instruction: sync`), pairs global -> shared tile -> global, of
          64-column slices of a constant 4096 x (64 * STAGES) fp16 matrix (16-byte vectors, no
          guards; ThreadSync puts a __syncthreads() between the stages of a pair);
- gather: gathers of 64-column slices of a table whose sizes are all symbolic (M, N, V known at
          launch), global -> global: scalar accesses with bounds guards, the slow case of issue 10
          (tests/pipeline_support.py's `gathers`, the kernel of tests/compiler/test_compile_time.py);
- tma:    TMA copies (`prefer_instruction: tma`), the same pairs as `copy`: every copy of A and
          every copy of B has the same tensor map.

Each kernel is compiled by `tlspec.compiler.driver.compile_paths` (validation, tile IR, the
pipeline, CUDA generation, NVRTC, manifest, package) in a fresh process; the table gives its
CPU time (the process's, which other work on a shared machine hardly changes; NVRTC runs in the
process), the part spent in NVRTC (NVIDIA's compiler, not tlspec), the rest (tlspec and tvm),
the wall time, the peak memory of the process, and the kernel's TMA descriptor parameters.

Usage:
    nice python bench/bench_compile_scale.py                    # 10, 50, 200, 1000 stages
    nice python bench/bench_compile_scale.py --stages 10 200 --kinds gather --timeout 120
    python bench/bench_compile_scale.py --spec gather 200 > g.tlspec.yaml   # just the spec
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("copy", "gather", "tma")
STAGES = (10, 50, 200, 1000)

_HEAD = """tlspec: 1
name: many_{kind}_{stages}
target: sm_90a
"""

_PAIRS = """dims:
  M: 4096
  N: {columns}
buffers:
  A: {{scope: global, shape: [M, N], dtype: float16, io: in}}
  B: {{scope: global, shape: [M, N], dtype: float16, io: out}}
  A_s: {{scope: shared.dyn, shape: [16, 64], dtype: float16}}
launch:
  grid: {{bx: M // 16}}
  threads: 128
stages:
"""

def spec(kind: str, stages: int) -> str:
    """The generated spec of `kind` with `stages` stages."""
    if kind == "gather":               # the kernel of tests/compiler/test_compile_time.py
        sys.path.insert(0, str(ROOT / "tests"))
        from pipeline_support import gathers
        return gathers(stages)
    head = _HEAD.format(kind=kind, stages=stages)
    instruction = "tma" if kind == "tma" else "sync"
    body = []
    for i in range(stages):
        region = f'"{"AB"[i % 2]}[bx*16 : +16, {64 * (i // 2)} : +64]"'
        src, dst = (region, "A_s") if i % 2 == 0 else ("A_s", region)
        body.append(f"  - copy: {{src: {src}, dst: {dst}, prefer_instruction: {instruction}}}\n")
    return head + _PAIRS.format(columns=64 * ((stages + 1) // 2)) + "".join(body)


def measure_one(kind: str, stages: int) -> dict:
    """Compile the kernel in this process; its figures as a dict (see the module docstring)."""
    from tlspec.compiler import driver

    nvrtc = [0.0]
    compile_cuda = driver.compile_cuda

    def timed_compile_cuda(*args, **kwargs):
        start = time.process_time()
        try:
            return compile_cuda(*args, **kwargs)
        finally:
            nvrtc[0] += time.process_time() - start

    driver.compile_cuda = timed_compile_cuda
    with tempfile.TemporaryDirectory(prefix="tlspec-scale-") as tmp:
        path = Path(tmp) / f"many_{kind}.tlspec.yaml"
        path.write_text(spec(kind, stages))
        start, wall = time.process_time(), time.perf_counter()
        result = driver.compile_paths([str(path)], str(Path(tmp) / "out"))
        total, wall = time.process_time() - start, time.perf_counter() - wall
        maps = None
        if result.ok:
            [name] = result.kernels
            manifest = json.loads((Path(tmp) / "out" / f"{name}.json").read_text())
            maps = sum(p["kind"] == "tensormap" for p in manifest["params"])
    errors = [d.message for d in result.diagnostics.errors]
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "stages": stages, "cpu_seconds": round(total, 2),
            "nvrtc_seconds": round(nvrtc[0], 2), "tlspec_seconds": round(total - nvrtc[0], 2),
            "wall_seconds": round(wall, 2), "peak_mb": peak_kb // 1024, "tensormap_params": maps,
            "error": errors[0][:160] if errors else None}


def measure(kind: str, stages: int, timeout: float, memory_gb: float) -> dict:
    """measure_one in a fresh process (so that its peak memory is its own), stopped after
    `timeout` seconds, its address space limited to `memory_gb` (NVRTC on a large kernel can
    take more memory than a shared machine has)."""
    row = {"kind": kind, "stages": stages}

    def limit_memory():
        size = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    try:
        out = subprocess.run([sys.executable, __file__, "--one", kind, str(stages)],
                             capture_output=True, text=True, check=False, timeout=timeout,
                             preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        return {**row, "error": f"stopped after {timeout:.0f} s"}
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines()
        return {**row, "error": lines[-1] if lines else f"exit status {out.returncode}"}
    return json.loads(out.stdout)


def table(rows: list[dict]) -> str:
    lines = ["| kind | stages | CPU s | NVRTC CPU s | tlspec+tvm CPU s | wall s | peak MB | "
             "TMA maps | result |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['stages']} | {r.get('cpu_seconds', '')} | "
                     f"{r.get('nvrtc_seconds', '')} | {r.get('tlspec_seconds', '')} | "
                     f"{r.get('wall_seconds', '')} | {r.get('peak_mb', '')} | "
                     f"{r.get('tensormap_params') or ''} | {r['error'] or 'compiled'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--stages", nargs="+", type=int, default=list(STAGES))
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds after which one compile is stopped (default 900)")
    parser.add_argument("--memory-gb", type=float, default=8,
                        help="address-space limit of one compile, in GiB (default 8)")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "STAGES"), help=argparse.SUPPRESS)
    parser.add_argument("--spec", nargs=2, metavar=("KIND", "STAGES"),
                        help="print the generated spec and exit")
    args = parser.parse_args()
    if args.spec:
        print(spec(args.spec[0], int(args.spec[1])), end="")
        return
    if args.one:
        print(json.dumps(measure_one(args.one[0], int(args.one[1]))))
        return
    rows = []
    for kind in args.kinds:
        for stages in args.stages:
            rows.append(measure(kind, stages, args.timeout, args.memory_gb))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
