"""tlspec/fill.py: a fill value's bits in each dtype, by the rule of docs/spec.md ("Fill values"):
integers exact and in range, floats rounded to nearest even straight from the double, no silent
infinity, the canonical NaN, -0.0 kept."""
import math

import pytest

from tlspec.fill import FillError, fill_bits


@pytest.mark.parametrize("value, dtype, bits", [
    ("-inf", "float16", 0xFC00), ("inf", "bfloat16", 0x7F80), ("-inf", "float32", 0xFF800000),
    ("-inf", "float64", 0xFFF0000000000000), ("-inf", "float8_e5m2", 0xFC),
    ("nan", "float16", 0x7E00), ("nan", "bfloat16", 0x7FC0), ("nan", "float32", 0x7FC00000),
    ("nan", "float8_e4m3", 0x7F), ("nan", "float8_e5m2", 0x7E), (math.nan, "float16", 0x7E00),
    (-math.inf, "float16", 0xFC00), (-0.0, "float32", 0x80000000), (0, "float16", 0),
    (-99, "int8", 0x9D), (-99.0, "int32", 0xFFFFFF9D), (255, "uint8", 0xFF),
    (2**64 - 1, "uint64", 2**64 - 1), (-99, "float16", 0xD630), (-99, "float8_e4m3", 0xEC),
    (65504, "float16", 0x7BFF), (448, "float8_e4m3", 0x7E), (1e-40, "float16", 0),
    (0.1, "float32", 0x3DCCCCCD), (0.1, "bfloat16", 0x3DCD),
])
def test_bits(value, dtype, bits):
    assert fill_bits(value, dtype) == bits


def test_ties_round_to_even_straight_from_the_double():
    # 1 + 2^-11 is halfway between float16's 1 and 1 + 2^-10: even is 1
    assert fill_bits(1 + 2**-11, "float16") == 0x3C00
    assert fill_bits(1 + 3 * 2**-11, "float16") == 0x3C02
    # just above halfway rounds up, which rounding through float32 first would lose for bfloat16
    assert fill_bits(1 + 2**-8 + 2**-30, "bfloat16") == 0x3F81


@pytest.mark.parametrize("value, dtype, says", [
    (300, "int8", "outside the range of int8"), (-1, "uint8", "outside the range of uint8"),
    (0.5, "int32", "not an integer"), ("nan", "int8", "not an integer"),
    ("-inf", "float8_e4m3", "has no infinity"), (1e6, "float16", "rounds past the largest"),
    (500, "float8_e4m3", "rounds past the largest"), (65520, "float16", "rounds past"),
])
def test_values_a_dtype_cannot_hold_are_refused(value, dtype, says):
    with pytest.raises(FillError, match=says):
        fill_bits(value, dtype)
