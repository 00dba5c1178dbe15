#!/usr/bin/env python3
"""The bad-spec fuzzer: mutants of every spec of the repository through `tlspec validate` (and,
for the first K that validate, `tlspec compile`), checking that tlspec never breaks its promise
(see runner.py). Failures are written as files, a mutant and what went wrong, to become test
cases; the summary counts mutants by mutation kind and outcome. tests/fuzz/README.md has more.

    python tests/fuzz/fuzz_specs.py --seed 0 --count 20000 --compile 1000 --jobs 2 --out fuzz-out
    python tests/fuzz/fuzz_specs.py --seed 0 --start 1234 --count 1        # one mutant again
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
from collections import Counter, defaultdict
from multiprocessing.connection import wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest, doc_examples

from fuzz.corpus import seeds  # noqa: E402
from fuzz.mutants import KINDS, make  # noqa: E402
from fuzz.runner import OK, Result  # noqa: E402

HARD_MARGIN = 60          # seconds past the soft limit before a worker is killed


def _worker(conn, workdir: str, fuzz_seed: int, limits: dict) -> None:
    if limits.get("address_space_mb"):
        size = int(limits["address_space_mb"]) << 20
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    from fuzz.runner import Runner
    runner = Runner(Path(workdir), limits["timeout"], limits["compile_timeout"],
                    limits["memory_mb"])
    corpus = seeds()
    while True:
        task = conn.recv()
        if task is None:
            return
        index, phase = task
        conn.send(runner.run(make(corpus, fuzz_seed, index), phase))


class Pool:
    """Worker processes (spawned: tvm must not be forked), each with its scratch folder; a
    worker that overruns its hard limit is killed and replaced, and so is one that timed out."""

    def __init__(self, jobs: int, workdir: Path, fuzz_seed: int, limits: dict):
        self.context = multiprocessing.get_context("spawn")
        self.args = (fuzz_seed, limits)
        self.workdir = workdir
        self.hard = max(limits["timeout"], limits["compile_timeout"]) + HARD_MARGIN
        self.workers = [self._start(i) for i in range(jobs)]

    def _start(self, slot: int):
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker, daemon=True,
                                       args=(child, str(self.workdir / f"w{slot}"), *self.args))
        process.start()
        return {"slot": slot, "conn": parent, "process": process, "task": None, "since": 0.0}

    def _replace(self, worker) -> None:
        worker["process"].kill()
        worker["process"].join()
        self.workers[self.workers.index(worker)] = self._start(worker["slot"])

    def run(self, tasks: list[tuple[int, str]], describe):
        """Yield a Result per task, in the order they finish."""
        todo = list(reversed(tasks))
        while todo or any(w["task"] for w in self.workers):
            for worker in self.workers:
                if worker["task"] is None and todo:
                    worker["task"], worker["since"] = todo.pop(), time.monotonic()
                    worker["conn"].send(worker["task"])
            busy = {w["conn"]: w for w in self.workers if w["task"]}
            for conn in wait(list(busy), timeout=1.0):
                worker = busy[conn]
                try:
                    result = conn.recv()
                except EOFError:        # the worker died (killed for memory, a crash)
                    result = describe(worker["task"], "crashed", time.monotonic() - worker["since"])
                    self._replace(worker)
                worker["task"] = None
                if result.outcome in ("timeout", "memory"):
                    self._replace(worker)
                yield result
            for worker in list(self.workers):
                elapsed = time.monotonic() - worker["since"]
                if worker["task"] and elapsed > self.hard:
                    task = worker["task"]
                    self._replace(worker)
                    yield describe(task, "hung", elapsed)

    def close(self) -> None:
        for worker in self.workers:
            worker["conn"].send(None)
            worker["process"].join(timeout=10)


def write_failure(out: Path, result: Result, data: bytes, fuzz_seed: int) -> None:
    folder = out / "failures" / result.outcome
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{result.index:06d}_{result.kind.replace(':', '_')}"
    (folder / f"{stem}.tlspec.yaml").write_bytes(data)
    again = (f"python tests/fuzz/fuzz_specs.py --seed {fuzz_seed} --start {result.index} "
             f"--count 1" + (" --compile 1" if result.phase == "compile" else ""))
    (folder / f"{stem}.txt").write_text(
        f"mutant {result.index} of seed {fuzz_seed}: {result.kind} of {result.seed}\n"
        f"phase: tlspec {result.phase}\noutcome: {result.outcome} after {result.seconds:.2f} s, "
        f"peak {result.peak_mb:.0f} MB\nagain: {again}\n\n{result.detail}\n", encoding="utf-8")


def summarize(results: list[Result], args, elapsed: float) -> dict:
    summary: dict = {"seed": args.seed, "start": args.start, "count": args.count,
                     "jobs": args.jobs, "seconds": round(elapsed, 1), "phases": {}}
    for phase in ("validate", "compile"):
        done = [r for r in results if r.phase == phase]
        if not done:
            continue
        by_kind: dict[str, Counter] = defaultdict(Counter)
        for r in done:
            by_kind[r.kind][r.outcome] += 1
        slowest = max(done, key=lambda r: r.seconds)
        summary["phases"][phase] = {
            "mutants": len(done),
            "outcomes": dict(Counter(r.outcome for r in done).most_common()),
            "failures": sum(r.failed for r in done),
            "by_level": {level: dict(Counter(r.outcome for r in done
                                             if r.kind.startswith(level + ":")).most_common())
                         for level in ("text", "structure", "semantic")},
            "by_kind": {kind: dict(by_kind[kind]) for kind in KINDS if kind in by_kind},
            "seconds": {"total": round(sum(r.seconds for r in done), 1),
                        "mean": round(sum(r.seconds for r in done) / len(done), 3),
                        "max": round(slowest.seconds, 2), "slowest": slowest.index},
            "peak_mb": round(max(r.peak_mb for r in done), 1),
        }
    return summary


def print_summary(summary: dict) -> None:
    print(f"tlspec bad-spec fuzzer: seed {summary['seed']}, mutants {summary['start']}.."
          f"{summary['start'] + summary['count'] - 1}, {summary['jobs']} jobs, "
          f"{summary['seconds']} s")
    for phase, s in summary["phases"].items():
        print(f"\n{phase}: {s['mutants']} mutants, {s['failures']} failures; "
              + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()))
        print(f"  time per mutant: mean {s['seconds']['mean']} s, max {s['seconds']['max']} s "
              f"(mutant {s['seconds']['slowest']}); peak memory {s['peak_mb']} MB")
        for level, outcomes in s["by_level"].items():
            print(f"  {level:9} " + ", ".join(f"{k} {v}" for k, v in outcomes.items()))
        width = max(map(len, s["by_kind"]))
        for kind, outcomes in s["by_kind"].items():
            print(f"    {kind:{width}}  " + ", ".join(f"{k} {v}" for k, v in
                                                      sorted(outcomes.items())))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="fuzz seed (default 0)")
    parser.add_argument("--start", type=int, default=0, help="index of the first mutant")
    parser.add_argument("--count", type=int, default=1000, help="mutants to validate")
    parser.add_argument("--compile", type=int, default=0, metavar="K",
                        help="compile the first K mutants that validate")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--out", default="fuzz-out", help="folder for failures and summary.json")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per validate")
    parser.add_argument("--compile-timeout", type=float, default=60, help="seconds per compile")
    parser.add_argument("--memory-mb", type=float, default=1024,
                        help="peak resident memory per validate (compile: 4x)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    corpus = seeds()
    results: list[Result] = []

    def describe(task, outcome, seconds):
        mutant = make(corpus, args.seed, task[0])
        return Result(mutant.index, mutant.seed, mutant.kind, task[1], outcome, seconds, 0.0,
                      "the worker was killed" if outcome == "hung" else "the worker died")

    def run(tasks, limits):
        pool = Pool(args.jobs, out / "work", args.seed, limits)
        try:
            for i, result in enumerate(pool.run(tasks, describe), 1):
                results.append(result)
                if result.failed:
                    write_failure(out, result, make(corpus, args.seed, result.index).data,
                                  args.seed)
                if i % 500 == 0:
                    print(f"  {result.phase}: {i}/{len(tasks)}, {time.monotonic() - started:.0f} s, "
                          f"{sum(r.failed for r in results)} failures", file=sys.stderr)
        finally:
            pool.close()

    base = {"timeout": args.timeout, "compile_timeout": args.compile_timeout}
    indices = range(args.start, args.start + args.count)
    run([(i, "validate") for i in indices],
        dict(base, memory_mb=args.memory_mb, address_space_mb=args.memory_mb * 4))
    valid = sorted(r.index for r in results if r.outcome == "valid")[:args.compile]
    if valid:
        run([(i, "compile") for i in valid], dict(base, memory_mb=args.memory_mb * 4))
    summary = summarize(results, args, time.monotonic() - started)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "results.jsonl").write_text("".join(json.dumps(r.as_json()) + "\n" for r in
                                               sorted(results, key=lambda r: (r.phase, r.index))))
    print_summary(summary)
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
