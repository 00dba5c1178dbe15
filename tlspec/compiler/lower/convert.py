"""A copy that converts its elements (tlspec.conversions): each thread loads a vector of src
elements into registers (one vector access of their bits), converts them one by one, and stores
the results as one vector access of dst's bits. A fragment side is already registers.

Every conversion goes through float32, as torch's `.to()` does on a GPU. float32 -> float8 is
torch's own rounding (c10's fp8 conversion, round to nearest even, overflow to NaN or infinity),
written out on the bits: CUDA's fp8 constructors saturate instead.
"""
from __future__ import annotations

from dataclasses import dataclass

from tvm import tirx

from .common import Operand, Stmt, VectorLoop, loop, seq
from .copy import copy_shape

FLOAT8 = ("float8_e4m3fn", "float8_e5m2")
INT_RANGES = {"int8": (-128, 127)}


@dataclass(frozen=True)
class _Float8:
    """The constants of c10's float32 -> float8 rounding on the bits of |x|."""
    overflow: int          # |x| bits from which the result is NaN / infinity
    denormal: int          # |x| bits below which the result is subnormal
    magic: int             # the float whose addition rounds a subnormal into the low bits
    bias: int              # added to round a normal value (exponent rebias + half an ulp - 1)
    shift: int             # mantissa bits dropped


_E4M3 = _Float8(1087 << 20, 121 << 23, 141 << 23, 0xC407FFFF, 20)
_E5M2 = _Float8(143 << 23, 113 << 23, 134 << 23, 0xC80FFFFF, 21)
F32_INF = 255 << 23


def _u32(value: int) -> tirx.PrimExpr:
    return tirx.const(value, "uint32")


def _bind(value: tirx.PrimExpr, dtype: str, body) -> tirx.PrimExpr:
    """`body(var)` with `var` bound to `value` once (a Let: the value is used several times)."""
    var = tirx.Var("x", dtype)
    return tirx.Let(var, value, body(var))


def _to_float8(f: tirx.PrimExpr, dtype: str) -> tirx.PrimExpr:
    return _bind(tirx.reinterpret("uint32", f), "uint32", lambda bits: _bind(
        tirx.bitwise_and(bits, _u32(0x80000000)), "uint32", lambda sign: _bind(
            tirx.bitwise_xor(bits, sign), "uint32", lambda mag: _round_float8(sign, mag, dtype))))


def _round_float8(sign: tirx.Var, mag: tirx.Var, dtype: str) -> tirx.PrimExpr:
    """c10's rounding of the float32 |x| (bits `mag`) to the float8 `dtype`, with x's sign."""
    spec = _E4M3 if dtype == "float8_e4m3fn" else _E5M2
    if spec is _E4M3:
        overflow = _u32(0x7F)                        # NaN: e4m3 has no infinity
    else:                                            # infinity, or NaN from a NaN
        overflow = tirx.Select(mag > _u32(F32_INF), _u32(0x7F), _u32(0x7C))
    subnormal = tirx.reinterpret("uint32", tirx.reinterpret("float32", mag) +
                                 tirx.reinterpret("float32", _u32(spec.magic))) - _u32(spec.magic)
    odd = tirx.bitwise_and(tirx.shift_right(mag, _u32(spec.shift)), _u32(1))
    normal = tirx.shift_right(mag + _u32(spec.bias) + odd, _u32(spec.shift))
    code = tirx.Select(mag >= _u32(spec.overflow), overflow,
                       tirx.Select(mag < _u32(spec.denormal), subnormal, normal))
    code = tirx.bitwise_or(code, tirx.shift_right(sign, _u32(24)))
    return tirx.reinterpret(dtype, tirx.Cast("uint8", code))


# a float8 NaN (|bits| from its first NaN code up) widened to float32 as torch does it (c10's
# software conversions): e4m3's NaN becomes 0x7ff00000, e5m2's the canonical 0x7fffffff, both
# with the NaN's sign (CUDA's conversion instructions would drop the sign)
FLOAT8_NAN = {"float8_e4m3fn": (0x7F, 0x7FF00000), "float8_e5m2": (0x7D, 0x7FFFFFFF)}


def _widen(value: tirx.PrimExpr, src: str) -> tirx.PrimExpr:
    """`value` (tvm dtype `src`) as float32: exact; NaNs as torch's `.to(float32)` gives them
    (float16: the canonical NaN 0x7fffffff, as CUDA's cvt). A float8 value is widened on its
    bits through float16, never by a float8 cast: tvm legalizes those on targets without float8
    (sm_80) with a rebias that breaks zeros, subnormals and infinities."""
    if src not in FLOAT8_NAN:
        return tirx.Cast("float32", value)
    top, nan = FLOAT8_NAN[src]
    return _bind(tirx.Cast("uint32", tirx.reinterpret("uint8", value)), "uint32", lambda bits:
                 tirx.Select(tirx.bitwise_and(bits, _u32(0x7F)) >= _u32(top),
                             tirx.reinterpret("float32", tirx.bitwise_or(
                                 _u32(nan), tirx.shift_left(tirx.bitwise_and(bits, _u32(0x80)),
                                                            _u32(24)))),
                             _float8_value(bits, src)))


def _float8_value(bits: tirx.Var, src: str) -> tirx.PrimExpr:
    """A float8 number (not NaN) as float32, exactly. e5m2 is the top byte of a float16; e4m3's
    exponent and mantissa placed in a float16 (its exponent field's top bit 0) count 2^8 too
    little (biases 15 and 7), and a product by 2^8 is exact; the sign is put back after."""
    def half(u16):
        return tirx.Cast("float32", tirx.reinterpret("float16", tirx.Cast("uint16", u16)))

    if src == "float8_e5m2":
        return half(tirx.shift_left(bits, _u32(8)))
    magnitude = half(tirx.shift_left(tirx.bitwise_and(bits, _u32(0x7F)), _u32(7))) * \
        tirx.const(256.0, "float32")
    return tirx.Select(tirx.bitwise_and(bits, _u32(0x80)) != _u32(0), -magnitude, magnitude)


def convert(value: tirx.PrimExpr, src: str, dst: str) -> tirx.PrimExpr:
    """`value`, of the tvm dtype `src`, converted to `dst` (docs/spec.md, "Type conversion")."""
    if src.startswith("int") and dst.startswith("int"):
        return tirx.Cast(dst, value)                 # sign-extend, or keep the low bits
    f = value if src == "float32" else _widen(value, src)
    if dst in FLOAT8:
        return _to_float8(f, dst)
    if dst.startswith("int"):
        whole = tirx.Cast("int32", f)                # toward zero, saturating, NaN -> 0
        if dst in INT_RANGES:
            low, high = INT_RANGES[dst]
            whole = tirx.Min(tirx.Max(whole, tirx.const(low, "int32")),
                             tirx.const(high, "int32"))
        return tirx.Cast(dst, whole)
    return f if dst == "float32" else tirx.Cast(dst, f)


def lower_converting_copy(dst: Operand, src: Operand, values: tuple[str, str], vector: int,
                          threads: list[int] | None, tid: tirx.Var, nthreads: int) -> Stmt:
    """The SIMT copy of `..lower.copy` converting `values` (src, dst tvm dtypes): the operands'
    accesses are their bit types (`as_bits`), the conversion reads and writes values."""
    shape, ddims, sdims = copy_shape(dst, src)
    loaded = tirx.decl_buffer((vector,), src.dtype, name="converted_in", scope="local")
    stored = tirx.decl_buffer((vector,), dst.dtype, name="converted_out", scope="local")

    def lane_in(lane, slot):
        if src.kind == "fragment":
            return tirx.BufferLoad(src.access, [slot])
        return tirx.BufferLoad(loaded, [lane])

    def store_out(value, lane, slot):
        if dst.kind == "fragment":
            return tirx.BufferStore(dst.access, value, [slot])
        return tirx.BufferStore(stored, value, [lane])

    def at(point, slot0):
        steps = []
        if src.kind != "fragment":
            steps.append(loop("v", vector, lambda v: tirx.BufferStore(
                loaded, src.load(dict(zip(sdims, point)), v), [v]), kind="vector"))
        steps.append(loop("v", vector, lambda v: store_out(
            _as(convert(_as(lane_in(v, slot0 + v), src.dtype, values[0]), *values), values[1],
                dst.dtype),
            v, slot0 + v), kind="unroll"))
        if dst.kind != "fragment":
            steps.append(loop("v", vector, lambda v: dst.store(
                tirx.BufferLoad(stored, [v]), dict(zip(ddims, point)), v), kind="vector"))
        return seq(steps)

    body = VectorLoop(shape, vector, threads).emit_vectors(
        tid, nthreads, lambda point, slot: at(point, slot * vector))
    allocs = [tirx.AllocBuffer(b) for b, side in ((loaded, src), (stored, dst))
              if side.kind != "fragment"]
    return seq([*allocs, body])


def _as(value: tirx.PrimExpr, dtype: str, as_dtype: str) -> tirx.PrimExpr:
    """`value`'s bits (of `dtype`) as `as_dtype`: an element's value <-> the bit type it moves
    as."""
    return value if dtype == as_dtype else tirx.reinterpret(as_dtype, value)
