"""The element conversions of a copy between dtypes, on bits (docs/spec.md, "Type conversion"),
as the compiled kernels do them: through float32, round to nearest even; float32 -> float8 is
torch's rounding (c10), written out here on the bits so that NaN results match too.
"""
from __future__ import annotations

import numpy as np

from .bits import bits_dtype, numpy_dtype

U32 = np.uint32
# float8 dtype -> (overflow, subnormal below, magic, bias, shift) of c10's rounding of |x|
# (tlspec.compiler.lower.convert has the same constants, and why)
FLOAT8 = {"float8_e4m3": (1087 << 20, 121 << 23, 141 << 23, 0xC407FFFF, 20),
          "float8_e5m2": (143 << 23, 113 << 23, 134 << 23, 0xC80FFFFF, 21)}
F32_INF = 255 << 23
INT_RANGES = {"int8": (-128, 127), "int32": (-2**31, 2**31 - 1)}


# NaNs, which the GPU and torch do not all keep: a float16 NaN widens to the canonical float32
# NaN and a float32 NaN narrows to the canonical float16 / bfloat16 NaN (CUDA's cvt), the sign
# dropped; a bfloat16 NaN widens bit for bit (its bits are float32's top half); float8 NaNs
# widen as c10 does, keeping the sign (|bits| from the first NaN code up -> bits)
CANONICAL_NAN = {"float16": 0x7FFF, "bfloat16": 0x7FFF, "float32": 0x7FFFFFFF}
FLOAT8_NAN = {"float8_e4m3": (0x7F, 0x7FF00000), "float8_e5m2": (0x7D, 0x7FFFFFFF)}


def convert_bits(bits: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Elements of `src` (as bits) converted to `dst` (as bits)."""
    values = bits.view(numpy_dtype(src))
    if src in INT_RANGES and dst in INT_RANGES:
        return values.astype(numpy_dtype(dst)).view(bits_dtype(dst))   # low bits, as C
    f = _widen(bits, src)
    if dst in FLOAT8:
        return _to_float8(f, dst)
    if dst in INT_RANGES:
        low, high = INT_RANGES[dst]
        with np.errstate(invalid="ignore"):
            whole = np.trunc(np.nan_to_num(f, nan=0.0)).astype(np.float64)
        return np.clip(whole, low, high).astype(numpy_dtype(dst)).view(bits_dtype(dst))
    if dst == "float32":
        return f.view(U32)
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = f.astype(numpy_dtype(dst)).view(bits_dtype(dst))
    return np.where(np.isnan(f), bits_dtype(dst).type(CANONICAL_NAN[dst]), narrow)


def _widen(bits: np.ndarray, src: str) -> np.ndarray:
    """The elements as float32 (exact; NaNs as the GPU and torch give them)."""
    f = bits.view(numpy_dtype(src)).astype(np.float32)
    if src in FLOAT8_NAN:
        top, nan = FLOAT8_NAN[src]
        b = bits.astype(U32)
        signed_nan = (U32(nan) | ((b & U32(0x80)) << U32(24))).view(np.float32)
        return np.where((b & U32(0x7F)) >= U32(top), signed_nan, f)
    if src == "float16":
        return np.where(np.isnan(f), U32(CANONICAL_NAN["float32"]).view(np.float32), f)
    return f


def _to_float8(f: np.ndarray, dst: str) -> np.ndarray:
    overflow, below, magic, bias, shift = FLOAT8[dst]
    bits = f.view(U32)
    sign = bits & U32(0x80000000)
    mag = bits ^ sign
    with np.errstate(over="ignore", invalid="ignore"):
        subnormal = (mag.view(np.float32) + U32(magic).view(np.float32)).view(U32) - U32(magic)
        normal = (mag + U32(bias) + ((mag >> U32(shift)) & U32(1))) >> U32(shift)
    if dst == "float8_e4m3":
        nan_or_inf = np.full_like(mag, 0x7F)                   # NaN: e4m3 has no infinity
    else:
        nan_or_inf = np.where(mag > U32(F32_INF), U32(0x7F), U32(0x7C))
    code = np.where(mag >= U32(overflow), nan_or_inf, np.where(mag < U32(below), subnormal, normal))
    return ((code | (sign >> U32(24))) & U32(0xFF)).astype(np.uint8)
