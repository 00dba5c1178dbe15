"""The `fill` option: the value a stage reads where its global source lies outside the tensor
(a partial tile's tail, a halo before the start, im2col's padding, a gather's out-of-range index).

A fill is a number (YAML int or float) or one of the strings "inf", "-inf", "nan". It becomes the
element bits of a dtype by one rule (docs/spec.md, "Fill values"):
- integer dtypes: the value must be an integer (an integral float such as -99.0 counts) inside
  the dtype's range; inf and nan are refused;
- float dtypes: round to nearest, ties to even, from the number as YAML reads it (a double),
  directly into the dtype (no double rounding through float32); a finite value that rounds
  past the largest finite value is refused (no silent infinity); inf / -inf are the dtype's
  infinities (float8_e4m3 has none: refused); nan is the dtype's canonical quiet NaN (sign
  clear), -0.0 keeps its sign.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

FILL_WORDS = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}

# float dtype -> (explicit mantissa bits, least normal exponent, largest finite, has infinity)
_FLOATS = {
    "float16": (10, -14, 65504.0, True),
    "bfloat16": (7, -126, float.fromhex("0x1.fep127"), True),
    "float32": (23, -126, float.fromhex("0x1.fffffep127"), True),
    "float64": (52, -1022, float.fromhex("0x1.fffffffffffffp1023"), True),
    "float8_e4m3": (3, -6, 448.0, False),
    "float8_e5m2": (2, -14, 57344.0, True),
}


class FillError(ValueError):
    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


def fill_number(value) -> float | int:
    """The number a spec's fill stands for (the schema allows numbers and FILL_WORDS)."""
    return FILL_WORDS[value] if isinstance(value, str) else value


def _round(value: float, dtype: str) -> float:
    """`value` rounded to nearest even into the float dtype (a float64 holding it exactly)."""
    mantissa, emin, largest, has_inf = _FLOATS[dtype]
    if math.isnan(value):
        return value
    if math.isinf(value):
        if not has_inf:
            raise FillError(f"{dtype} has no infinity, so a fill of {value} cannot be stored",
                            f"use its largest finite value, {math.copysign(largest, value):g}, "
                            "or nan")
        return value
    if value == 0:
        return value
    exponent = max(math.frexp(abs(value))[1] - 1, emin)
    quantum = Fraction(2) ** (exponent - mantissa)
    rounded = float(round(Fraction(abs(value)) / quantum) * quantum)    # round(): ties to even
    if rounded > largest:
        raise FillError(f"a fill of {value:g} rounds past the largest finite {dtype} "
                        f"({largest:g})", f"use a value of magnitude at most {largest:g}"
                        + (", or -inf / inf" if has_inf else ""))
    return math.copysign(rounded, value)


def fill_bits(value, dtype: str) -> int:
    """The element bits (an unsigned integer of the dtype's size) of fill `value` in `dtype`;
    FillError when the value cannot be stored in it."""
    from .interpret.bits import as_bits, numpy_dtype

    number = fill_number(value)
    if dtype not in _FLOATS:
        info = np.iinfo(dtype)
        if isinstance(number, float) and not number.is_integer():
            raise FillError(f"a fill of {value} is not an integer, and {dtype} holds integers",
                            f"use an integer from {info.min} to {info.max}")
        if not info.min <= number <= info.max:
            raise FillError(f"a fill of {value} is outside the range of {dtype} "
                            f"({info.min} to {info.max})", "use a value inside that range")
        return int(np.array([int(number)], dtype).view(f"u{info.bits // 8}")[0])
    rounded = np.array([_round(float(number), dtype)]).astype(numpy_dtype(dtype))
    bits = int(as_bits(rounded)[0])
    if math.isnan(number):               # the canonical quiet NaN: sign clear
        bits &= (1 << (8 * rounded.itemsize - 1)) - 1
    return bits
