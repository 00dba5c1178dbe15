"""A copy between dtypes in the interpreter: every pair of convertible dtypes through a shared
tile and a fragment, partial tiles, checked against numpy / ml_dtypes casts through float32
(ml_dtypes' float8 rounding is torch's on finite values); the float8 corner cases (overflow to
NaN or infinity, subnormals, ties) and float -> int saturation spelled out."""
from __future__ import annotations

import numpy as np
import pytest

from interpret_support import through_tile
from tlspec.conversions import CONVERTIBLE, INTEGERS
from tlspec.interpret.bits import numpy_dtype
from tlspec.interpret.convert import convert_bits

PAIRS = [(s, d) for s in CONVERTIBLE for d in CONVERTIBLE if s != d]


def values(shape, dtype: str, seed: int = 0) -> np.ndarray:
    """Random non-zero values every convertible dtype holds exactly or rounds (small integers,
    floats of magnitude 1/64 .. 100: inside every format's range)."""
    rng = np.random.default_rng(seed)
    if dtype in INTEGERS:
        v = rng.integers(1, 100, shape) * rng.choice([-1, 1], shape)
    else:
        v = rng.uniform(1 / 64, 100, shape) * rng.choice([-1.0, 1.0], shape)
    return v.astype(np.float32).astype(numpy_dtype(dtype))


def reference(a: np.ndarray, dst: str) -> np.ndarray:
    """a.to(dst) as torch does it on finite in-range values: through float32, integers rounded
    toward zero."""
    if a.dtype.kind == "i" and dst in INTEGERS:
        return a.astype(numpy_dtype(dst))
    f = a.astype(np.float32)
    return (np.trunc(f) if dst in INTEGERS else f).astype(numpy_dtype(dst))


@pytest.mark.parametrize("src, dst", PAIRS)
@pytest.mark.parametrize("scope", ["shared", "fragment"])
def test_every_pair_converts_like_a_cast_through_float32(src, dst, scope):
    """Loaded as src, converted into the tile (dst's dtype): partial tiles at both edges."""
    cast = through_tile(src, dst, scope=scope)
    a = values((19, 45), src)
    b = cast(a)
    assert b.dtype == numpy_dtype(dst)
    assert np.array_equal(b.view(f"u{b.itemsize}"), reference(a, dst).view(f"u{b.itemsize}"))


def test_converted_into_the_tile_and_again_out_of_it():
    cast = through_tile("float32", "float8_e5m2", "bfloat16")
    a = values((20, 40), "float32", seed=3)
    b = cast(a)
    want = reference(reference(a, "bfloat16"), "float8_e5m2")
    assert np.array_equal(b.view(np.uint8), want.view(np.uint8))


def _bits_of(f: list[float], dst: str) -> list[int]:
    return convert_bits(np.array(f, np.float32).view(np.uint32), "float32", dst).tolist()


def test_float8_e4m3_overflows_to_nan_as_torch():
    """448 is the largest e4m3 value; up to the tie at 464 rounds to it, above gives NaN
    (0x7f, with the sign), as torch's Float8_e4m3fn does (no saturation)."""
    assert _bits_of([448, 464, 464.1, 480, 1e6, -1e6, np.inf, np.nan], "float8_e4m3") == \
        [0x7E, 0x7E, 0x7F, 0x7F, 0x7F, 0xFF, 0x7F, 0x7F]


def test_float8_e5m2_overflows_to_infinity():
    """57344 is the largest e5m2 value; the tie at 61440 rounds to even: infinity (0x7c)."""
    assert _bits_of([57344, 61439, 61440, 1e9, -np.inf, np.nan], "float8_e5m2") == \
        [0x7B, 0x7B, 0x7C, 0x7C, 0xFC, 0x7F]


def test_float8_subnormals_round_to_nearest_even():
    # e4m3's smallest subnormal is 2**-9: half of it ties to 0, 1.5 of it to 2 (even)
    assert _bits_of([2**-10, 1.5 * 2**-9, 2.5 * 2**-9, -2**-9], "float8_e4m3") == \
        [0x00, 0x02, 0x02, 0x81]
    # e5m2's smallest subnormal is 2**-16
    assert _bits_of([2**-17, 3 * 2**-17, 2**-16], "float8_e5m2") == [0x00, 0x02, 0x01]


def test_float_to_int_rounds_toward_zero_and_saturates():
    got = convert_bits(np.array([2.9, -2.9, 1e3, -1e3, np.nan], np.float32).view(np.uint32),
                       "float32", "int8").view(np.int8).tolist()
    assert got == [2, -2, 127, -128, 0]
    got = convert_bits(np.array([3e9, -3e9], np.float32).view(np.uint32), "float32",
                       "int32").view(np.int32).tolist()
    assert got == [2**31 - 1, -2**31]


def test_int32_to_int8_keeps_the_low_bits():
    got = convert_bits(np.array([300, -129], np.int32).view(np.uint32), "int32", "int8")
    assert got.view(np.int8).tolist() == [44, 127]


@pytest.mark.parametrize("src, bits, dst, want", [
    # float16 NaNs widen to the canonical float32 NaN: sign and payload dropped
    ("float16", [0x7C01, 0xFC01, 0x7E00], "float32", [0x7FFFFFFF] * 3),
    ("bfloat16", [0x7F81, 0xFFC0], "float16", [0x7FFF, 0x7FFF]),
    # a bfloat16 NaN widens bit for bit (the top half of a float32), keeping sign and payload
    ("bfloat16", [0x7F81, 0xFF81], "float32", [0x7F810000, 0xFF810000]),
    ("bfloat16", [0xFF81], "float8_e4m3", [0xFF]),
    ("float16", [0xFC01], "float8_e4m3", [0x7F]),
    # float32 NaNs narrow to 0x7fff in float16 and bfloat16, to 0x7f with the sign in float8
    ("float32", [0x7FC00000, 0xFFC00000, 0x7F800001], "float16", [0x7FFF] * 3),
    ("float32", [0xFFFFFFFF], "bfloat16", [0x7FFF]),
    ("float32", [0xFFC00000], "float8_e5m2", [0xFF]),
    # float8 NaNs widen as c10 does, keeping the sign
    ("float8_e4m3", [0x7F, 0xFF], "float32", [0x7FF00000, 0xFFF00000]),
    ("float8_e5m2", [0x7D, 0xFE], "float32", [0x7FFFFFFF, 0xFFFFFFFF]),
    ("float8_e4m3", [0xFF], "float8_e5m2", [0xFF]),
    ("float8_e5m2", [0xFD], "float8_e4m3", [0xFF]),
    ("float8_e4m3", [0xFF], "bfloat16", [0x7FFF]),
])
def test_nans_convert_bit_for_bit_as_torch_on_a_gpu(src, bits, dst, want):
    """What torch's .to() gave on the H200 for these NaNs (tests/gpu/test_casts_all_bits_gpu.py
    checks every pattern there)."""
    width = {1: np.uint8, 2: np.uint16, 4: np.uint32}[np.dtype(numpy_dtype(src)).itemsize]
    assert convert_bits(np.array(bits, width), src, dst).tolist() == want
