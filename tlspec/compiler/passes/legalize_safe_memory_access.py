"""LegalizeSafeMemoryAccess: guard global accesses that may run past the end of a tensor (the
partial tiles at the edge of a matrix whose size is not a multiple of the tile, im2col rows past
the last pixel, a gather index beyond the table): such loads read the stage's fill (zero by
default), such stores are dropped.
Accesses proven inside (constant sizes that the tiles divide) get no guard. See `..guards`."""
from __future__ import annotations

from tvm import tirx

from ..guards import insert_guards


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.LegalizeSafeMemoryAccess")
class LegalizeSafeMemoryAccess:
    def transform_function(self, func, mod, ctx):
        return insert_guards(func, "upper")
