"""tests/tir_float.py, the CPU evaluator's CUDA conversions, on values whose results IEEE 754 and
PTX's cvt fix (worked out by hand, not by tlspec's conversion code): round to nearest even, ties
at the limits, NaNs as the hardware gives them, saturating float -> int."""
import pytest

pytest.importorskip("tvm", reason="tests/tir_float.py reads tvm's nodes")
import tir_float as f  # noqa: E402


@pytest.mark.parametrize("bits, half", [
    (0x3F800000, 0x3C00), (0x477FEFFF, 0x7BFF), (0x477FF000, 0x7C00),   # 65520 ties up to inf
    (0xC77FF000, 0xFC00), (0x33000000, 0x0000), (0x33000001, 0x0001),   # 2^-25: a tie to 0
    (0x387FC000, 0x03FF), (0x3F801000, 0x3C00), (0x3F803000, 0x3C02),   # ties to even
    (0x80000000, 0x8000), (0x7FC00001, 0x7FFF), (0xFF800001, 0x7FFF)])  # NaNs: 0x7fff
def test_float32_to_float16(bits, half):
    assert f.float_to_half(bits) == half


@pytest.mark.parametrize("bits, bf16", [
    (0x3F808000, 0x3F80), (0x3F818000, 0x3F82), (0x3F808001, 0x3F81), (0x7F7F7FFF, 0x7F7F),
    (0x7F7F8000, 0x7F80), (0xFF7FFFFF, 0xFF80), (0x00008000, 0x0000), (0x00018000, 0x0002),
    (0x7F800000, 0x7F80), (0xFFC00000, 0x7FFF), (0x7F800001, 0x7FFF)])
def test_float32_to_bfloat16(bits, bf16):
    assert f.float_to_bfloat(bits) == bf16


def test_widening():
    assert f.half_to_float(0x0001) == 0x33800000            # the smallest subnormal: 2^-24
    assert f.half_to_float(0xFC00) == 0xFF800000
    assert f.half_to_float(0xFE01) == 0x7FFFFFFF            # cvt.f32.f16: the canonical NaN
    assert f.bfloat_to_float(0xFF81) == 0xFF810000          # bit for bit


@pytest.mark.parametrize("bits, value", [
    (0x3FC00000, 1), (0xBFC00000, -1), (0x4EFFFFFF, 2147483520), (0x4F000000, 2**31 - 1),
    (0xCF000000, -2**31), (0xCF000001, -2**31), (0x7F800000, 2**31 - 1),
    (0xFF800000, -2**31), (0x7FC00000, 0), (0xFFFFFFFF, 0), (0x00000001, 0)])
def test_float32_to_int32_rounds_toward_zero_and_saturates(bits, value):
    assert f.float_to_int("int32")(bits) == value


def test_int_to_float32_rounds_to_nearest_even():
    assert f.int_to_float(16777217) == 0x4B800000           # 2^24 + 1: a tie, down to even
    assert f.int_to_float(16777219) == 0x4B800002           # 2^24 + 3: a tie, up to even
    assert f.int_to_float(-2**31) == 0xCF000000
    assert f.int_to_float(2**31 - 1) == 0x4F000000


def test_conversions_cuda_code_does_not_have_here_are_refused():
    for frm, to in [("float16", "bfloat16"), ("float8_e4m3fn", "float32"),
                    ("float64", "float32"), ("float32", "int8"), ("int64", "float32")]:
        with pytest.raises(NotImplementedError):
            f.conversion(frm, to)
