"""Compile worker processes: `python -c ...serve(...)` children that each import tlspec and tvm
once and compile what they are sent, over a pipe of their own (pickles, each after its length).

Not multiprocessing: its children import the caller's main script again, which would run a
script that calls tlspec.compile at its top level a second time in every worker (and fail). A
worker here runs nothing but tlspec, with the caller's sys.path; stdout and stderr are left to
what tvm and NVRTC print.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from typing import Any, Callable, Iterator

_LENGTH = 8


def _send(fd: int, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    data = len(data).to_bytes(_LENGTH, "little") + data
    while data:
        data = data[os.write(fd, data):]


def _receive(fd: int) -> Any:
    """The next value on `fd`; EOFError when the other end closed it."""
    def read(count: int) -> bytes:
        chunks = []
        while count:
            chunk = os.read(fd, min(count, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)
    return pickle.loads(read(int.from_bytes(read(_LENGTH), "little")))


def serve(requests: int, replies: int) -> None:
    """A worker's loop: (function, arguments) in, ("ok", result) or ("raised", exception) out."""
    while True:
        try:
            function, args = _receive(requests)
        except EOFError:
            return
        try:
            reply = ("ok", function(*args))
        except Exception as err:  # noqa: BLE001  (the caller re-raises it)
            reply = ("raised", err)
        _send(replies, reply)


class WorkerDied(Exception):
    """A worker process ended while compiling (a crash in tvm or NVRTC, or killed)."""


def _worker() -> tuple[subprocess.Popen, int, int]:
    """A started worker, the end of the pipe to send it calls and the end to read replies."""
    their_requests, requests = os.pipe()
    replies, their_replies = os.pipe()
    code = (f"import sys; sys.path[:0] = {sys.path!r}; from tlspec.compiler.workers import "
            f"serve; serve({their_requests}, {their_replies})")
    process = subprocess.Popen([sys.executable, "-c", code],
                               pass_fds=(their_requests, their_replies), stdin=subprocess.DEVNULL)
    os.close(their_requests)
    os.close(their_replies)
    return process, requests, replies


def run_in_workers(calls: list[tuple[Callable, tuple]], workers: int,
                   done: Callable[[int], None]) -> list[Any]:
    """Each call's result, computed by `workers` processes; `done(i)` after call i returns.
    A call's exception is raised here (after every worker stopped); a worker that dies is a
    WorkerDied result of the call it was making."""
    results: list[Any] = [None] * len(calls)
    order: Iterator[int] = iter(range(len(calls)))
    lock = threading.Lock()

    def work() -> None:
        process, requests, replies = _worker()
        try:
            while True:
                with lock:
                    i = next(order, None)
                if i is None:
                    return
                _send(requests, calls[i])
                try:
                    results[i] = _receive(replies)
                except EOFError:
                    results[i] = ("raised", WorkerDied(f"exit code {process.wait()}"))
                    return
                done(i)
        finally:
            os.close(requests)
            os.close(replies)
            process.wait()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, result in enumerate(results):
        if result is None:       # its worker died on an earlier call: compile it here
            results[i] = ("ok", calls[i][0](*calls[i][1]))
    for status, value in results:
        if status == "raised" and not isinstance(value, WorkerDied):
            raise value
    return [value for _, value in results]
