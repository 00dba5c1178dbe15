"""LowerSymbolicDivision: floor division and modulo by a divisor that is not a constant become C
division (`/`, `%`), exactly: with a floor correction where the signs are not known.

Why: tvm's FlattenBuffer simplifies every buffer index (and the conditions around it) with its
iter-map analysis, which takes `floordiv`/`floormod` of thread and block indices apart. Given one
index divided by two divisors of which one is symbolic (im2col's `R // OW` and `R // (OH*OW)`
with OH symbolic), it approximates their least common multiple as `(OH*OW) * OW` and then fails
an internal check that this is divisible by `OH*OW` (it does not prove it once the product is
expanded): an InternalError for a valid kernel, on some shapes and not others. The analysis
leaves C division alone, and a symbolic divisor gains nothing from it (only constant divisors
become shifts and splits), so these divisions are lowered before it runs.

This is the rewrite tvm's LowerIntrin makes at the end of the device pipeline anyway: where the
dividend is provably >= 0 and the divisor > 0 (im2col's pixel index and image extents), the
result is the plain `/` or `%` it would print; otherwise the floor correction it would add.
Constant divisors are left to tvm (they need no correction and become shifts or multiplies).
The value ranges are those of the dims, thread and block indices, loops and let bindings.
"""
from __future__ import annotations

import tvm
import tvm_ffi
from tvm import tirx

from ..analysis import analyzer_for, base_ranges


def _ranges_analyzer(func: tirx.PrimFunc) -> tvm.sym.Analyzer:
    """An analyzer that knows every variable's range: dims and launch indices from the
    function's attributes, then each loop, thread extent and let binding of the body (every
    variable is defined once, so one analyzer serves the whole function)."""
    analyzer = analyzer_for(base_ranges(func))

    def on_loop(loop):
        analyzer.bind(loop.loop_var, tvm.ir.Range.from_min_extent(loop.min, loop.extent),
                      allow_override=True)

    def on_attr(attr):
        if attr.attr_key == "thread_extent":
            analyzer.bind(attr.node.var, tvm.ir.Range.from_min_extent(0, attr.value),
                          allow_override=True)

    def on_bind(bind):
        if isinstance(bind.var.ty, tvm.ir.PrimType) and "int" in str(bind.var.ty):   # not a pointer
            analyzer.bind(bind.var, bind.value, allow_override=True)

    tvm_ffi.structural_walk(func.body, [(tirx.For, on_loop), (tirx.AttrStmt, on_attr),
                                        (tirx.Bind, on_bind)], order="pre")
    return analyzer


def _lowered(analyzer: tvm.sym.Analyzer):
    def lower(op):
        a, b = op.a, op.b
        if isinstance(b, tirx.IntImm):
            return op
        is_div = isinstance(op, tirx.FloorDiv)
        if analyzer.can_prove(b >= 0) and analyzer.can_prove(a >= 0):   # b == 0: undefined anyway
            return tirx.truncdiv(a, b) if is_div else tirx.truncmod(a, b)
        # the C remainder has the dividend's sign, floor's the divisor's: where they differ,
        # the quotient is one less and the remainder one divisor more (each named once, as
        # tvm's LowerIntrin names them, so that the expressions are computed once)
        dtype = str(b.ty)
        zero, one = tirx.IntImm(dtype, 0), tirx.IntImm(dtype, 1)
        rmod = tirx.Var("rmod", dtype)
        exact = tirx.Or(tirx.And(b >= zero, rmod >= zero), tirx.And(b < zero, rmod <= zero))
        if is_div:
            rdiv = tirx.Var("rdiv", dtype)
            value = tirx.Let(rdiv, tirx.truncdiv(a, b), tirx.Select(exact, rdiv, rdiv - one))
        else:
            value = tirx.Select(exact, rmod, rmod + b)
        return tirx.Let(rmod, tirx.truncmod(a, b), value)
    return lower


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.LowerSymbolicDivision")
class LowerSymbolicDivision:
    def transform_function(self, func, mod, ctx):
        lower = _lowered(_ranges_analyzer(func))
        return func.with_body(tvm_ffi.structural_map(
            func.body, [((tirx.FloorDiv, tirx.FloorMod), lower)], order="post"))
