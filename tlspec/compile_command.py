"""The work of `tlspec compile` once its command line is parsed (by tlspec.cli's typer command,
or for a plain command line by tlspec.entry without typer): usage checks, compile_paths, the
report. Imports nothing heavy before it is needed: a cache hit never imports tvm."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional


def _echo(message: str, err: bool = False) -> None:
    """Print a line as typer.echo does (flushed)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(message + "\n")
    stream.flush()


def run(paths: list, out: str, arch: Optional[str] = None, ptx: bool = False,
        nvcc: Optional[str] = None, dump_ir: Optional[str] = None,
        output_format: str = "text", keep_going: bool = False, jobs: Optional[int] = None,
        no_cache: bool = False, echo: Callable[..., None] = _echo) -> int:
    """Compile `paths` into `out`; the exit code (0 success, 1 errors in the specs, 2 usage)."""
    from .discover import UsageError
    from .targets import COMPILED_TARGETS

    if arch is not None and arch not in COMPILED_TARGETS:
        return _usage_error(echo, f"--arch {arch}: this release compiles for "
                                  f"{', '.join(COMPILED_TARGETS)}")
    if not Path(out).name.isidentifier():
        return _usage_error(echo, f"-o {out}: the package directory's name must be a Python "
                                  "identifier")
    from .cache import Cache
    from .compiler.driver import compile_paths

    try:
        result = compile_paths(paths, out, arch=arch, nvcc=nvcc, dump_ir=dump_ir, ptx=ptx,
                               cache=None if no_cache else Cache(), keep_going=keep_going,
                               workers=jobs, progress=sys.stderr.isatty())
    except (UsageError, ValueError) as err:
        return _usage_error(echo, str(err))
    diags = result.diagnostics
    if output_format == "json":
        echo(diags.render_json(files=len(result.files), kernels=len(result.kernels)))
    else:
        if len(diags):
            echo(diags.render_text())
        if result.out is not None:
            echo(f"compiled {len(result.kernels)} kernel"
                 f"{'s' * (len(result.kernels) != 1)} into {result.out}: "
                 + ", ".join(result.kernels))
            _launcher_note(echo, result.out, cached=not no_cache)
        if not result.ok:
            errors = f"{len(diags.errors)} error{'s' * (len(diags.errors) != 1)}"
            echo(f"{errors}; left out of {out}: " + ", ".join(result.left_out)
                 if result.out is not None else f"{errors}; {out} left unchanged")
    return 0 if result.ok else 1


def _launcher_note(echo: Callable[..., None], out: Path, cached: bool) -> None:
    """A note when the package goes without its compiled launcher (not asked for with
    TLSPEC_NATIVE_LAUNCH=0): its calls are correct, only slower."""
    from .native_launch import library

    why = library(cached)[1]
    if why and why != "TLSPEC_NATIVE_LAUNCH=0":
        echo(f"note: {out} has no compiled launcher ({why}): its wrappers launch through the "
             "Python path, about 1.5 us more per call", err=True)


def _usage_error(echo: Callable[..., None], message: str) -> int:
    echo(f"tlspec: error: {message}", err=True)
    return 2
