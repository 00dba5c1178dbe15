"""LegalizeNegativeIndex: guard global accesses whose index may be negative (convolution
padding in im2col, a gather index below 0, a halo region that starts before its tensor): such
loads read the stage's fill (zero by default), such stores are dropped. See `..guards`."""
from __future__ import annotations

from tvm import tirx

from ..guards import insert_guards


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.LegalizeNegativeIndex")
class LegalizeNegativeIndex:
    def transform_function(self, func, mod, ctx):
        return insert_guards(func, "lower")
