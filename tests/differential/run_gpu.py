"""Run a differential batch (build_batch.py) on the GPU against the interpreter, bit-exactly.

    python tests/differential/run_gpu.py DIR [--jobs J] [--chunk N] [--out FILE] [--only K,...]
                                             [--budget SECONDS]

For every call of every case in DIR/cases.json: random inputs (never zero; from the call's
seed), outputs poisoned inside larger poisoned buffers; the compiled kernel runs on the GPU in a
child process (gpu_chunk.py; one per chunk of calls, a new one after a crash or a CUDA error)
while a pool of J processes runs the interpreter, tlspec.interpret.run, on numpy copies of the
same inputs and the same poisoned outputs. Then the outputs are compared bit for bit, and the
guard regions checked. A call that runs longer than CALL_SECONDS (a kernel that hangs, such as
one waiting on an mbarrier for bytes that never come) is a 'timeout': its process is killed and
the chunk goes on in a fresh one. With --budget, the run stops after that many seconds and
reports the calls it did not get to as 'not run' (a device session has a time limit); a progress
line is printed every PROGRESS_SECONDS.

Needs on the GPU machine: torch, numpy, pyyaml, jsonschema (tlspec's validation), and this
repository (tlspec is imported from it; tvm is not needed). Writes FILE (default
DIR/results.json): per call 'pass', 'mismatch' (per output: unwritten, wrong and guard-broken
elements, the first differing indices), 'launch error', 'crash', 'timeout' or 'interpreter
error'; and prints a summary. Exit status 1 when any call did not pass.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from functools import lru_cache
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))
from cases import load_cases, poisoned, storage, written  # noqa: E402
from cases import call_arrays  # noqa: E402
from compare import compare  # noqa: E402
from gpu_chunk import STOPPED, run_chunk  # noqa: E402

CHUNK = 1000                 # calls per GPU process
CALL_SECONDS = 20            # a call running longer than this is stopped (a hang)
START_SECONDS = 120          # what a GPU process may take to start (import torch, load a package)
PROGRESS_SECONDS = 30
ORDER = ("interpreter error", "crash", "timeout", "launch error", "mismatch", "pass", "not run")


# -- the interpreter side (pool workers) -----------------------------------------------------
@lru_cache(maxsize=64)
def _kernel(spec: str):
    from tlspec.validate import validate_paths
    result = validate_paths([spec])
    if not result.ok:
        raise ValueError(result.diagnostics.render_text())
    return result.kernels[0]


def interpret(folder: str, case: dict, call: dict, path: str, module: str) -> dict:
    """Run the interpreter (`module`.run: tlspec.interpret, or a stand-in in tests) on the call's
    arrays; the outputs to `path` (.npz)."""
    interpreter = importlib.import_module(module)
    arrays = call_arrays(case, call)
    try:
        interpreter.run(_kernel(str(Path(folder) / case["spec"])), arrays)
    except Exception as e:  # noqa: BLE001  (InterpretError, or a bug of the interpreter)
        return {"status": "interpreter error", "message": f"{type(e).__name__}: {e}"[:3000]}
    np.savez(path, **{name: storage(arrays[name]) for name in written(case)})
    return {"status": "ok"}


# -- the GPU side (child processes) ----------------------------------------------------------
class GpuRuns:
    """Runs the calls in chunks, each in a child process, continuing after crashes."""

    def __init__(self, folder: Path, keys: list[str], scratch: Path, device: str, chunk: int):
        self.folder, self.scratch, self.device, self.chunk = folder, scratch, device, chunk
        self.todo = list(keys)
        self.records: dict[str, dict] = {}
        self.process: subprocess.Popen | None = None
        self.started = 0.0
        self.batch: list[str] = []
        self.status = scratch / "status.jsonl"
        self.output = scratch / "child.log"
        self.last_change = (0, 0.0)      # (status file size, when it last changed)

    def step(self) -> bool:
        """Start a chunk or collect a finished one; False when every call has a record."""
        if self.process is None:
            if not self.todo:
                return False
            self.batch, self.todo = self.todo[:self.chunk], self.todo[self.chunk:]
            keys = self.scratch / "keys.json"
            keys.write_text(json.dumps(self.batch))
            self.status.write_text("")
            with self.output.open("w") as output:
                self.process = subprocess.Popen(
                    [sys.executable, __file__, "--child", str(self.folder), "--keys", str(keys),
                     "--scratch", str(self.scratch), "--device", self.device],
                    stdout=output, stderr=subprocess.STDOUT)
            self.started = time.monotonic()
            self.last_change = (0, self.started)
            return True
        overdue = self._stalled()
        if self.process.poll() is None and not overdue:
            return True
        if overdue:
            self.process.kill()
        self.process.wait()
        output = self.output.read_text(errors="replace")[-3000:]
        self._collect(self.process.returncode, output, overdue)
        self.process = None
        return True

    def _stalled(self) -> bool:
        """Whether the running call (or the start, before the first call) is past its time: the
        status file gets a line when each call starts and ends."""
        now, size = time.monotonic(), self.status.stat().st_size
        if size != self.last_change[0]:
            self.last_change = (size, now)
        return now - self.last_change[1] > (CALL_SECONDS if size else START_SECONDS)

    def stop(self) -> None:
        """Kill the running chunk (the time budget is spent); what it finished is kept."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self._collect(0, "", False, stopped=True)
            self.process = None
        self.todo = []

    def _collect(self, code: int, output: str, overdue: bool, stopped: bool = False) -> None:
        running = None
        for line in self.status.read_text().splitlines():
            record = json.loads(line)
            key = record.pop("key")
            if record["status"] == "running":
                running = key
            else:
                self.records[key] = record
                running = None
        if stopped:
            return
        if running is not None:          # the process died (or hung) in this call
            self.records[running] = {"status": "timeout" if overdue else "crash",
                                     "message": f"exit status {code}: {output}"}
        elif code not in (0, STOPPED):   # died outside a call (importing torch, the package)
            for key in self.batch:
                self.records.setdefault(key, {"status": "crash",
                                              "message": f"exit status {code}: {output}"})
        self.todo = [k for k in self.batch if k not in self.records] + self.todo


def run(folder: Path, *, jobs: int = 16, chunk: int = CHUNK, only: set[str] | None = None,
        budget: float | None = None, device: str = "torch", interpreter: str = "tlspec.interpret",
        log=print) -> dict:
    """Run the calls of the batch in `folder` (see the module's doc); the report. `device` and
    `interpreter` name stand-ins in tests."""
    data = load_cases(folder)
    cases = data["cases"]
    keys = [f"{i}.{j}" for i, case in enumerate(cases) for j in range(len(case["calls"]))
            if only is None or case["kernel"] in only]
    scratch = Path(tempfile.mkdtemp(prefix="tlspec-differential-"))
    (scratch / "gpu").mkdir()
    (scratch / "ref").mkdir()
    started = time.monotonic()
    results: dict[str, dict] = {}
    reference: dict[str, dict] = {}
    gpu = GpuRuns(folder, keys, scratch, device, chunk)
    try:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {}
            for key in keys:
                i, j = (int(x) for x in key.split("."))
                futures[pool.submit(interpret, str(folder), cases[i], cases[i]["calls"][j],
                                    str(scratch / "ref" / f"{key}.npz"), interpreter)] = key
            gpu_busy, progress = True, started
            while futures or gpu_busy:
                now = time.monotonic()
                if budget is not None and now - started > budget:
                    gpu.stop()
                    for future in futures:
                        future.cancel()
                    break
                if now - progress > PROGRESS_SECONDS:
                    progress = now
                    log(f"{now - started:.0f} s: {len(gpu.records)} of {len(keys)} calls run on "
                        f"the GPU, {len(reference)} interpreted")
                gpu_busy = gpu.step()
                if not futures:
                    time.sleep(0.2)
                done, _ = wait(list(futures), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    reference[futures.pop(future)] = future.result()
                for key in [k for k in reference if k in gpu.records and k not in results]:
                    results[key] = _result(cases, key, reference[key], gpu.records[key], scratch)
            for key in [k for k in keys if k not in results]:
                if key in reference and key in gpu.records:
                    results[key] = _result(cases, key, reference[key], gpu.records[key], scratch)
                else:
                    i, j = (int(x) for x in key.split("."))
                    results[key] = {"kernel": cases[i]["kernel"], "call": j,
                                    "dims": cases[i]["calls"][j]["dims"], "status": "not run"}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = _report(cases, keys, results, time.monotonic() - started)
    log(render(report))
    return report


def _result(cases: list[dict], key: str, ref: dict, gpu: dict, scratch: Path) -> dict:
    i, j = (int(x) for x in key.split("."))
    case = cases[i]
    if ref["status"] != "ok":
        result = ref
    elif gpu["status"] != "ran":
        result = gpu
    else:
        with np.load(scratch / "gpu" / f"{key}.npz") as a, np.load(scratch / "ref" / f"{key}.npz") as e:
            actual, expected = dict(a), dict(e)
        poison = {arg["name"]: int(poisoned([1], arg["dtype"])[0]) for arg in case["arguments"]}
        result = compare(actual, expected, poison, gpu.get("guards", {}))
    for kind in ("gpu", "ref"):
        (scratch / kind / f"{key}.npz").unlink(missing_ok=True)
    return {"kernel": case["kernel"], "call": j, "dims": case["calls"][j]["dims"], **result}


def _report(cases: list[dict], keys: list[str], results: dict, seconds: float) -> dict:
    calls = [results[k] for k in keys]
    counts = Counter(r["status"] for r in calls)
    failing = sorted({r["kernel"] for r in calls if r["status"] not in ("pass", "not run")})
    return {"kernels": len({r["kernel"] for r in calls}), "calls": len(calls),
            "counts": {s: counts.get(s, 0) for s in ORDER}, "failing_kernels": failing,
            "seconds": round(seconds, 1), "results": calls}


def render(report: dict) -> str:
    lines = [f"{report['kernels']} kernels, {report['calls']} calls in {report['seconds']} s",
             f"{'status':18} {'calls':>6}  kernels (first 8)"]
    for status in ORDER:
        kernels = sorted({r["kernel"] for r in report["results"] if r["status"] == status})
        lines.append(f"{status:18} {report['counts'][status]:6}  "
                     + (", ".join(kernels[:8]) if status != "pass" else ""))
    for r in report["results"]:
        if r["status"] == "mismatch":
            parts = [f"{name}: {o['unwritten']} unwritten, {o['wrong']} wrong, guards "
                     f"{o['guard']}, first {o['first']}" for name, o in r["outputs"].items()]
            lines.append(f"  {r['kernel']} {r['dims']}: " + "; ".join(parts))
        elif r["status"] not in ("pass", "not run"):
            lines.append(f"  {r['kernel']} {r['dims']}: {r['status']}: "
                         f"{r.get('message', '').splitlines()[0][:200] if r.get('message') else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 4,
                        help="interpreter processes")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="calls per GPU process")
    parser.add_argument("--out", type=Path, help="results file (default DIR/results.json)")
    parser.add_argument("--only", help="comma-separated kernel names")
    parser.add_argument("--budget", type=float,
                        help="stop after this many seconds; the calls left are 'not run'")
    parser.add_argument("--device", default="torch", help=argparse.SUPPRESS)
    parser.add_argument("--interpreter", default="tlspec.interpret", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keys", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return run_chunk(args.folder, json.loads(args.keys.read_text()), args.scratch,
                         args.scratch / "status.jsonl", args.device)
    only = set(args.only.split(",")) if args.only else None
    report = run(args.folder, jobs=args.jobs, chunk=args.chunk, only=only, budget=args.budget,
                 device=args.device, interpreter=args.interpreter)
    out = args.out or args.folder / "results.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"results: {out}")
    ran = report["calls"] - report["counts"]["not run"]
    return 0 if report["counts"]["pass"] == ran else 1


if __name__ == "__main__":
    sys.exit(main())
