"""tlspec values in tvm terms: dtype names and integer expressions as tirx PrimExprs."""
from __future__ import annotations

from collections.abc import Mapping

from tvm import tirx

from ..expr import BinOp, Call, Const, Expr, Neg, Var

# tlspec dtype -> tvm dtype (the spec names the fp8 types without their `fn` suffix)
TVM_DTYPES = {"float8_e4m3": "float8_e4m3fn"}


def tvm_dtype(dtype: str) -> str:
    return TVM_DTYPES.get(dtype, dtype)


def spec_dtype(dtype) -> str:
    """The spec's name of a tvm dtype (for messages)."""
    return next((spec for spec, name in TVM_DTYPES.items() if name == str(dtype)), str(dtype))


def to_prim(e: Expr, env: Mapping[str, tirx.PrimExpr]) -> tirx.PrimExpr:
    """`e` with every name replaced by its PrimExpr in `env` (dims, block indices, loop vars).
    `//` and `%` floor, as in the spec language."""
    if isinstance(e, Const):
        return tirx.IntImm("int32", e.value)
    if isinstance(e, Var):
        return env[e.name]
    if isinstance(e, Neg):
        return -to_prim(e.operand, env)
    if isinstance(e, BinOp):
        a, b = to_prim(e.lhs, env), to_prim(e.rhs, env)
        return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                "//": lambda: tirx.floordiv(a, b), "%": lambda: tirx.floormod(a, b)}[e.op]()
    if isinstance(e, Call):
        args = [to_prim(arg, env) for arg in e.args]
        if e.func == "ceildiv":
            return tirx.floordiv(args[0] + args[1] - 1, args[1])
        fold = tirx.Min if e.func == "min" else tirx.Max
        result = args[0]
        for arg in args[1:]:
            result = fold(result, arg)
        return result
    raise TypeError(f"not an expression: {e!r}")
