"""The expressions of lowered tirx code as Python closures, for tests/tir_eval.py: each node
compiled once per run (walking tvm's nodes at every evaluation was most of the evaluator's
time) into a function of the Machine evaluating it, with tirx's semantics: integers, floor
division and modulo, bitwise ops, lanes of vectors as lists, loads through the Machine, Let
bindings; a cast between integer types and a reinterpretation keep the low bits (sign-extended
for a signed type); a conversion involving a float type, float arithmetic and comparisons and
float constants as CUDA computes them (tests/tir_float.py, on a float's bits); any node not
known here raises NotImplementedError when evaluated."""
from __future__ import annotations

import re

from tvm import tirx
from tvm.ir.expr import Call, TensorLoad

import tir_float

BINARY = {
    tirx.Add: lambda a, b: a + b, tirx.Sub: lambda a, b: a - b, tirx.Mul: lambda a, b: a * b,
    tirx.FloorDiv: lambda a, b: a // b, tirx.FloorMod: lambda a, b: a % b,
    tirx.Min: min, tirx.Max: max,
    tirx.LT: lambda a, b: int(a < b), tirx.LE: lambda a, b: int(a <= b),
    tirx.GT: lambda a, b: int(a > b), tirx.GE: lambda a, b: int(a >= b),
    tirx.EQ: lambda a, b: int(a == b), tirx.NE: lambda a, b: int(a != b),
    tirx.And: lambda a, b: int(bool(a) and bool(b)), tirx.Or: lambda a, b: int(bool(a) or bool(b)),
    tirx.BitwiseXor: lambda a, b: a ^ b, tirx.BitwiseAnd: lambda a, b: a & b,
    tirx.BitwiseOr: lambda a, b: a | b,
    tirx.LShift: lambda a, b: a << b, tirx.RShift: lambda a, b: a >> b,
}
# calls by the last part of their op's name (tirx prints `prim.if_then_else`, `tirx.bitwise_xor`)
CALLS = {"bitwise_xor": lambda a, b: a ^ b, "bitwise_and": lambda a, b: a & b,
         "bitwise_or": lambda a, b: a | b, "shift_left": lambda a, b: a << b,
         "shift_right": lambda a, b: a >> b}


def lanewise(op, *args):
    lanes = next((len(a) for a in args if isinstance(a, list)), None)
    if lanes is None:
        return op(*args)
    return [op(*(a[i] if isinstance(a, list) else a for a in args)) for i in range(lanes)]


def compiled(e, cache: dict):
    """`e` as a function of a Machine, cached by node."""
    handle = e.__chandle__()
    found = cache.get(handle)
    if found is None:
        found = cache[handle] = _compile(e, cache)
    return found


def _compile(e, cache: dict):
    t = type(e)
    if t is tirx.IntImm:
        value = int(e.value)
        return lambda m: value
    if t is tirx.FloatImm:
        try:
            value = tir_float.constant(float(e.value), str(e.ty))
        except NotImplementedError as error:
            return _unknown(str(error))
        return lambda m: value
    if t is tirx.Var:
        handle, name = e.__chandle__(), e.name

        def var(m):
            if handle in m.env:
                return m.env[handle]
            if name in m.dims:
                return m.dims[name]
            raise KeyError(f"variable {name} has no value")
        return var
    if t in BINARY or t is tirx.Div:
        try:        # a float operation on bits; integer ones (the index arithmetic) as Python's
            op = tir_float.binary(e) if _is_float(e.a.ty) else _wrapping(BINARY[t], e.ty)
        except (NotImplementedError, KeyError) as error:
            return _unknown(f"{error}: {e}")
        a, b = compiled(e.a, cache), compiled(e.b, cache)

        def binary(m):
            x, y = a(m), b(m)
            return lanewise(op, x, y) if type(x) is list or type(y) is list else op(x, y)
        return binary
    if t is tirx.Not:
        a = compiled(e.a, cache)
        return lambda m: lanewise(lambda x: int(not x), a(m))
    if t is tirx.Select:
        cond, yes, no = (compiled(x, cache) for x in (e.condition, e.true_value, e.false_value))
        return lambda m: yes(m) if cond(m) else no(m)
    if t is tirx.Cast:
        to, frm = _element(e.ty), _element(e.value.ty)
        value = compiled(e.value, cache)
        if to == frm:
            return value
        if _is_float(to) or _is_float(frm):
            try:
                convert = tir_float.conversion(frm, to)
            except NotImplementedError as error:
                return _unknown(f"{error}: {e}")
        else:
            convert = _integer(to)                      # C's integer conversion
        return lambda m: lanewise(convert, value(m))
    if t is tirx.Let:                           # `var` bound to `value` in `body`
        handle, value, body = e.var.__chandle__(), compiled(e.value, cache), compiled(e.body, cache)

        def let(m):
            m.env[handle] = value(m)
            return body(m)
        return let
    if t is tirx.Ramp:
        base, stride, lanes = compiled(e.base, cache), compiled(e.stride, cache), int(e.lanes)

        def ramp(m):
            first, step = base(m), stride(m)
            return [first + i * step for i in range(lanes)]
        return ramp
    if t is tirx.Broadcast:
        value, lanes = compiled(e.value, cache), int(e.lanes)
        return lambda m: [value(m)] * lanes
    if isinstance(e, TensorLoad):
        buffer, indices = e.source, [compiled(i, cache) for i in e.indices]
        return lambda m: m.load(buffer, [index(m) for index in indices])
    name = op_name(e) if t is Call else None
    if name in CALLS:
        op, args = _wrapping(CALLS[name], e.ty), [compiled(a, cache) for a in e.args]
        return lambda m: lanewise(op, *[arg(m) for arg in args])
    if name == "call_extern":                 # a tlspec helper (tests/tir_cluster.py)
        return lambda m: m.extern_value(e)
    if name == "reinterpret" and "handle" in str(e.ty):     # a pointer: the same pointer
        return compiled(e.args[0], cache)
    if name == "reinterpret":                 # the same bits as another type
        value, wrap = compiled(e.args[0], cache), _integer(str(e.ty).split("x")[0])
        return lambda m: lanewise(wrap, value(m))
    if name == "if_then_else":
        cond, yes, no = (compiled(x, cache) for x in e.args)
        return lambda m: yes(m) if cond(m) else no(m)
    return _unknown(f"{t.__name__}: {e}")


def _integer(dtype: str):
    """How a value becomes one of `dtype`: its low bits, sign-extended for a signed integer type
    (C's conversion between integer types, and a reinterpretation); a float type keeps its
    bits (the evaluator moves a float as the unsigned integer of its bits)."""
    bits = int("".join(c for c in dtype if c.isdigit()) or 1) if not dtype.startswith("bool") \
        else 1
    if dtype.startswith("float8"):
        bits = 8
    mask, top = (1 << bits) - 1, 1 << (bits - 1)
    if dtype.startswith("int"):
        return lambda v: (v & mask) - (1 << bits) if v & top else v & mask
    return lambda v: v & mask


def _wrapping(op, dtype):
    """`op`, its result kept to the bits of an unsigned `dtype` (C's unsigned arithmetic wraps:
    float8 rounding adds a bias meant to overflow a uint32); other types' results unchanged
    (signed overflow is undefined in C, and the index arithmetic does not overflow)."""
    if not str(dtype).startswith("uint"):
        return op
    mask = (1 << int(_element(dtype)[len("uint"):])) - 1
    return lambda a, b: op(a, b) & mask


def _element(dtype) -> str:
    """The element type of a (vector) dtype: float16x4 -> float16."""
    return re.sub(r"x\d+$", "", str(dtype))


def _is_float(dtype) -> bool:
    return str(dtype).startswith(("float", "bfloat"))


def _unknown(what: str):
    """A node the evaluator does not run: an error when it is evaluated."""
    def unknown(m):
        raise NotImplementedError(what)
    return unknown


def element_bytes(dtype) -> int:
    """The bytes of one element of `dtype` ("float16", "float8_e4m3fn", "uint8x16": a vector's
    element)."""
    if str(dtype).startswith("bool"):
        return 1
    match = re.match(r"(?:u?int|float|bfloat)(\d+)", str(dtype))
    if match is None:
        raise NotImplementedError(f"elements of {dtype}")
    return max(int(match.group(1)) // 8, 1)


def op_name(call) -> str:
    return str(call.op.name).rsplit(".", 1)[-1]


def extern_name(e) -> str | None:
    """The function a call_extern calls (None: `e` is not one)."""
    if isinstance(e, Call) and op_name(e) == "call_extern":
        return str(e.args[0].value)
    return None
