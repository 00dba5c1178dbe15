"""Build a differential batch: generate random valid specs, compile each with tlspec's own Python
API, classify it (compiled, refused with a located diagnostic, or FAILED), and write what the GPU
run needs.

    python tests/differential/build_batch.py --seed S --count N --out DIR [--jobs J]
        [--min-compiled K] [--limit SECONDS] [--only FEATURE ...]

`--only` keeps only the generated specs that use one of the features named
(spec_features.features: `copy_cluster:shared->shared`, `stage:pipeline`, ...), generating past
N until N of them are kept: a batch aimed at one part of the language.

DIR/ (created; must not hold a batch already):
    specs/<kernel>.tlspec.yaml    every generated spec
    packages/pkgNN/               the compiled kernels, a few hundred per package (no .cu files)
    sources/<kernel>.cu           their CUDA sources (not needed on the GPU)
    cases.json                    per compiled kernel: package, spec, arguments, calls to run
    outcomes.jsonl                per generated spec: status, reason, message, seconds
    summary.json, summary.txt     the figures (also printed), and per feature of the specs
                                  (spec_features.py) how many were generated and compiled

Everything the GPU run needs (DIR without sources/) stays small: kernels are cubins of ~10 KB.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from cases import CASES, choose_calls  # noqa: E402
from compile_case import compile_spec  # noqa: E402
from spec_features import features, index_fills  # noqa: E402
from spec_generator import generate  # noqa: E402
from spec_yaml import to_yaml  # noqa: E402
from timed_pool import TIMED_OUT, timed_map  # noqa: E402
from tlspec.package import KernelArtifact, write_package  # noqa: E402

PACKAGE_KERNELS = 250           # kernels per package
PACKAGE_BYTES = 8 << 20         # cubin bytes per package
DEFAULT_LIMIT = 60.0            # seconds a compile may take before it counts as FAILED
ONLY_TRIES = 100                # with --only, specs generated per spec wanted at most
STATUSES = ("compiled", "refused", "failed", "invalid")
# features (spec_features.py) whose shares the summary's first lines show
ASYNC_SHARES = ("async", "stage:pipeline", "stage:tma_copy", "stage:async_copy", "target:sm_80")
RECENT_SHARES = ("strided:load", "strided:store", "strided:inner", "strided:outer",
                 "strides:pitched", "gather:computed", "scatter:computed", "im2col:nchw",
                 "dim:derived")


def artifact(fields: dict) -> KernelArtifact:
    """The KernelArtifact of compile_case.fields (its aligned variant's too)."""
    aligned = fields.get("aligned")
    return KernelArtifact(**dict(fields, aligned=None if aligned is None else artifact(aligned)))


class Batch:
    """The folder being written, and the tallies."""

    def __init__(self, out: Path, seed: int):
        if out.exists() and any(out.iterdir()):
            raise SystemExit(f"{out} exists and is not empty: choose a new folder for the batch")
        self.out, self.seed = out, seed
        for sub in ("specs", "packages", "sources"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        self.outcomes = (out / "outcomes.jsonl").open("w")
        self.cases: list[dict] = []
        self.waiting: list[tuple[KernelArtifact, dict]] = []
        self.packages = 0
        self.counts: Counter = Counter()
        self.reasons: dict[str, dict[str, list[str]]] = {s: defaultdict(list) for s in STATUSES}
        self.seconds: list[float] = []
        self.features: dict[str, set[str]] = {}          # per generated spec
        self.feature_counts: dict[str, Counter] = {"generated": Counter(), "compiled": Counter()}

    def spec_path(self, name: str) -> Path:
        return self.out / "specs" / f"{name}.tlspec.yaml"

    def record(self, name: str, outcome: dict) -> None:
        status = outcome["status"]
        self.counts[status] += 1
        used = self.features.pop(name, set())
        self.feature_counts["generated"].update(used)
        if status == "compiled":
            self.feature_counts["compiled"].update(used)
        self.seconds.append(outcome.get("seconds", 0.0))
        if status != "compiled":
            self.reasons[status][outcome["reason"]].append(name)
        line = {"kernel": name, **{k: v for k, v in outcome.items() if k not in ("artifact", "case")}}
        self.outcomes.write(json.dumps(line) + "\n")
        self.outcomes.flush()
        if status == "compiled":
            art = outcome["artifact"]
            case = dict(outcome["case"], spec=f"specs/{name}.tlspec.yaml")
            self.waiting.append((artifact(art), case))
            if len(self.waiting) >= PACKAGE_KERNELS or \
                    sum(len(a.cubin) for a, _ in self.waiting) >= PACKAGE_BYTES:
                self.flush()

    def flush(self) -> None:
        """Write the waiting kernels as the next package; their sources go to sources/."""
        if not self.waiting:
            return
        package = f"pkg{self.packages:02d}"
        self.packages += 1
        folder = write_package(self.out / "packages" / package, [a for a, _ in self.waiting])
        folder.chmod(0o755)
        for art, case in self.waiting:
            for name in [art.name] + ([art.aligned.name] if art.aligned is not None else []):
                shutil.move(folder / f"{name}.cu", self.out / "sources" / f"{name}.cu")
            self.cases.append(dict(case, package=package))
        self.waiting = []

    def finish(self, generated: int, elapsed: float) -> dict:
        self.flush()
        self.outcomes.close()
        (self.out / CASES).write_text(json.dumps(
            {"seed": self.seed, "cases": self.cases}, indent=1) + "\n")
        summary = {
            "seed": self.seed, "generated": generated,
            **{s: self.counts[s] for s in STATUSES},
            "calls": sum(len(c["calls"]) for c in self.cases),
            "seconds": round(elapsed, 1),
            "compile_seconds_max": max(self.seconds, default=0.0),
            "packages": self.packages,
            "features": {f: {k: c[f] for k, c in self.feature_counts.items()}
                         for f in sorted(self.feature_counts["generated"])},
            "by_reason": {s: {r: {"count": len(k), "kernels": k[:20]}
                              for r, k in sorted(self.reasons[s].items(), key=lambda x: -len(x[1]))}
                          for s in STATUSES if s != "compiled"},
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        text = render_summary(summary)
        (self.out / "summary.txt").write_text(text + "\n" + render_features(summary) + "\n")
        return summary


def render_summary(s: dict) -> str:
    lines = [f"seed {s['seed']}: generated {s['generated']}, compiled {s['compiled']} "
             f"({s['calls']} calls), refused {s['refused']}, FAILED {s['failed']}, "
             f"invalid (generator bugs) {s['invalid']}; {s['seconds']} s "
             f"(slowest compile {s['compile_seconds_max']} s), {s['packages']} packages"]
    for shares in (ASYNC_SHARES, RECENT_SHARES):
        share = {f: s["features"].get(f, {"generated": 0, "compiled": 0}) for f in shares}
        lines.append("  of them (generated / compiled): " + ", ".join(
            f"{f} {c['generated']} / {c['compiled']}" for f, c in share.items()))
    for status in ("refused", "failed", "invalid"):
        for reason, entry in s["by_reason"][status].items():
            lines.append(f"  {status:8} {entry['count']:5}  {reason}  (e.g. {entry['kernels'][0]})")
    return "\n".join(lines)


def render_features(s: dict) -> str:
    """Per feature (spec_features.features), the specs that use it: generated, compiled."""
    lines = ["features (specs generated / compiled):"]
    lines += [f"  {name:40} {c['generated']:6} {c['compiled']:6}"
              for name, c in s["features"].items()]
    return "\n".join(lines)


def build(seed: int, count: int, out: str | Path, *, jobs: int = 2, min_compiled: int = 0,
          limit: float = DEFAULT_LIMIT, only: frozenset[str] = frozenset(),
          log=print) -> dict:
    """Generate, compile and write a batch (see the module's doc); returns the summary."""
    batch = Batch(Path(out), seed)
    started = time.monotonic()
    generated = 0
    tries = 4 * max(count, min_compiled) * (ONLY_TRIES if only else 1)

    def tasks():
        nonlocal generated
        index = 0
        while (generated < count or batch.counts["compiled"] < min_compiled) and index < tries:
            g = generate(seed, index)
            index += 1
            used = features(g.spec)
            if only and not used & only:
                continue
            batch.features[g.name] = used
            path = batch.spec_path(g.name)
            path.write_text(to_yaml(g.spec))
            generated += 1
            case_seed = seed * 1_000_003 + index
            calls = choose_calls({name: asdict(plan) for name, plan in g.dims.items()}, case_seed)
            yield str(path), calls, index_fills(g.spec), case_seed

    for task, outcome in timed_map(compile_spec, tasks(), jobs=jobs, limit=limit):
        name = Path(task[0]).name.removesuffix(".tlspec.yaml")
        if not isinstance(outcome, dict):
            message = f"compile {outcome} (limit {limit:g} s)" if outcome == TIMED_OUT else \
                f"the compiling process {outcome}"
            outcome = {"status": "failed", "message": message, "reason": message,
                       "seconds": limit if outcome == TIMED_OUT else 0.0}
        batch.record(name, outcome)
        done = sum(batch.counts.values())
        if done % 100 == 0:
            log(f"{done} specs: " + ", ".join(f"{s} {batch.counts[s]}" for s in STATUSES) +
                f" ({time.monotonic() - started:.0f} s)")
    summary = batch.finish(generated, time.monotonic() - started)
    log(render_summary(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True, help="specs to generate")
    parser.add_argument("--out", required=True, help="the batch folder (new or empty)")
    parser.add_argument("--jobs", type=int, default=2, help="compiling processes (default 2)")
    parser.add_argument("--min-compiled", type=int, default=0,
                        help="generate past --count until this many kernels compiled")
    parser.add_argument("--limit", type=float, default=DEFAULT_LIMIT,
                        help="seconds a compile may take before it counts as FAILED")
    parser.add_argument("--only", action="append", default=[], metavar="FEATURE",
                        help="keep only specs that use this feature (spec_features.py); "
                             "repeatable: any of them")
    args = parser.parse_args(argv)
    summary = build(args.seed, args.count, args.out, jobs=args.jobs,
                    min_compiled=args.min_compiled,
                    limit=args.limit, only=frozenset(args.only))
    return 1 if summary["failed"] or summary["invalid"] else 0


if __name__ == "__main__":
    sys.exit(main())
