"""Compiling many kernels: on every core, in worker processes that each import tvm once
(workers.py), with a progress bar when asked (a terminal). One kernel, or one worker, compiles
in this process."""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, replace

from ..diagnostics import Diagnostic, Diagnostics
from ..model import Kernel
from ..package import KernelArtifact

Outcome = tuple[KernelArtifact | None, list[Diagnostic]]   # the artifact, or None and its errors


@dataclass(frozen=True)
class Options:
    nvcc: str | None = None
    dump_ir: str | None = None
    ptx: bool = False


@dataclass(frozen=True)
class Job:
    """A kernel as a worker process rebuilds it: its file's bytes and its document's index."""
    shown: str
    raw: bytes
    index: int
    choice: dict | None = None    # its tunable parameters' values (tune/variants.py)
    name: str | None = None       # its name, where a tuned variant's differs from the spec's


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:       # not Linux
        return os.cpu_count() or 1


def compile_all(kernels: list[tuple[Kernel, bytes]], options: Options, *,
                workers: int | None = None, progress: bool = False) -> list[Outcome]:
    """Each kernel (with the bytes of its file) compiled, in order, by `workers` processes (None:
    one per core)."""
    workers = min(workers or default_workers(), len(kernels))
    outcomes: list[Outcome | None] = [None] * len(kernels)
    bar = _progress_bar(len(kernels)) if progress and kernels else nullcontext(lambda name: None)
    with bar as advance:
        if workers <= 1:
            for i, (kernel, _) in enumerate(kernels):
                outcomes[i] = _compile_here(kernel, options)
                advance(kernel.name)
        else:
            from .workers import WorkerDied, run_in_workers

            calls = [(_compile_job, (Job(k.path, raw, k.document.index, k.choice, k.name),
                                     options))
                     for k, raw in kernels]
            results = run_in_workers(calls, workers, lambda i: advance(kernels[i][0].name))
            for i, result in enumerate(results):
                outcomes[i] = _died(kernels[i][0], result) if isinstance(result, WorkerDied) \
                    else result
    return outcomes


def _died(kernel: Kernel, death: Exception) -> Outcome:
    diags = Diagnostics()
    diags.error(kernel.document.location("/name"), f"kernel '{kernel.name}': internal compiler "
                f"error: the process compiling it ended ({death})", pointer="/name",
                hint="this is a tlspec bug: please report it with the spec (tlspec compile -j 1 "
                     "compiles in the tlspec process itself)")
    return None, diags.items


def _compile_here(kernel: Kernel, options: Options) -> Outcome:
    from .driver import compile_located

    diags = Diagnostics()
    artifact = compile_located(kernel, diags, nvcc=options.nvcc, dump_ir=options.dump_ir,
                               ptx=options.ptx)
    return artifact, diags.items


def _compile_job(job: Job, options: Options) -> Outcome:
    """In a worker: the kernel rebuilt from its file (validated before it was sent), compiled."""
    from ..source import load_bytes
    from ..validate import check_document

    scratch = Diagnostics()
    kernel = check_document(load_bytes(job.raw, job.shown, scratch)[job.index], scratch,
                            job.choice)
    return _compile_here(replace(kernel, name=job.name or kernel.name), options)


class _progress_bar:
    """A rich progress bar on stderr, removed when done; entering gives `advance(name)`."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
            TimeElapsedColumn

        self.progress = Progress(TextColumn("compiling {task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
        self.task = self.progress.add_task("", total=total)

    def __enter__(self):
        self.progress.start()
        return lambda name: self.progress.update(self.task, advance=1, description=name)

    def __exit__(self, *exc) -> None:
        self.progress.stop()
