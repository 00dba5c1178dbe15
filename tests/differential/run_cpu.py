"""Run a differential batch (build_batch.py) on the CPU against the interpreter, bit-exactly: each
kernel lowered by tlspec's passes (up to ThreadSync, before tvm's own lowering) and run by
tests/tir_run.py, every block, its threads in turn between block barriers, on the arrays of
cases.call_arrays, twice: its asynchronous copies completing when issued, then as late as they
may (tests/tir_async.py); the interpreter runs on copies of the same arrays.

What this checks without a GPU: the index arithmetic, layouts, swizzles, bounds guards, fills and
block barriers, and the waits for asynchronous copies and the order of their completions. It does
not replace the GPU run (run_gpu.py): tvm's later passes, code generation and the hardware are not
in it (conversions are CUDA's, tests/tir_float.py; the blocks of a cluster run together,
tests/tir_cluster.py). Calls of more than --max-elements elements or --max-threads threads in all
are skipped too: the evaluator is Python (about 10 us an element, and each thread runs the
kernel's whole statement tree).

Usage: python tests/differential/run_cpu.py DIR [--max-elements N] [--max-threads N] [--only K ...]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from math import prod
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))            # tests/: tir_run, pipeline_support
from cases import call_arrays, load_cases, storage  # noqa: E402
from pipeline_support import run_through  # noqa: E402
from tir_async import EAGER, LAZY  # noqa: E402
from tir_run import TooLarge, run_kernel  # noqa: E402

from tlspec.compiler.tileir import build_tile_ir  # noqa: E402
from tlspec.interpret import run as interpret  # noqa: E402
from tlspec.validate import validate_paths  # noqa: E402

MAX_ELEMENTS = 20000
MAX_THREADS = 100000            # blocks x threads of a call
LAST_PASS = "ThreadSync"        # the last tlspec pass before tvm's lowering


def run_case(folder: Path, case: dict, max_elements: int = MAX_ELEMENTS,
             max_threads: int = MAX_THREADS) -> list[dict]:
    """One result per call of `case`: status pass, mismatch (with the outputs that differ),
    skipped (with the reason) or interpreter error."""
    kernel = validate_paths([str(folder / case["spec"])]).kernels[0]
    func = run_through(build_tile_ir(kernel), LAST_PASS, kernel.target.name)["main"]
    results = []
    for call in case["calls"]:
        elements = sum(prod(shape) for shape in call["shapes"].values())
        if elements > max_elements:
            results.append({"status": "skipped", "reason": f"{elements} elements"})
            continue
        expected = call_arrays(case, call)           # the call's seed: the same values each time
        try:
            interpret(kernel, expected)
        except Exception as e:  # noqa: BLE001  (InterpretError, or a bug of the interpreter)
            results.append({"status": "interpreter error", "reason": f"{type(e).__name__}: {e}"})
            continue
        try:
            results.append(_compared(func, case, call, expected, max_threads))
        except TooLarge as e:
            results.append({"status": "skipped", "reason": str(e)})
        except NotImplementedError as e:
            reason = str(e).splitlines()[0][:120]
            return results + [{"status": "skipped", "reason": reason}] * (
                len(case["calls"]) - len(results))
    return results


def _compared(func, case: dict, call: dict, expected: dict, max_threads: int) -> dict:
    """The call run with its asynchronous copies completing when issued, then as late as they
    may (tests/tir_async.py), each compared with `expected`: pass, or the first mismatch (with
    the outputs that differ) or error (a hang, a copy in flight past its block's exit)."""
    for completion in (EAGER, LAZY):
        arrays = call_arrays(case, call)
        try:
            run_kernel(func, arrays, call["dims"], max_threads, completion)
        except NotImplementedError:         # a RuntimeError too: too large, or not run here
            raise
        except RuntimeError as e:
            return {"status": "mismatch", "completion": completion, "error": str(e)[:200]}
        differing = [name for name in arrays   # a pitched view's gaps included
                     if not np.array_equal(storage(arrays[name]), storage(expected[name]))]
        if differing:
            return {"status": "mismatch", "completion": completion, "outputs": differing}
    return {"status": "pass"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--max-elements", type=int, default=MAX_ELEMENTS)
    parser.add_argument("--max-threads", type=int, default=MAX_THREADS)
    parser.add_argument("--only", nargs="*", help="kernels to run (default: all)")
    args = parser.parse_args(argv)
    start, counts, reasons = time.time(), {}, {}
    for case in load_cases(args.folder)["cases"]:
        if args.only and case["kernel"] not in args.only:
            continue
        for result in run_case(args.folder, case, args.max_elements, args.max_threads):
            counts[result["status"]] = counts.get(result["status"], 0) + 1
            if result["status"] in ("mismatch", "interpreter error"):
                print(case["kernel"], json.dumps(result), flush=True)
            elif result["status"] == "skipped":        # sizes: numbers left out, to group them
                reason = re.sub(r"\d+", "N", result["reason"])
                reasons[reason] = reasons.get(reason, 0) + 1
    print(f"{args.folder}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
          + f" ({time.time() - start:.0f} s)")
    for reason, n in sorted(reasons.items(), key=lambda item: -item[1]):
        print(f"  skipped {n:5d}  {reason}")
    return 1 if counts.get("mismatch") else 0


if __name__ == "__main__":
    sys.exit(main())
