"""Running one mutant through `tlspec validate` or `tlspec compile`, in this process, and
judging what came out. The fuzzer's promise, checked on every mutant:

- never a traceback, never an "internal compiler error";
- exit code 0, 1 or 2; exit 1 comes with at least one located diagnostic (PATH:LINE:COL);
- every error of the mutant's file has a hint (how to fix it);
- bounded time (a soft limit raises inside the run) and memory (the peak resident size);
- a compile that fails leaves -o exactly as it was; a compile that succeeds writes a package
  that imports.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from typer.testing import CliRunner

from tlspec.cli import app
from tlspec.package import MARKER

OK = ("valid", "invalid", "usage", "compiled", "refused")   # outcomes that keep the promise
PACKAGE = "kernels"


@dataclass
class Result:
    index: int
    seed: str
    kind: str
    phase: str          # 'validate' or 'compile'
    outcome: str        # one of OK, or the broken promise: 'traceback', 'internal', ...
    seconds: float
    peak_mb: float
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome not in OK

    def as_json(self) -> dict:
        return asdict(self)


class Overtime(BaseException):
    """Raised inside a run that passes its soft time limit (a BaseException, as
    KeyboardInterrupt is, so that tlspec's handlers of its own errors let it through)."""


def _on_alarm(signum, frame):
    raise Overtime


def _reset_peak_memory() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")   # Linux: the peak RSS starts again here
    except OSError:
        pass


def _peak_memory_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def invoke(args: list[str], seconds: float):
    """Run the command line in this process under a soft time limit: (result, elapsed)."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.perf_counter()
    try:
        result = CliRunner().invoke(app, args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return result, time.perf_counter() - start


def judge(result, path: Path, ok_outcomes: dict[int, str]) -> tuple[str, str]:
    """(outcome, detail) of a finished command."""
    output = result.stdout + result.stderr
    error = result.exception
    if error is not None and not isinstance(error, SystemExit):
        if isinstance(error, Overtime):
            return "timeout", output[-2000:]
        if isinstance(error, MemoryError):
            return "memory", output[-2000:]
        return "traceback", "".join(traceback.format_exception(*result.exc_info))[-6000:]
    if "Traceback (most recent call last)" in output:
        return "traceback", output[-6000:]
    if "internal compiler error" in output or "this is a tlspec bug" in output:
        return "internal", output[-6000:]
    if result.exit_code not in ok_outcomes:
        return "exit", f"exit code {result.exit_code}\n{output[-4000:]}"
    if result.exit_code == 1 and not re.search(rf"^{re.escape(str(path))}:\d+:\d+: error: ",
                                               result.stdout, re.M):
        return "unlocated", output[-4000:]
    unhinted = [block for block in re.split(r"\n(?=\S)", result.stdout)
                if re.match(rf"{re.escape(str(path))}:\d+:\d+: error: ", block)
                and "\n  hint: " not in block]
    if unhinted:
        return "unhinted", "\n".join(unhinted)[-4000:]
    return ok_outcomes[result.exit_code], ""


class Runner:
    """One worker's runs; `workdir` is its own scratch folder."""

    def __init__(self, workdir: Path, timeout: float, compile_timeout: float, memory_mb: float):
        self.workdir = workdir
        self.timeout = timeout
        self.compile_timeout = compile_timeout
        self.memory_mb = memory_mb
        workdir.mkdir(parents=True, exist_ok=True)
        self.spec = workdir / "mutant.tlspec.yaml"
        self.out = workdir / "out" / PACKAGE

    def run(self, mutant, phase: str) -> Result:
        self.spec.write_bytes(mutant.data)
        _reset_peak_memory()
        start = time.perf_counter()
        try:
            if phase == "validate":
                outcome, detail, seconds = self.validate()
            else:
                outcome, detail, seconds = self.compile()
        except Overtime:                     # in the checks around the command itself
            outcome, detail, seconds = "timeout", "", time.perf_counter() - start
        peak = _peak_memory_mb()
        if outcome in OK and peak > self.memory_mb:
            outcome, detail = "memory", f"peak resident memory {peak:.0f} MB"
        return Result(mutant.index, mutant.seed, mutant.kind, phase, outcome, seconds, peak,
                      detail)

    def validate(self):
        result, seconds = invoke(["validate", str(self.spec)], self.timeout)
        outcome, detail = judge(result, self.spec, {0: "valid", 1: "invalid", 2: "usage"})
        return outcome, detail, seconds

    def compile(self):
        before = self._previous_package()
        result, seconds = invoke(["compile", str(self.spec), "-o", str(self.out)],
                                 self.compile_timeout)
        outcome, detail = judge(result, self.spec, {0: "compiled", 1: "refused", 2: "usage"})
        if outcome in ("refused", "usage") and _snapshot(self.out) != before:
            outcome, detail = "out_changed", "a failed compile changed -o\n" + detail
        elif outcome == "compiled":
            problem = _import_problem(self.out)
            if problem:
                outcome, detail = "no_import", problem
        return outcome, detail, seconds

    def _previous_package(self) -> dict:
        """-o holds a package from an earlier compile (as far as tlspec can tell): what must
        be left exactly as it is when a compile fails."""
        shutil.rmtree(self.out, ignore_errors=True)
        self.out.mkdir(parents=True)
        (self.out / MARKER).write_text(json.dumps({"tlspec": "0", "format": 1, "kernels": []}))
        (self.out / "earlier.py").write_text(f"# {os.urandom(8).hex()}\n")
        return _snapshot(self.out)


def _snapshot(folder: Path) -> dict:
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _import_problem(out: Path) -> str:
    """Why the package at `out` does not import in a fresh interpreter ('' when it does)."""
    code = (f"import sys; sys.path.insert(0, {str(out.parent)!r}); import {out.name} as p; "
            "[getattr(p, k).__doc__ for k in p.__all__]")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)
    except subprocess.TimeoutExpired:
        return "importing the package took over 120 s"
    return "" if done.returncode == 0 else done.stderr[-4000:]
