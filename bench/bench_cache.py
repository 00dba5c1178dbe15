"""What the compile cache saves: each case run in fresh processes (as a user's would start), the
median wall time of several runs, with a warm cache except for the first line.

    python bench/bench_cache.py [SPEC] [--runs N]

Lines: the first compile (an empty cache: tvm's import and the whole pipeline); `tlspec compile`
of the unchanged spec (the command, Python's start-up included), the same command line parsed
by the typer app (what tlspec/entry.py's plain compile path saves) and Python's own start-up;
`tlspec.compile` of it (the call, in a process that has imported tlspec); `tlspec.load` of it
(the call: the cached package imported). CPU time beside wall time: on a busy machine the wall time is mostly waiting.
Targets (issue 13): an unchanged spec compiles in <= 0.15 s, a cached load takes
<= 50 ms. Needs no GPU.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALL = """
import sys, time
import tlspec
start, cpu = time.perf_counter(), time.process_time()
{call}
print(time.perf_counter() - start, time.process_time() - cpu, 'tvm' in sys.modules)
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_process(command, env):
    """(wall s, CPU s, tvm imported: unknown) of one `python COMMAND...` process, start-up
    included."""
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run([sys.executable, *command], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu, None


def typer_command(args):
    """The `python` arguments of `tlspec ARGS...` parsed by the typer app, as every command line
    was before tlspec/entry.py."""
    return ["-c", f"from tlspec.cli import app; app(args={list(args)!r}, prog_name='tlspec')"]


def timed_call(call, env):
    done = subprocess.run([sys.executable, "-c", CALL.format(call=call)], env=env, check=True,
                          capture_output=True, text=True)
    seconds, cpu, tvm = done.stdout.split()
    return float(seconds), float(cpu), tvm == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default=str(ROOT / "specs" / "copy_tiles.tlspec.yaml"))
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TLSPEC_CACHE_DIR": f"{tmp}/cache"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)     # a user's Python keeps its byte code
        out = f"{tmp}/kernels"
        spec = args.spec
        compile_command = ["compile", spec, "-o", out]
        tlspec = ["-m", "tlspec", *compile_command]
        cases = [   # (what, how, warm-up runs, timed runs)
            ("`tlspec compile`, empty cache", lambda: timed_process(tlspec, env), 0, 1),
            ("`tlspec compile`, unchanged spec", lambda: timed_process(tlspec, env), 1,
             args.runs),
            ("the same, parsed by the typer app", lambda: timed_process(typer_command(
                compile_command), env), 1, args.runs),
            ("`python -c pass` (the interpreter's start-up)",
             lambda: timed_process(["-c", "pass"], env), 1, args.runs),
            ("`tlspec.compile(...)`, unchanged spec",
             lambda: timed_call(f"tlspec.compile({spec!r}, out={out!r})", env), 1, args.runs),
            ("`tlspec.load(...)`, cached", lambda: timed_call(f"tlspec.load({spec!r})", env), 1,
             args.runs),
        ]
        print(f"spec: {Path(spec).name}, {os.cpu_count()} cores\n")
        print("| case | wall s (median) | wall s (min) | CPU s (median) | tvm imported |\n"
              "|---|---|---|---|---|")
        for name, run, warm, runs in cases:
            for _ in range(warm):
                run()
            results = [run() for _ in range(runs)]
            wall = [w for w, _, _ in results]
            cpu = statistics.median(c for _, c, _ in results)
            tvm = {t for _, _, t in results} - {None}
            print(f"| {name} | {statistics.median(wall):.3f} | {min(wall):.3f} | {cpu:.3f} | "
                  f"{'/'.join(map(str, tvm)) or '-'} |")


if __name__ == "__main__":
    main()
