"""The debug mode's fault record (`out_of_range: error`): the call that records a row's fault.

codegen/cuda/oob.cuh's `tlspec_oob_record` claims the record (an atomicCAS of its flag from 0)
and, for the first fault of a launch only, writes the site, blockIdx, the row, values and loop
words (`..oob_sites` gives the layout); later faults leave it. A gather or scatter in the debug
mode still fills or skips the row as `fill` does: recording is all the debug mode adds.
"""
from __future__ import annotations

from dataclasses import dataclass

from tvm import tirx

from ..oob_sites import ROWS, VALUES
from .common import Stmt

HELPER = "tlspec_oob_record"


@dataclass(frozen=True)
class FaultRecord:
    """The record buffer and the enclosing loops' words of one stage."""
    record: tirx.Buffer
    loops: list[tirx.PrimExpr]

    def call(self, site: tirx.PrimExpr, values: list[tirx.PrimExpr],
             rows: list[tirx.PrimExpr] = ()) -> Stmt:
        """Record site with values (at most VALUES) at rows (at most ROWS)."""
        def words(exprs, count):
            exprs = [_int64(e) for e in exprs]
            return exprs + [tirx.IntImm("int64", 0)] * (count - len(exprs))

        return tirx.Evaluate(tirx.call_extern(
            "void", HELPER, self.record.data, _int64(site), *words(rows, ROWS),
            *words(values, VALUES), *self.loops))


def _int64(e: tirx.PrimExpr) -> tirx.PrimExpr:
    return e if str(getattr(e.ty, "dtype", "")) == "int64" else tirx.Cast("int64", e)
