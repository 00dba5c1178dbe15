"""The debug mode `out_of_range: error` at run time: the fault record of a kernel.

A kernel compiled with a gather or scatter in the debug mode takes one hidden parameter, a
record of RECORD words (int64) in device memory that the kernel's first index out of range
claims and fills (codegen/cuda/oob.cuh; the manifest's `out_of_range` entry lists its sites).
The record is allocated once per context and kept zero between calls. After each launch the
wrapper synchronizes the launch's stream (the cost of the debug mode: one synchronization per
call), reads the record and, when a fault was recorded, clears it and raises OutOfRangeError
with the interpreter's located message. Under CUDA graph capture there is nothing to read until
the graph runs, so a call is refused before it launches.

Calls of one kernel on several streams of one context at once share its record: run the debug
mode one call at a time.
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, Mapping, Sequence

from ._driver import check

# word offsets in the record (tlspec/compiler/oob_sites.py; codegen/cuda/oob.cuh writes them)
FLAG, SITE, BLOCK, ROWS, VALUES, LOOPS = 0, 1, 2, 5, 8, 16
HINT = "out_of_range: error stops here; with 'fill' the row is filled"
POSITION_HINT = HINT + " (gather) or not written (scatter)"


class OutOfRangeError(IndexError):
    """An index out of range in a kernel compiled with `out_of_range: error`; str() is the
    located error (spec file:line:col, the index, its value, the valid range)."""


class FaultRecords:
    """One kernel's fault record in each context, and what a fault's message needs."""

    def __init__(self, kernel: str, spec: Mapping, arguments: Sequence[str]) -> None:
        self.kernel, self.spec, self.arguments = kernel, spec, list(arguments)
        self.words = int(spec["record_words"])
        self.records: dict = {}        # context handle -> device pointer (int)

    def pointer(self, d: Any, ctx: int) -> int:
        """The record of the current context ctx, allocated and zeroed on first use. Called
        under the kernel's lock."""
        found = self.records.get(ctx)
        if found is None:
            what = f"{self.kernel}(): the out_of_range: error record"
            found = int(check(d, d.cuMemAlloc(8 * self.words), f"{what}: cuMemAlloc"))
            check(d, d.cuMemsetD8(found, 0, 8 * self.words), f"{what}: cuMemsetD8")
            check(d, d.cuCtxSynchronize(), f"{what}: cuCtxSynchronize")
            self.records[ctx] = found
        return found

    def refuse_capture(self, d: Any, stream: int) -> None:
        """RuntimeError when `stream` is capturing a CUDA graph (the record could not be read
        after the launch)."""
        err, *status = d.cuStreamIsCapturing(stream)
        implicit = err == getattr(d.CUresult, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT", None)
        if implicit or (err == d.CUresult.CUDA_SUCCESS and status and status[0] !=
                        d.CUstreamCaptureStatus.CU_STREAM_CAPTURE_STATUS_NONE):
            raise RuntimeError(
                f"{self.kernel}(): this kernel was compiled with out_of_range: error (the debug "
                "mode), which synchronizes after each launch to read its fault record; it cannot "
                "run in a CUDA graph capture: call it outside the capture, or compile it with "
                "out_of_range: fill")
        check(d, (err,), f"{self.kernel}(): cuStreamIsCapturing")

    def after_launch(self, d: Any, ctx: int, stream: int,
                     shape_of: Callable[[int], tuple]) -> None:
        """Wait for the launch on `stream`, read ctx's record; on a fault clear it and raise
        OutOfRangeError. shape_of(argument index) -> the argument's shape at this call."""
        what = f"{self.kernel}(): the out_of_range: error record"
        check(d, d.cuStreamSynchronize(stream), f"{self.kernel}(): cuStreamSynchronize")
        record = self.records[ctx]
        words = (ctypes.c_int64 * self.words)()
        check(d, d.cuMemcpyDtoH(ctypes.addressof(words), record, 8 * self.words),
              f"{what}: cuMemcpyDtoH")
        if not words[FLAG]:
            return
        check(d, d.cuMemsetD8Async(record, 0, 8 * self.words, stream), f"{what}: cuMemsetD8Async")
        check(d, d.cuStreamSynchronize(stream), f"{self.kernel}(): cuStreamSynchronize")
        raise OutOfRangeError(self.message(list(words), shape_of))

    def message(self, words: Sequence[int], shape_of: Callable[[int], tuple]) -> str:
        """The located error of a record, worded as the interpreter words it."""
        site = self.spec["sites"][words[SITE]]
        where = ", ".join(f"{name}={words[BLOCK + i]}" for i, name in enumerate(self.spec["grid"]))
        where = f"block ({where})" + "".join(f", {var} = {words[LOOPS + i]}"
                                              for i, var in enumerate(site["loops"]))
        values = words[VALUES:LOOPS]
        table = self.arguments[site["table"]]
        if site["kind"] == "position":
            text = (f"index position {values[0]} of '{site['index']}' holds {values[1]}, outside "
                    f"the table's rows [0, {shape_of(site['table'])[0]})")
            hint = POSITION_HINT
        else:
            row = ", ".join(f"{var} = {words[ROWS + i]}" for i, var in enumerate(site["rows"]))
            j = site["component"]
            if site["kind"] == "read":
                name, shape = self.arguments[site["buffer"]], list(shape_of(site["buffer"]))
                at = ", ".join(str(v) for v in values[:len(shape)])
                text = (f"at row {row}, '{site['expr']}' reads {name}[{at}], outside '{name}' "
                        f"(shape {shape})")
            else:
                text = (f"at row {row}, index {j} '{site['expr']}' is {values[0]}, outside "
                        f"[0, {shape_of(site['table'])[j]}) of dimension {j} of '{table}'")
            hint = HINT
        return (f"{site['where']}: error: {site['stage']} in {where}: {text}\n"
                f"  at: {site['pointer']}\n  hint: {hint}")
