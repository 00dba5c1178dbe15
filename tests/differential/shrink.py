"""Shrink a failing spec to a minimal one (tests/differential/README.md).

    python tests/differential/shrink.py SPEC --predicate compile [--out FILE]
        The spec fails to compile (an internal error, a timeout: FAILED in build_batch.py). On
        the CPU, reduce it one step at a time (stages, loops, options, buffers, dims, layouts,
        dtypes, sizes; every candidate must validate) while it still fails the same way (same
        reason, particulars blanked). Writes FILE (default SPEC with .min.tlspec.yaml).

    python tests/differential/shrink.py SPEC --predicate gpu --dims JSON --round DIR
        A round for a GPU failure (a mismatch, crash or launch error of run_gpu.py for the call
        with symbolic dims JSON, e.g. '{"M3": 5}'): compiles SPEC (as c0) and every one-step
        reduction of it (c1, c2, ...) into the batch folder DIR, each with that one call.
        Then run `run_gpu.py DIR` on the GPU, and:

    python tests/differential/shrink.py --pick DIR
        The smallest candidate of DIR that still fails on the GPU, written to
        DIR/smallest.tlspec.yaml: start the next round from it, until c0 is the smallest.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from build_batch import DEFAULT_LIMIT, Batch  # noqa: E402
from compile_case import compile_spec  # noqa: E402
from shrinking import candidates, cost, shrink  # noqa: E402
from spec_features import index_fills  # noqa: E402
from spec_yaml import to_yaml  # noqa: E402
from timed_pool import TIMED_OUT, timed_map  # noqa: E402

FAILING = ("mismatch", "crash", "timeout", "launch error")


def compile_failure(spec: dict, folder: Path, limit: float) -> str | None:
    """The reason `spec` fails to compile (build_batch's classification), None if it does not."""
    path = folder / f"{spec['name']}.tlspec.yaml"
    path.write_text(to_yaml(spec))
    (_, outcome), = timed_map(compile_spec, [(str(path),)], jobs=1, limit=limit)
    if outcome == TIMED_OUT:
        return "compile timed out"
    if not isinstance(outcome, dict):
        return f"the compiling process {outcome}"
    return outcome["reason"] if outcome["status"] == "failed" else None


def shrink_compile(path: Path, out: Path, limit: float) -> dict:
    spec = yaml.safe_load(path.read_text())
    work = out.parent / f".{out.name}.work"
    work.mkdir(exist_ok=True)
    reason = compile_failure(spec, work, limit)
    if reason is None:
        raise SystemExit(f"{path} does not fail to compile: nothing to shrink")
    print(f"failure: {reason}")
    smallest = shrink(spec, lambda s: compile_failure(s, work, limit) == reason,
                      log=lambda text: print(f"  smaller: {text}", flush=True))
    out.write_text(to_yaml(smallest))
    print(f"minimal spec ({cost(smallest)[0]} stages): {out}\n{to_yaml(smallest)}")
    return smallest


def gpu_round(path: Path, dims: dict[str, int], out: Path) -> None:
    """Compile the spec and its one-step reductions into the batch folder `out`."""
    spec = yaml.safe_load(path.read_text())
    batch = Batch(out, seed=0)
    costs = {}
    for j, candidate in enumerate([spec, *candidates(spec, dims)]):
        name = f"c{j}"
        candidate = dict(candidate, name=name)
        batch.spec_path(name).write_text(to_yaml(candidate))
        symbolic = {d: v for d, v in dims.items()
                    if not isinstance((candidate.get("dims") or {}).get(d, 0), int)}
        batch.record(name, compile_spec(str(batch.spec_path(name)), [symbolic],
                                        index_fills(candidate), j))
        costs[name] = list(cost(candidate))
    summary = batch.finish(len(costs), 0.0)
    (out / "costs.json").write_text(json.dumps(costs) + "\n")
    print(f"{summary['compiled']} of {len(costs)} candidates compiled into {out}: "
          f"run `python tests/differential/run_gpu.py {out}` on the GPU, then "
          f"`shrink.py --pick {out}`")


def pick(folder: Path) -> Path | None:
    results = json.loads((folder / "results.json").read_text())["results"]
    costs = json.loads((folder / "costs.json").read_text())
    failing = {r["kernel"] for r in results if r["status"] in FAILING}
    if not failing:
        print(f"no candidate of {folder} fails on the GPU (not even c0?)")
        return None
    best = min(failing, key=lambda name: costs[name])
    target = folder / "smallest.tlspec.yaml"
    target.write_text((folder / "specs" / f"{best}.tlspec.yaml").read_text())
    print(f"{best} is the smallest failing candidate" + (" (c0: done)" if best == "c0" else "") +
          f": {target}\n{target.read_text()}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", nargs="?", type=Path)
    parser.add_argument("--predicate", choices=["compile", "gpu"])
    parser.add_argument("--out", type=Path, help="compile: the minimal spec's file")
    parser.add_argument("--limit", type=float, default=DEFAULT_LIMIT)
    parser.add_argument("--dims", default="{}", help="gpu: the failing call's symbolic dims")
    parser.add_argument("--round", type=Path, help="gpu: the candidates' batch folder")
    parser.add_argument("--pick", type=Path, help="a round's folder, after run_gpu.py ran it")
    args = parser.parse_args(argv)
    if args.pick:
        return 0 if pick(args.pick) else 1
    if args.spec is None or args.predicate is None:
        parser.error("give SPEC and --predicate, or --pick DIR")
    if args.predicate == "compile":
        out = args.out or args.spec.with_name(args.spec.name.replace(".tlspec.yaml", "") +
                                              ".min.tlspec.yaml")
        shrink_compile(args.spec, out, args.limit)
    else:
        if args.round is None:
            parser.error("--predicate gpu needs --round DIR")
        gpu_round(args.spec, json.loads(args.dims), args.round)
    return 0


if __name__ == "__main__":
    sys.exit(main())
