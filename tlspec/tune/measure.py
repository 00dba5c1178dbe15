"""The GPU half of `tlspec tune`: time every variant of a bundle at each size class and check it
bit-exactly against the first variant, as bench/bench_jobs.py times (CUDA events around each
launch, launches queued back to back, the median of RUNS after WARMUP) with the L2 cache flushed
before each launch, so that a size that fits in L2 is not timed from it.

    python -m tlspec.tune.measure BUNDLE [-o RESULTS]       (default BUNDLE/results.json)

Imports torch, the bundle's package (cuda-python) and the standard library only: the GPU
machine has no tvm, jsonschema or typer. Then `tlspec tune --record RESULTS` writes the record.
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
from pathlib import Path

RUNS, WARMUP = 50, 5
FLUSH_BYTES = 512 << 20     # written before each timed launch: more than any GPU's L2
POISON = 0xFF               # every output byte before a checked run: NaN in every float type


def _torch_dtype(torch, name: str):
    return {"float8_e4m3": torch.float8_e4m3fn}.get(name) or getattr(torch, name)


def make_inputs(torch, args: list[dict], seed: int) -> list:
    """Each argument's tensor: random non-zero values for inputs, valid rows for index buffers
    (distinct ones for a scatter's), zeros for outputs (poisoned before each checked run)."""
    gen = torch.Generator(device="cuda").manual_seed(seed)
    tensors = []
    for arg in args:
        shape, dtype = arg["shape"], _torch_dtype(torch, arg["dtype"])
        count = 1
        for extent in shape:
            count *= extent
        if arg["io"] == "out":
            tensor = torch.empty(shape, dtype=dtype, device="cuda")
        elif "rows" in arg and arg["distinct"]:
            values = torch.full((count,), -1, dtype=torch.int64, device="cuda")
            chosen = torch.randperm(arg["rows"], generator=gen, device="cuda")[:count]
            values[:chosen.numel()] = chosen
            tensor = values.reshape(shape).to(dtype)
        elif "rows" in arg:
            tensor = torch.randint(0, max(arg["rows"], 1), shape, generator=gen,
                                   device="cuda").to(dtype)
        elif dtype.is_floating_point and dtype.itemsize > 1:
            tensor = torch.randn(shape, generator=gen, device="cuda").to(dtype)
            tensor[tensor == 0] = 1
        else:                          # integers and fp8: random non-zero bytes
            tensor = torch.randint(1, 256, (count * dtype.itemsize,), generator=gen,
                                   device="cuda").to(torch.uint8).view(dtype).reshape(shape)
        tensors.append(tensor)
    return tensors


def _outputs(args: list[dict], tensors: list) -> list[int]:
    return [i for i, arg in enumerate(args) if arg["io"] in ("out", "inout")]


def checked_run(torch, fn, args: list[dict], tensors: list, initial: dict) -> list:
    """One run with every output poisoned (inout ones reset), its outputs' bytes (copies)."""
    for i in _outputs(args, tensors):
        if i in initial:
            tensors[i].copy_(initial[i])
        else:
            tensors[i].view(-1).view(torch.uint8).fill_(POISON)
    fn()
    torch.cuda.synchronize()
    return [tensors[i].view(-1).view(torch.uint8).clone() for i in _outputs(args, tensors)]


def gpu_us(torch, fn, flush) -> float:
    """Median kernel time (microseconds) of RUNS launches, each after an L2 flush."""
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
             for _ in range(RUNS)]
    for start, end in pairs:
        flush.zero_()
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return 1000 * statistics.median(start.elapsed_time(end) for start, end in pairs)


def measure_class(torch, package, kernel: dict, size: dict, flush) -> dict:
    """Every variant of one kernel at one size: its status, its time when it matched."""
    args = size["arguments"]
    tensors = make_inputs(torch, args, seed=len(size["class"]))
    initial = {i: tensors[i].clone() for i, a in enumerate(args) if a["io"] == "inout"}
    found, reference, want = {}, None, None
    for variant in kernel["variants"]:
        label = ",".join(f"{n}={v}" for n, v in variant["choice"].items())
        entry = found[label] = {"choice": variant["choice"]}
        if "skipped" in variant:
            entry["status"] = "skipped: " + variant["skipped"]
            continue
        wrapper = getattr(package, variant["name"])
        fn = lambda wrapper=wrapper: wrapper(*tensors)   # noqa: E731
        try:
            got = checked_run(torch, fn, args, tensors, initial)
        except Exception as err:  # noqa: BLE001  (a variant that fails is reported, not fatal)
            entry["status"] = f"failed: {type(err).__name__}: {err}"
            continue
        if want is None:
            reference, want = label, got
        elif not all(torch.equal(a, b) for a, b in zip(got, want)):
            differ = sum(int((a != b).sum()) for a, b in zip(got, want))
            entry["status"] = f"mismatch: {differ} output bytes differ from {reference}'s"
            continue
        entry["status"] = "ok"
        entry["us"] = round(gpu_us(torch, fn, flush), 3)
    timed = {label: e["us"] for label, e in found.items() if "us" in e}
    return {"dims": size["dims"], "reference": reference, "variants": found,
            "winner": min(timed, key=timed.get) if timed else None}


def measure(bundle_dir: Path) -> dict:
    import torch

    bundle = json.loads((bundle_dir / "bundle.json").read_text(encoding="utf-8"))
    sys.path.insert(0, str(bundle_dir))
    package = importlib.import_module("tlspec_tune_variants")
    flush = torch.empty(FLUSH_BYTES, dtype=torch.uint8, device="cuda")
    results = {"format": 1, "device": torch.cuda.get_device_name(), "bundle": bundle,
               "kernels": {}}
    for name, kernel in bundle["kernels"].items():
        classes = {size["class"]: measure_class(torch, package, kernel, size, flush)
                   for size in kernel["sizes"]}
        results["kernels"][name] = {"classes": classes}
    return results


def summary(results: dict) -> str:
    lines = [f"device: {results['device']}"]
    for name, kernel in results["kernels"].items():
        for size_class, found in kernel["classes"].items():
            lines.append(f"{name} [{size_class}]: winner {found['winner']}")
            for label, entry in found["variants"].items():
                figure = f"{entry['us']:10.2f} us" if "us" in entry else " " * 13
                lines.append(f"  {label:40} {figure}  {entry['status']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlspec.tune.measure",
                                     description="Time a tune bundle's variants on the GPU.")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("-o", "--out", type=Path, help="results file (BUNDLE/results.json)")
    options = parser.parse_args(argv)
    results = measure(options.bundle)
    out = options.out or options.bundle / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(summary(results))
    print(f"wrote {out}; then: tlspec tune --record {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
