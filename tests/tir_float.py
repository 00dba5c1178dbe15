"""The float operations of lowered tirx code as the CUDA that tvm generates from them computes
them, for tests/tir_expr.py: conversions (T.Cast), float32 arithmetic and comparisons, and float
constants. A float value is the unsigned integer of its bits, as tests/tir_eval.py moves every
element; an integer value is its number (sign-extended for a signed type).

Written from the instructions CUDA compiles each node to (PTX ISA, `cvt`; cuda_fp16.h and
cuda_bf16.h for the conversion functions tvm's CUDA code calls), not from tlspec's conversion
code, so that a kernel checked with it is checked independently of the lowering's:

- float16 -> float32 (`(float)h`: __half2float, cvt.f32.f16): exact; a NaN becomes the canonical
  NaN 0x7fffffff (its sign and payload dropped);
- bfloat16 -> float32 (`(float)b`: __bfloat162float; mov.b32 {0, b} before sm_90, cvt.f32.bf16
  from sm_90): exact, bit for bit (a bfloat16 is the top half of a float32), NaNs included;
- float32 -> float16 / bfloat16 (`(half)f`, `(nv_bfloat16)f`: cvt.rn.f16.f32, cvt.rn.bf16.f32):
  round to nearest, ties to even, subnormals kept, overflow to infinity; a NaN becomes 0x7fff;
- an integer of at most 32 bits -> float32 (cvt.rn.f32.s32 / .u32): round to nearest even;
- float32 -> int32 / uint32 (`(int)f`: cvt.rzi.s32.f32): toward zero, saturating to the
  type's range, NaN -> 0;
- float32 + - * /: IEEE single precision, round to nearest even, subnormals kept (tlspec compiles
  without -ftz / fast math). nvcc may contract a multiply feeding an add into one fma (one
  rounding): such an expression is refused rather than guessed.

The NaN rules are the hardware's, as tests/gpu/test_casts_all_bits_gpu.py measured them over
every 16-bit pattern. Anything else (float8 arithmetic or casts, float16 arithmetic, float64)
raises NotImplementedError, so that a test never passes on an operation evaluated wrongly.
"""
from __future__ import annotations

import numpy as np
from tvm import tirx

F32_NAN = 0x7FFFFFFF            # cvt's canonical float32 NaN
NARROW_NAN = 0x7FFF             # cvt.rn.{f16,bf16}.f32 of any NaN
INT_RANGES = {"int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1)}
SMALL_INTS = ("int8", "int16", "int32", "uint8", "uint16", "uint32", "bool")


def _f32(bits: int) -> np.float32:
    return np.uint32(bits).view(np.float32)


def _bits32(value) -> int:
    return int(np.float32(value).view(np.uint32))


def _nan32(bits: int) -> bool:
    return bits & 0x7FFFFFFF > 0x7F800000


def half_to_float(bits: int) -> int:
    if bits & 0x7FFF > 0x7C00:
        return F32_NAN
    return _bits32(np.uint16(bits).view(np.float16).astype(np.float32))


def bfloat_to_float(bits: int) -> int:
    return bits << 16


def float_to_half(bits: int) -> int:
    if _nan32(bits):
        return NARROW_NAN
    with np.errstate(over="ignore"):            # overflow gives infinity, as cvt.rn does
        return int(_f32(bits).astype(np.float16).view(np.uint16))


def float_to_bfloat(bits: int) -> int:
    """Round to nearest even on the bits: add just under half of the 16 dropped bits' unit, plus
    one when the kept part is odd (a tie goes up only then); a carry out of the mantissa steps
    the exponent, up to infinity."""
    if _nan32(bits):
        return NARROW_NAN
    return (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16


def int_to_float(value: int) -> int:
    return _bits32(np.float64(value))           # exact in float64 (32 bits), rounded once


def float_to_int(dtype: str):
    low, high = INT_RANGES[dtype]

    def convert(bits: int) -> int:
        if _nan32(bits):
            return 0
        value = float(_f32(bits))               # +-inf saturate below
        return low if value <= low else high if value >= high else int(value)
    return convert


def conversion(frm: str, to: str):
    """The function of a Cast from `frm` to `to` (element dtypes, one of them a float type), on
    values as the evaluator holds them; NotImplementedError for one CUDA code does not have
    here."""
    if frm == "float32" and to in INT_RANGES:
        return float_to_int(to)
    if frm in SMALL_INTS and to == "float32":
        return int_to_float
    table = {("float16", "float32"): half_to_float, ("bfloat16", "float32"): bfloat_to_float,
             ("float32", "float16"): float_to_half, ("float32", "bfloat16"): float_to_bfloat}
    if (frm, to) not in table:
        raise NotImplementedError(f"a conversion {frm} -> {to}")
    return table[(frm, to)]


ARITHMETIC = {tirx.Add: np.add, tirx.Sub: np.subtract, tirx.Mul: np.multiply,
              tirx.Div: np.divide}
COMPARISONS = {tirx.LT: np.less, tirx.LE: np.less_equal, tirx.GT: np.greater,
               tirx.GE: np.greater_equal, tirx.EQ: np.equal, tirx.NE: np.not_equal}


def binary(e):
    """The function of the binary node `e` on float32 operands (bits), its result bits (or 0 / 1
    for a comparison); NotImplementedError for another float type or node."""
    dtype, t = str(e.a.ty).split("x")[0], type(e)
    if dtype != "float32":
        raise NotImplementedError(f"{t.__name__} of {dtype}")
    if t in (tirx.Add, tirx.Sub) and tirx.Mul in (type(e.a), type(e.b)):
        raise NotImplementedError(f"a float multiply-add, which nvcc may contract: {e}")
    if t in ARITHMETIC:
        op = ARITHMETIC[t]

        def arithmetic(a: int, b: int) -> int:
            with np.errstate(all="ignore"):         # inf and NaN results are IEEE's
                result = op(_f32(a), _f32(b))
            return F32_NAN if np.isnan(result) else _bits32(result)
        return arithmetic
    if t in COMPARISONS:
        op = COMPARISONS[t]
        return lambda a, b: int(op(_f32(a), _f32(b)))
    raise NotImplementedError(f"{t.__name__} of {dtype}")


def constant(value: float, dtype: str) -> int:
    """The bits of the float constant `value` (a FloatImm's double) of `dtype`."""
    if dtype in ("float16", "float32", "float64"):
        array = np.array([value], dtype)
        return int(array.view(f"<u{array.itemsize}")[0])
    if dtype == "bfloat16":
        return float_to_bfloat(_bits32(np.float64(value)))
    raise NotImplementedError(f"a {dtype} constant")
