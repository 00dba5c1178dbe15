"""Compiling many kernels: on every core, in worker processes that each import tvm once, with a
progress bar when asked (a terminal). One kernel, or one worker, compiles in this process."""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing import get_context

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
    with _progress_bar(len(kernels)) if progress else nullcontext(lambda name: None) as advance:
        if workers <= 1:
            for i, (kernel, _) in enumerate(kernels):
                outcomes[i] = _compile_here(kernel, options)
                advance(kernel.name)
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(_compile_job, Job(k.path, raw, k.document.index),
                                       options): i for i, (k, raw) in enumerate(kernels)}
                for future in as_completed(futures):
                    outcomes[futures[future]] = future.result()
                    advance(kernels[futures[future]][0].name)
    return outcomes


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
    kernel = check_document(load_bytes(job.raw, job.shown, scratch)[job.index], scratch)
    return _compile_here(kernel, options)


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
