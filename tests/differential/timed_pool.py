"""A process pool whose tasks have a time limit: a worker still busy past it is killed (tvm's
passes cannot be interrupted from Python) and replaced, and its task reported as timed out.

    for task, result in timed_map(function, tasks, jobs=2, limit=60):
        ...   # result is function(*task), or TIMED_OUT, or CRASHED (the worker died)

Results come in completion order. With jobs=0 the tasks run in this process, in order, without
a limit (tests).
"""
from __future__ import annotations

import multiprocessing as mp
import time
from multiprocessing.connection import wait
from typing import Callable, Iterable, Iterator

TIMED_OUT = "timed out"
CRASHED = "crashed"


def _serve(function: Callable, conn) -> None:
    while True:
        task = conn.recv()
        if task is None:
            return
        conn.send(function(*task))


class _Worker:
    def __init__(self, ctx, function: Callable):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(function, child), daemon=True)
        self.process.start()
        child.close()
        self.task = None
        self.started = 0.0

    def give(self, task: tuple) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send(task)

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(5)
        self.conn.close()


def timed_map(function: Callable, tasks: Iterable[tuple], *, jobs: int,
              limit: float) -> Iterator[tuple[tuple, object]]:
    tasks = iter(tasks)
    if jobs == 0:
        for task in tasks:
            yield task, function(*task)
        return
    ctx = mp.get_context("fork")
    workers = [_Worker(ctx, function) for _ in range(jobs)]
    idle = list(workers)
    busy: list[_Worker] = []
    pending = True
    try:
        while busy or pending:
            while idle and pending:
                task = next(tasks, None)
                if task is None:
                    pending = False
                    break
                worker = idle.pop()
                worker.give(task)
                busy.append(worker)
            if not busy:
                break
            now = time.monotonic()
            deadline = min(w.started for w in busy) + limit
            ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - now))
            for worker in list(busy):
                result = None
                if worker.conn in ready:
                    try:
                        result = worker.conn.recv()
                    except (EOFError, OSError):
                        result = CRASHED
                elif time.monotonic() - worker.started > limit:
                    result = TIMED_OUT
                else:
                    continue
                busy.remove(worker)
                task = worker.task
                if result in (TIMED_OUT, CRASHED):
                    worker.stop(kill=True)
                    worker = _Worker(ctx, function)
                idle.append(worker)
                yield task, result
    finally:
        for worker in idle:
            worker.stop()
        for worker in busy:
            worker.stop(kill=True)
