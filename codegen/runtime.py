"""Run-time support for a package written by `tlspec compile` (copied verbatim to _runtime.py).

Needs only the standard library and cuda-python (cuda.bindings), imported on the first launch.
torch is optional: it is used when the caller passes torch tensors or omits an output, and is
never imported here (it is found in sys.modules when the caller has imported it).

The module has three parts:
  * evaluate(): the manifest's integer expressions (no eval()),
  * adapt() / check_arguments(): what an argument is and whether the kernel accepts it, as pure
    functions that run before any CUDA call,
  * Kernel: the per-kernel launcher (lazy driver init, per-context module cache, TMA descriptor
    cache, launch plans per argument signature with pre-packed kernel parameters).
"""
from __future__ import annotations

import ctypes
import json
import math
import operator
import os
import sys
import threading
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence, Union

try:                # in a compiled package: tlspec/{tensormap_rules,kernel_images}.py, copied beside
    from . import _kernel_images as kernel_images       # this file
    from . import _tensormap_rules as tensormap_rules
except ImportError:  # codegen/runtime.py loaded on its own, from a tlspec checkout
    from tlspec import kernel_images, tensormap_rules

FORMAT = 1
ALIGNMENT = 16                 # bytes; every pointer a kernel receives must be this aligned
DYN_SMEM_OPT_IN = 48 * 1024    # above this a kernel needs the MAX_DYNAMIC_SHARED_SIZE attribute
TENSORMAP_CACHE_SIZE = 256     # encoded descriptors kept per launch plan
PORTABLE_CLUSTER = 8           # blocks; a larger cluster needs the non-portable attribute
PLAN_CACHE_SIZE = 64           # argument signatures (shapes, strides, dtypes) kept per kernel

Expr = Union[int, dict]        # an int, {"dim": NAME} or {"op": OP, "args": [Expr, ...]}
Env = dict                     # dim name -> int


# =============================================================================================
# Expressions
# =============================================================================================
def _ceildiv(a: int, b: int) -> int:
    return -(-a // b)


def _product(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


# operator -> (function of the argument values, number of arguments; None: one or more)
_OPS: dict[str, tuple[Callable[[list], int], Optional[int]]] = {
    "+": (sum, None),
    "-": (lambda a: a[0] - a[1], 2),
    "*": (_product, None),
    "//": (lambda a: a[0] // a[1], 2),
    "%": (lambda a: a[0] % a[1], 2),
    "ceildiv": (lambda a: _ceildiv(a[0], a[1]), 2),
    "min": (min, None),
    "max": (max, None),
    "neg": (lambda a: -a[0], 1),
}
_DIVISIONS = ("//", "%", "ceildiv")


def evaluate(expr: Expr, env: Mapping[str, int]) -> int:
    """Value of a manifest expression: an int, {"dim": NAME} or {"op": OP, "args": [EXPR...]}."""
    if isinstance(expr, int) and not isinstance(expr, bool):
        return expr
    if isinstance(expr, dict):
        if "dim" in expr:
            return _dim_value(expr["dim"], env)
        if expr.get("op") in _OPS:
            return _apply(expr, [evaluate(a, env) for a in expr.get("args", ())])
    raise ValueError(f"invalid expression {expr!r}")


def _dim_value(name: str, env: Mapping[str, int]) -> int:
    try:
        return env[name]
    except KeyError:
        raise ValueError(f"dimension {name!r} has no value") from None


def _apply(expr: dict, args: list) -> int:
    op = expr["op"]
    fn, arity = _OPS[op]
    if (arity is not None and len(args) != arity) or not args:
        raise ValueError(f"operator {op!r} takes {arity or 'at least 1'} argument(s), "
                         f"got {len(args)}")
    if op in _DIVISIONS and args[1] == 0:
        raise ValueError(f"division by zero in {render(expr)}")
    return fn(args)


def render(expr: Expr) -> str:
    """Human-readable text of an expression ("M", "ceildiv(M, 64)", "(M + 7) // 8")."""
    if isinstance(expr, int):
        return str(expr)
    if "dim" in expr:
        return expr["dim"]
    op, args = expr["op"], [render(a) for a in expr["args"]]
    if op in ("ceildiv", "min", "max"):
        return f"{op}({', '.join(args)})"
    if op == "neg":
        return f"-{args[0]}"
    return "(" + f" {op} ".join(args) + ")"


def _collect_dims(expr: Expr, out: list) -> None:
    """Append the dim names of expr to out, each once, in order of appearance."""
    if isinstance(expr, dict):
        if "dim" in expr:
            if expr["dim"] not in out:
                out.append(expr["dim"])
        else:
            for a in expr.get("args", ()):
                _collect_dims(a, out)


# =============================================================================================
# Data types
# =============================================================================================
# name: (itemsize, cuda-array-interface typestr kinds, torch dtype name, DLPack (code, bits))
DTYPES = {
    "float16": (2, ("f2",), "float16", (2, 16)),
    "bfloat16": (2, (), "bfloat16", (4, 16)),
    "float32": (4, ("f4",), "float32", (2, 32)),
    "float64": (8, ("f8",), "float64", (2, 64)),
    "int8": (1, ("i1",), "int8", (0, 8)),
    "int16": (2, ("i2",), "int16", (0, 16)),
    "int32": (4, ("i4",), "int32", (0, 32)),
    "int64": (8, ("i8",), "int64", (0, 64)),
    "uint8": (1, ("u1",), "uint8", (1, 8)),
    "uint16": (2, ("u2",), "uint16", (1, 16)),
    "uint32": (4, ("u4",), "uint32", (1, 32)),
    "uint64": (8, ("u8",), "uint64", (1, 64)),
    "float8_e4m3": (1, (), "float8_e4m3fn", (10, 8)),
    "float8_e5m2": (1, (), "float8_e5m2", (12, 8)),
}
ITEMSIZE = {name: v[0] for name, v in DTYPES.items()}
_FROM_TYPESTR = {k: name for name, v in DTYPES.items() for k in v[1]}
_FROM_TORCH = {v[2]: name for name, v in DTYPES.items()}
_FROM_DLPACK = {v[3]: name for name, v in DTYPES.items()}
# cuTensorMapEncodeTiled data types (suffix of CU_TENSOR_MAP_DATA_TYPE_); 1-byte types are copied
# as bytes, signed 16-bit as unsigned (a TMA copy never converts)
_TMA_DTYPE = {"float16": "FLOAT16", "bfloat16": "BFLOAT16", "float32": "FLOAT32",
              "float64": "FLOAT64", "int8": "UINT8", "int16": "UINT16", "int32": "INT32",
              "int64": "INT64", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32",
              "uint64": "UINT64", "float8_e4m3": "UINT8", "float8_e5m2": "UINT8"}


# =============================================================================================
# Arrays
# =============================================================================================
class ArrayView:
    """What the launcher needs to know about one argument. strides are in elements, or None
    for C-contiguous. device is "cuda", "cpu" or another name; device_id may be None."""
    __slots__ = ("obj", "ptr", "shape", "strides", "dtype", "device", "device_id")

    def __init__(self, obj: Any, ptr: int, shape: tuple, strides: Optional[tuple], dtype: str,
                 device: str, device_id: Optional[int]) -> None:
        self.obj, self.ptr, self.shape, self.strides = obj, ptr, shape, strides
        self.dtype, self.device, self.device_id = dtype, device, device_id

    def signature(self) -> tuple:
        """Everything the checks depend on except the pointer."""
        return (self.shape, self.strides, self.dtype, self.device, self.device_id)


class _Pointer:
    """A torch tensor's data pointer on a call with a cached plan, where the launch needs
    nothing else of it (read as .ptr, like an ArrayView's)."""
    __slots__ = ("ptr",)

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr


_torch_types: dict = {}   # type -> whether it is a torch tensor type, filled as types are seen


def _is_torch(x: Any) -> bool:
    t = type(x)
    known = _torch_types.get(t)
    if known is None:
        known = _torch_types[t] = (t.__module__.split(".", 1)[0] == "torch"
                                   and hasattr(t, "data_ptr"))
    return known


_torch_dtypes: dict = {}   # torch.dtype -> spec dtype name, filled as dtypes are seen


def _torch_dtype(t: Any) -> str:
    name = _torch_dtypes.get(t)
    if name is None:
        short = str(t).replace("torch.", "")
        name = _torch_dtypes[t] = _FROM_TORCH.get(short, short)
    return name


def _adapt_torch(x: Any) -> ArrayView:
    # is_cuda and get_device() are much cheaper than building a torch.device; the pointer of a
    # tensor off CUDA is never used (the device check refuses it), and a meta tensor has none
    if x.is_cuda:
        ptr, device, device_id = x.data_ptr(), "cuda", x.get_device()
    else:
        ptr, device, device_id = 0, x.device.type, x.device.index
    return ArrayView(x, ptr, tuple(x.shape), x.stride(), _torch_dtype(x.dtype), device, device_id)


def _typestr_dtype(typestr: str) -> str:
    if typestr[:1] == ">" and typestr[2:] != "1":
        return "big-endian " + typestr[1:]
    return _FROM_TYPESTR.get(typestr[1:], typestr)


def _adapt_cai(x: Any, cai: Mapping) -> ArrayView:
    typestr = cai["typestr"]
    strides = cai.get("strides")
    if strides is not None:
        size = int(typestr[2:] or 0) or 1
        if any(s % size for s in strides):
            raise ValueError(f"strides {tuple(strides)} are not multiples of the item size")
        strides = tuple(int(s) // size for s in strides)
    ptr = cai["data"][0] or 0
    return ArrayView(x, int(ptr), tuple(map(int, cai["shape"])), strides,
                     _typestr_dtype(typestr), "cuda", None)


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


_DL_DEVICES = {1: "cpu", 2: "cuda", 3: "cuda_host", 13: "cuda_managed"}
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _dlpack_dtype(t: _DLTensor) -> str:
    key = (t.dtype.code, t.dtype.bits)
    dtype = _FROM_DLPACK.get(key, f"dlpack type code {key[0]} bits {key[1]}")
    return dtype if t.dtype.lanes == 1 else f"{dtype} x{t.dtype.lanes}"


def _adapt_dlpack(x: Any) -> ArrayView:
    dev_type, dev_id = x.__dlpack_device__()
    device = _DL_DEVICES.get(int(dev_type), f"dlpack device {int(dev_type)}")
    # The capsule is read, not consumed: its destructor releases the export, and the memory
    # stays owned by x, which the view keeps alive. An array on another device (a numpy array)
    # is read too: its shape and dtype are checked before its device.
    capsule = x.__dlpack__()
    t = _DLManagedTensor.from_address(_capsule_pointer(capsule, b"dltensor")).dl_tensor
    shape = tuple(t.shape[i] for i in range(t.ndim))
    strides = tuple(t.strides[i] for i in range(t.ndim)) if t.strides else None
    return ArrayView(x, (t.data or 0) + t.byte_offset, shape, strides, _dlpack_dtype(t), device,
                     int(dev_id))


def adapt(x: Any) -> ArrayView:
    """An ArrayView of a torch tensor, a __cuda_array_interface__ object or a DLPack object."""
    if isinstance(x, ArrayView):
        return x
    if _is_torch(x):
        return _adapt_torch(x)
    cai = getattr(x, "__cuda_array_interface__", None)
    if cai is not None:
        return _adapt_cai(x, cai)
    if hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        return _adapt_dlpack(x)
    raise TypeError(f"a {type(x).__module__}.{type(x).__qualname__} is not a GPU array (expected "
                    f"a torch tensor, an object with __cuda_array_interface__, or a DLPack array)")


def _c_contiguous(shape: Sequence[int], strides: Optional[Sequence[int]]) -> bool:
    if strides is None:
        return True
    expect = 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1 and s != expect:
            return False
        expect *= n
    return True


# =============================================================================================
# Argument checking (pure: no CUDA)
# =============================================================================================
def dim_rules(c: Mapping) -> list:
    """The constraints of one manifest dim as phrases: '= 4096', 'a multiple of 64', '>= 64'."""
    parts = []
    if c.get("value") is not None:
        parts.append(f"= {c['value']}")
    if c.get("multiple_of") not in (None, 1):
        parts.append(f"a multiple of {c['multiple_of']}")
    if c.get("min") is not None:
        parts.append(f">= {c['min']}")
    if c.get("max") is not None:
        parts.append(f"<= {c['max']}")
    return parts


def _dim_ok(value: int, c: Mapping) -> bool:
    return ((c.get("value") is None or value == c["value"])
            and (c.get("multiple_of") in (None, 0) or value % c["multiple_of"] == 0)
            and (c.get("min") is None or value >= c["min"])
            and (c.get("max") is None or value <= c["max"]))


def _fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class Argument:
    """One manifest argument, with what the checks and the messages need precomputed."""
    __slots__ = ("name", "dtype", "shape", "io", "doc", "rank", "dims", "bare_dims", "expected",
                 "derived", "strides", "bare_strides")

    def __init__(self, m: Mapping, dims: Mapping) -> None:
        self.name, self.dtype, self.io = m["name"], m["dtype"], m.get("io", "in")
        self.doc, self.shape = m.get("doc", ""), list(m["shape"])
        self.rank = len(self.shape)
        self.dims: list = []
        for e in self.shape:
            _collect_dims(e, self.dims)
        # (position, dim) of the shape entries that are a bare dim: they bind it
        self.bare_dims = [(i, e["dim"]) for i, e in enumerate(self.shape)
                          if isinstance(e, dict) and "dim" in e]
        # declared strides (elements; None: C-contiguous) and the bare dims in them, which they
        # bind from the argument's own strides
        self.strides = m.get("strides")
        self.bare_strides = [(i, e["dim"]) for i, e in enumerate(self.strides or ())
                             if isinstance(e, dict) and "dim" in e]
        for e in self.strides or ():
            _collect_dims(e, self.dims)
        self.expected = self._expected(dims)
        # axis -> the derived dims its extent was written with (the shape holds their values)
        self.derived: dict = {}
        for axis, d in m.get("derived", []):
            self.derived.setdefault(axis, []).append(d)

    def _expected(self, dims: Mapping) -> str:
        """'(M, 256) with M a multiple of 64 and M >= 64': the shape and the free dims' rules."""
        text = _fmt_shape([render(e) for e in self.shape])
        if self.strides is not None:
            text += " with strides " + _fmt_shape([render(e) for e in self.strides])
        rules = [f"{d} {r}" for d in self.dims if dims.get(d, {}).get("value") is None
                 for r in dim_rules(dims.get(d, {}))]
        return text + (" with " + " and ".join(rules) if rules else "")


_CMP = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def check_arguments(kernel: Kernel, values: Sequence) -> tuple:
    """Check the caller's arrays against a kernel's arguments; returns (views, dims).

    values: the arrays in argument order; None stands for an omitted output (io "out"), to be
    allocated, and gives a None view. Raises TypeError (missing, not an array, wrong dtype) or
    ValueError (shape, dims, layout, checks, then device and alignment) naming the kernel, the
    argument and what was expected. Where the arrays are is checked last, so that CPU or meta
    arrays check everything else about a call."""
    where = f"{kernel.name}()"
    env, bound_by = dict(kernel.fixed), {}
    views = [_check_argument(where, kernel, arg, x, env, bound_by)
             for arg, x in zip(kernel.arguments, values)]
    _bind_affine_dims(where, kernel, views, env, bound_by)
    for arg, v in zip(kernel.arguments, views):   # again, every extent: one can use a dim that
        if v is not None:                         # only a later argument (or an affine one) bound
            _check_shape(where, arg, v, env, bound_by, kernel.dims)
            _check_dims(where, arg, v, env, kernel.dims)
            _check_strides(where, arg, v, env, bound_by, complete=True)
    _bind_derived(kernel, env)
    finish_checks(kernel, env)
    for arg, v in zip(kernel.arguments, views):
        if v is not None:
            _check_placement(where, arg, v)
    _check_one_device(where, views)
    return views, env


def _check_argument(where: str, kernel: Kernel, arg: Argument, x: Any, env: Env,
                    bound_by: dict) -> Optional[ArrayView]:
    """The view of one argument, its bare dims bound into env; raises when its type, dtype,
    shape, dims or layout do not fit (where it is, is checked later: _check_placement)."""
    if x is None:
        if arg.io != "out":
            raise TypeError(f"{where}: missing required argument {arg.name!r}")
        return None
    v = _adapt_argument(where, arg, x)
    _check_dtype(where, arg, v)
    _check_shape(where, arg, v, env, bound_by, kernel.dims)
    _check_dims(where, arg, v, env, kernel.dims)
    _check_strides(where, arg, v, env, bound_by)
    return v


def _adapt_argument(where: str, arg: Argument, x: Any) -> ArrayView:
    try:
        return adapt(x)
    except TypeError as e:
        raise TypeError(f"{where}: argument {arg.name!r}: {e}") from None
    except ValueError as e:
        raise ValueError(f"{where}: argument {arg.name!r}: {e}") from None


def _check_dtype(where: str, arg: Argument, v: ArrayView) -> None:
    if v.dtype != arg.dtype:
        raise TypeError(f"{where}: argument {arg.name!r} has dtype {v.dtype}; "
                        f"expected {arg.dtype}")


def _check_shape(where: str, arg: Argument, v: ArrayView, env: Env, bound_by: dict,
                 dims: Mapping) -> None:
    """Rank, then bind the argument's bare dims not bound yet, then compare every extent."""
    if len(v.shape) != arg.rank:
        raise ValueError(f"{where}: argument {arg.name!r} has shape {_fmt_shape(v.shape)} "
                         f"({len(v.shape)} dimensions); expected {arg.expected}")
    for i, d in arg.bare_dims:
        if d not in env:
            env[d], bound_by[d] = v.shape[i], arg.name
    for i, (e, n) in enumerate(zip(arg.shape, v.shape)):
        try:
            want = evaluate(e, env)
        except ValueError:
            continue                       # a dim bound only by a later argument
        if want != n and i in arg.derived:
            raise ValueError(f"{where}: argument {arg.name!r} has shape {_fmt_shape(v.shape)}; "
                             f"its extent {i} is {n}, but with the derived "
                             f"{_derived_note(arg.derived[i], dims, env)} it must be {want}; "
                             f"expected {arg.expected}")
        if want != n:
            raise ValueError(f"{where}: argument {arg.name!r} has shape {_fmt_shape(v.shape)}; "
                             f"expected {arg.expected}{_bound_note(arg, e, env, bound_by)}")


def _bind_affine_dims(where: str, kernel: Kernel, views: Sequence[Optional[ArrayView]],
                      env: Env, bound_by: dict) -> None:
    """Bind each dim that no extent holds alone from its manifest `bind`: extent `axis` of an
    argument is scale * dim + offset, solved exactly (when that argument is given)."""
    for d, i, axis, scale, offset in kernel.affine_dims:
        arg, v = kernel.arguments[i], views[i]
        if d in env or v is None:
            continue
        value, remainder = divmod(v.shape[axis] - offset, scale)
        if remainder or value < 0:
            raise ValueError(f"{where}: argument {arg.name!r} has shape {_fmt_shape(v.shape)}; "
                             f"expected {arg.expected} ({v.shape[axis]} is not "
                             f"{render(arg.shape[axis])} for any size {d})")
        env[d], bound_by[d] = value, arg.name


def _derived_note(names: Sequence[str], dims: Mapping, env: Env) -> str:
    """'dim OH = (H - 1) // 2 + 1 = 8' for each derived dim in names (manifest dims' `derived`)."""
    notes = [f"{d} = {dims[d]['derived']['expr']} = {evaluate(dims[d]['derived']['value'], env)}"
             for d in names]
    return ("dim " if len(notes) == 1 else "dims ") + " and ".join(notes)


def _bind_derived(kernel: Kernel, env: Env) -> None:
    """The values of the derived dims, from the dims the arguments bound."""
    for d, c in kernel.dims.items():
        if "derived" in c and d not in env:
            try:
                env[d] = evaluate(c["derived"]["value"], env)
            except ValueError:
                pass                      # a dim it uses is unbound: finish_checks says which


def _bound_note(arg: Argument, e: Expr, env: Env, bound_by: dict) -> str:
    """' (M = 64 from argument 'A')' for each dim of e that took its value from another
    argument."""
    names: list = []
    _collect_dims(e, names)
    notes = [f"{d} = {env[d]} from argument {bound_by[d]!r}" for d in names
             if bound_by.get(d, arg.name) != arg.name]
    return f" ({', '.join(notes)})" if notes else ""


def _check_dims(where: str, arg: Argument, v: ArrayView, env: Env, dims: Mapping) -> None:
    for d in arg.dims:
        if d in env and not _dim_ok(env[d], dims.get(d, {})):
            raise ValueError(f"{where}: argument {arg.name!r} has shape {_fmt_shape(v.shape)}; "
                             f"expected {arg.expected} (got {d} = {env[d]})")


def _check_strides(where: str, arg: Argument, v: ArrayView, env: Env, bound_by: dict,
                   complete: bool = False) -> None:
    """C-contiguous, or (declared strides) the declared strides: their bare dims bound from the
    argument's strides, each stride a multiple of the next and at least the span of the next
    dimension (the compiled addressing and non-overlapping outputs rely on both: `complete`,
    once every dim is bound). Dimensions of extent 1 may have any stride (they have one
    element)."""
    if arg.strides is None:
        if not _c_contiguous(v.shape, v.strides):
            raise ValueError(f"{where}: argument {arg.name!r} is not C-contiguous (strides "
                             f"{v.strides} in elements); pass a contiguous copy, or declare its "
                             "strides in the spec")
        return
    have = v.strides if v.strides is not None else _c_strides(v.shape)
    for i, d in arg.bare_strides:
        if d not in env:
            env[d], bound_by[d] = have[i], arg.name
    try:
        want = [evaluate(e, env) for e in arg.strides]
    except ValueError:
        return                                 # a dim bound only by a later argument
    if any(n != 1 and a != b for n, a, b in zip(v.shape, have, want)):
        raise ValueError(f"{where}: argument {arg.name!r} has strides {_fmt_shape(have)} (in "
                         f"elements); expected {_fmt_shape(want)}: {arg.expected}"
                         f"{_bound_note(arg, {'op': '+', 'args': arg.strides}, env, bound_by)}")
    for i in range(arg.rank - 1 if complete else 0):
        if want[i] % want[i + 1] or want[i] < want[i + 1] * v.shape[i + 1]:
            raise ValueError(f"{where}: argument {arg.name!r} has strides {_fmt_shape(want)}: "
                             f"stride {i} must be a multiple of stride {i + 1} and at least "
                             f"{want[i + 1] * v.shape[i + 1]} (dimension {i + 1} spans that "
                             "many elements)")


def _c_strides(shape: Sequence[int]) -> tuple:
    """The strides (in elements) of a C-contiguous array of `shape`."""
    strides, stride = [], 1
    for n in reversed(shape):
        strides.insert(0, stride)
        stride *= n
    return tuple(strides)


def _check_placement(where: str, arg: Argument, v: ArrayView) -> None:
    """On a CUDA device, at an aligned address."""
    if v.device != "cuda":
        raise ValueError(f"{where}: argument {arg.name!r} is on the {v.device} device; "
                         f"expected a CUDA device array")
    if v.ptr % ALIGNMENT:
        raise ValueError(f"{where}: argument {arg.name!r} has data pointer {v.ptr:#x}, not "
                         f"{ALIGNMENT}-byte aligned")


def _check_one_device(where: str, views: Sequence[Optional[ArrayView]]) -> None:
    ids = {v.device_id for v in views if v is not None and v.device_id is not None}
    if len(ids) > 1:
        raise ValueError(f"{where}: the arguments are on different devices {sorted(ids)}")


def finish_checks(kernel: Kernel, env: Env) -> None:
    """Every dim bound, and the manifest's checks hold."""
    where = f"{kernel.name}()"
    for d in kernel.dims:
        if d not in env:
            raise ValueError(f"{where}: dimension {d} is not determined by the arguments given; "
                             f"pass the outputs that have it")
    for c in kernel.checks:
        lhs, rhs = evaluate(c["expr"], env), evaluate(c["bound"], env)
        if not _CMP[c["op"]](lhs, rhs):
            raise ValueError(f"{where}: {c.get('message') or 'check failed'} "
                             f"({render(c['expr'])} = {lhs}, expected {c['op']} {rhs})")


# =============================================================================================
# CUDA
# =============================================================================================
_driver: Any = None
_init_lock = threading.Lock()
DRIVER = "an NVIDIA driver of release 580 or later (CUDA 13.0)"
# what to do about a cuInit error, by its name
_CUINIT_FIXES = {
    "CUDA_ERROR_NO_DEVICE": "no GPU is visible to this process: check that the machine has one "
                            "(nvidia-smi) and that CUDA_VISIBLE_DEVICES does not hide it",
    "CUDA_ERROR_INSUFFICIENT_DRIVER": f"the driver is too old: install {DRIVER}",
}


class DriverUnavailable(RuntimeError):
    """The CUDA driver cannot be loaded or initialised: the message says why and what to do."""


def _cuda() -> Any:
    """cuda.bindings.driver, initialised on first use (DriverUnavailable when it cannot be)."""
    global _driver
    if _driver is None:
        with _init_lock:
            if _driver is None:
                _driver = _initialised_driver()
    return _driver


def _initialised_driver() -> Any:
    try:
        from cuda.bindings import driver
    except ImportError as e:
        raise DriverUnavailable(f"cuda-python is not installed ({e}): pip install "
                                "'cuda-python>=13.0,<14'") from e
    try:
        ret = driver.cuInit(0)
    except Exception as e:  # noqa: BLE001  (cuda.pathfinder's DynamicLibNotFoundError, say)
        raise DriverUnavailable(f"the NVIDIA driver library cannot be loaded ({e}): run on a "
                                f"machine with an NVIDIA GPU and {DRIVER}") from e
    if ret[0] != driver.CUresult.CUDA_SUCCESS:
        name, desc = _error_text(driver, ret[0])
        fix = _CUINIT_FIXES.get(name, f"check the driver (nvidia-smi should list the GPU; "
                                      f"{DRIVER} is needed)")
        raise DriverUnavailable(f"cuInit failed: {name}: {desc}; {fix}")
    return driver


def _error_text(d: Any, err: Any) -> tuple:
    """(name, description) of a CUresult."""
    try:
        return d.cuGetErrorName(err)[1].decode(), d.cuGetErrorString(err)[1].decode()
    except Exception:  # noqa: BLE001  (an error code the driver does not know)
        return str(err), ""


def _check(d: Any, ret: tuple, what: str) -> Any:
    """The outputs of a cuda.bindings call, or RuntimeError naming the call and the error."""
    err = ret[0]
    if err != d.CUresult.CUDA_SUCCESS:
        name, desc = _error_text(d, err)
        raise RuntimeError(f"{what} failed: {name}: {desc}")
    out = ret[1:]
    return out[0] if len(out) == 1 else (out or None)


_context_devices: dict = {}   # context handle -> its device ordinal


def _context(d: Any, device_id: Optional[int]) -> Any:
    """The current context, made current from the device's primary context when there is none
    or when the arrays live on another device."""
    ctx = _check(d, d.cuCtxGetCurrent(), "cuCtxGetCurrent")
    if int(ctx) and device_id is not None and _context_device(d, ctx) != device_id:
        ctx = None
    if ctx is None or not int(ctx):
        dev = _check(d, d.cuDeviceGet(device_id or 0), "cuDeviceGet")
        ctx = _check(d, d.cuDevicePrimaryCtxRetain(dev), "cuDevicePrimaryCtxRetain")
        _check(d, d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    return ctx


def _context_device(d: Any, ctx: Any) -> int:
    dev = _context_devices.get(int(ctx))
    if dev is None:
        dev = _context_devices[int(ctx)] = int(_check(d, d.cuCtxGetDevice(), "cuCtxGetDevice"))
    return dev


def stream_handle(stream: Any, device_id: Optional[int] = None) -> int:
    """The CUstream handle (int) for stream=: None -> torch's current stream when torch is
    imported, else 0 (the legacy default stream)."""
    if stream is None:
        current = _torch_stream or _find_torch_stream()
        return 0 if current is None else current(device_id)
    if isinstance(stream, bool):
        raise TypeError(f"stream must be a stream or an int, not {stream!r}")
    if isinstance(stream, int):
        return stream
    for attr in ("cuda_stream", "ptr", "handle"):
        h = getattr(stream, attr, None)
        if isinstance(h, int) and not isinstance(h, bool):
            return h
    proto = getattr(stream, "__cuda_stream__", None)
    if proto is not None:
        return int(proto()[1])
    try:
        return int(stream)                    # cuda.bindings CUstream
    except (TypeError, ValueError):
        raise TypeError(f"stream must be an int, a torch.cuda.Stream or an object with .ptr or "
                        f".cuda_stream, not {type(stream).__name__}") from None


_torch_stream: Optional[Callable[[Optional[int]], int]] = None   # set by _find_torch_stream


def _find_torch_stream() -> Optional[Callable[[Optional[int]], int]]:
    """torch's current-stream lookup (device index or None -> CUstream handle), kept once torch
    has initialised CUDA (it stays initialised); None before that: without an initialised
    torch CUDA state there is no current torch stream to follow."""
    global _torch_stream
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None
    # The raw-handle lookup is what torch's own kernel launchers (Triton, Inductor) use; it
    # costs a fraction of building a torch.cuda.Stream object.
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    current_device = torch.cuda.current_device

    def current(device: Optional[int]) -> int:
        if raw is None:
            return torch.cuda.current_stream(device).cuda_stream
        return raw(current_device() if device is None else device)

    _torch_stream = current
    return current


# =============================================================================================
# Kernels
# =============================================================================================
class _Param(NamedTuple):
    """A device parameter: kind "pointer" (ref: argument index), "tensormap" (ref: map index)
    or "dim" (ref: dim name, ctype "int32" or "int64")."""
    kind: str
    ref: Any
    ctype: str = ""


def _params(manifest: Mapping, index: Mapping) -> list:
    out = []
    for p in manifest["params"]:
        if p["kind"] == "pointer":
            out.append(_Param("pointer", index[p["argument"]]))
        elif p["kind"] == "tensormap":
            out.append(_Param("tensormap", p["map"]))
        elif p["kind"] == "dim":
            out.append(_Param("dim", p["dim"], p.get("ctype", "int32")))
        else:
            raise ValueError(f"{manifest['name']}: unknown parameter kind {p['kind']!r}")
    return out


def _tensormap_enums(d: Any, m: Mapping) -> tuple:
    """cuTensorMapEncodeTiled's enum arguments for one manifest tensor map."""
    swizzle, l2 = m.get("swizzle", "none"), m.get("l2_promotion", "none")
    return (
        getattr(d.CUtensorMapDataType, "CU_TENSOR_MAP_DATA_TYPE_" + _TMA_DTYPE[m["dtype"]]),
        getattr(d.CUtensorMapInterleave,
                "CU_TENSOR_MAP_INTERLEAVE_" + m.get("interleave", "none").upper()),
        getattr(d.CUtensorMapSwizzle,
                "CU_TENSOR_MAP_SWIZZLE_" + swizzle.upper()),
        getattr(d.CUtensorMapL2promotion,
                "CU_TENSOR_MAP_L2_PROMOTION_" + ("NONE" if l2 == "none" else "L2_" + l2)),
        getattr(d.CUtensorMapFloatOOBfill,
                "CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE" if m.get("oob_fill", "none") == "none"
                else "CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA"))


class _ParamBuffer:
    """cuLaunchKernel's kernelParams, packed once per launch plan: `slots` is the void*[] the
    driver reads. Pointer and dim slots point at 8-byte cells (an int32 dim is read from its
    cell's low 4 bytes: CUDA hosts are little-endian); a tensor-map slot points at the 128
    bytes of a cached CUtensorMap, which the driver copies (the map is passed by value).
    A call rewrites only the pointer cells and the tensor-map slots."""
    __slots__ = ("cells", "slots", "address", "pointers", "maps")

    def __init__(self, params: Sequence[_Param], dim_values: Mapping[str, int]) -> None:
        n = len(params)
        self.cells = (ctypes.c_int64 * max(n, 1))()
        self.slots = (ctypes.c_void_p * max(n, 1))()
        self.address = ctypes.addressof(self.slots) if n else 0    # 0: no parameters (NULL)
        self.pointers, self.maps = [], []     # (slot, argument index), (slot, map index)
        base = ctypes.addressof(self.cells)
        for i, p in enumerate(params):
            self.slots[i] = base + 8 * i
            if p.kind == "pointer":
                self.pointers.append((i, p.ref))
            elif p.kind == "tensormap":
                self.maps.append((i, p.ref))
            else:
                self.cells[i] = dim_values[p.ref]

    def fill(self, views: Sequence, tensormaps: Sequence[Any]) -> int:
        """Write this call's pointers (views as in Kernel._launch) and tensor maps; returns the
        kernelParams address."""
        cells, slots = self.cells, self.slots
        for i, a in self.pointers:
            cells[i] = views[a].ptr
        for i, m in self.maps:
            slots[i] = tensormaps[m].getPtr()
        return self.address


class _Plan:
    """What a launch needs that follows from the argument signature (shapes, strides, dtypes,
    devices, which outputs are omitted): grid, block, shared memory, the outputs to allocate,
    each tensor map's (dims, strides), and the parameter buffer with the dims filled in.
    `tensormaps` keeps the encoded maps by (map, pointer); `bound` is (context handle,
    function) of its last launch: a call in the same context launches that function without
    looking it up."""
    __slots__ = ("grid", "block", "smem", "config", "empty", "device_id", "allocations",
                 "map_layouts", "tensormaps", "buffer", "bound", "cluster_config")

    def __init__(self, kernel: Kernel, env: Env, views: Sequence[Optional[ArrayView]]) -> None:
        self.grid = tuple(evaluate(e, env) for e in kernel.grid)
        self.empty = min(self.grid) <= 0            # nothing to launch (an empty problem)
        self.device_id = next((v.device_id for v in views if v is not None and
                               v.device_id is not None), None)
        self.block = tuple(evaluate(e, env) for e in kernel.block)
        self.smem = evaluate(kernel.smem, env)
        # (argument index, shape, declared strides or None) of every omitted output
        self.allocations = [(i, tuple(evaluate(e, env) for e in kernel.arguments[i].shape),
                             None if kernel.arguments[i].strides is None else
                             tuple(evaluate(e, env) for e in kernel.arguments[i].strides))
                            for i, v in enumerate(views) if v is None]
        self.map_layouts = [(tuple(evaluate(e, env) for e in t["dims"]),
                             tuple(evaluate(e, env) for e in t["strides"]))
                            for t in kernel.tensormaps]
        if not self.empty:
            _check_tensormaps(kernel, self.map_layouts)
        self.tensormaps: dict = {}
        self.buffer = _ParamBuffer(kernel.params, _dim_params(kernel, env))
        self.config = (*self.grid, *self.block, self.smem)    # cuLaunchKernel's arguments 2-8
        self.bound: tuple = (None, None)
        self.cluster_config = None         # a cluster launch's CUlaunchConfig, made once


def _check_tensormaps(kernel: Kernel, layouts: Sequence[tuple]) -> None:
    """The driver's rules (tensormap_rules) on the parts of each tensor map that this call's
    sizes give, its dims and strides (the rest was checked when the kernel was compiled): a
    ValueError naming the kernel and the argument, instead of CUDA_ERROR_INVALID_VALUE from
    cuTensorMapEncodeTiled."""
    for t, (dims, strides) in zip(kernel.tensormaps, layouts):
        problems = tensormap_rules.violations(tensormap_rules.TensorMap(
            ITEMSIZE[t["dtype"]], dims, strides, t["box"], t["element_strides"],
            t.get("interleave", "none"), t.get("swizzle", "none"),
            t.get("l2_promotion", "none"), t.get("oob_fill", "none"),
            floating=_TMA_DTYPE[t["dtype"]].startswith(("FLOAT", "BFLOAT"))))
        if problems:
            raise ValueError(f"{kernel.name}(): argument {t['argument']!r} of shape "
                             f"{tuple(reversed(dims))} cannot be copied by TMA: {problems[0]}")


def _dim_params(kernel: Kernel, env: Env) -> dict:
    """The values of the dims passed as kernel parameters, range-checked for their C type."""
    out = {}
    for p in kernel.params:
        if p.kind == "dim":
            v = env[p.ref]
            bits = 32 if p.ctype == "int32" else 64
            if not -2 ** (bits - 1) <= v < 2 ** (bits - 1):
                raise ValueError(f"{kernel.name}(): {p.ref} = {v} does not fit in {p.ctype}")
            out[p.ref] = v
    return out


def _plan_key(values: Sequence) -> tuple:
    """(plan-cache key, views) of the arrays, unchecked: per array its signature (None for an
    omitted output) and an object with its data pointer in .ptr; (None, None) when one is not
    an array, is a torch tensor off CUDA or has a misaligned pointer (the full checks report
    it). Everything else a plan depends on is in the signatures: a torch tensor's is read
    straight from it, cheaper than an ArrayView (a plan found under it was checked with a
    tensor of that signature)."""
    key, views = [], []
    for x in values:
        if x is None:
            key.append(None)
            views.append(None)
        elif _is_torch(x):
            if not x.is_cuda:              # the checks refuse it (no plan has it)
                return None, None
            ptr = x.data_ptr()
            if ptr % ALIGNMENT:
                return None, None
            key.append((x.shape, x.stride(), x.dtype, x.get_device()))
            views.append(_Pointer(ptr))
        else:
            try:
                v = adapt(x)
            except (TypeError, ValueError):
                return None, None
            if v.ptr % ALIGNMENT:
                return None, None
            key.append(v.signature())
            views.append(v)
    return tuple(key), views


def _bounded_put(cache: dict, key: Any, value: Any, limit: int) -> None:
    """cache[key] = value, the oldest entry dropped first when the cache holds `limit`."""
    if len(cache) >= limit:
        cache.pop(next(iter(cache)))
    cache[key] = value


def _torch() -> Any:
    """The torch module, or None when it cannot be imported."""
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:
            return None
    return torch


class _Loaded:
    """The kernel's function in one context, and the dynamic shared memory it may use."""
    __slots__ = ("module", "function", "smem_limit")

    def __init__(self, module: Any, function: Any) -> None:
        self.module, self.function, self.smem_limit = module, function, DYN_SMEM_OPT_IN


def _device_facts(d: Any) -> tuple:
    """((major, minor), name) of the current context's GPU."""
    dev = _check(d, d.cuCtxGetDevice(), "cuCtxGetDevice")
    attribute = d.CUdevice_attribute
    capability = tuple(int(_check(d, d.cuDeviceGetAttribute(a, dev), "cuDeviceGetAttribute"))
                       for a in (attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                 attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR))
    name = _check(d, d.cuDeviceGetName(256, dev), "cuDeviceGetName")
    return capability, bytes(name).split(b"\0", 1)[0].decode(errors="replace")


class Kernel:
    """One compiled kernel: its manifest, precomputed for cheap calls."""

    def __init__(self, manifest: Mapping, directory: str) -> None:
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{manifest.get('name')}: manifest format {manifest.get('format')!r}"
                             f" is not {FORMAT}; recompile with this tlspec")
        self.name, self.entry = manifest["name"], manifest["entry"]
        self.arch = manifest["arch"]
        self.ptx_arch = manifest.get("ptx_arch")
        # image kind -> its file: the cubin, and the PTX when the package carries it
        self.image_paths = {"cubin": os.path.join(directory, manifest["cubin"])}
        if manifest.get("ptx"):
            self.image_paths["ptx"] = os.path.join(directory, manifest["ptx"])
        self.image: Optional[str] = None     # the kind loaded last ('cubin' or 'ptx')
        self.dims = manifest.get("dims", {})
        self.fixed = {d: c["value"] for d, c in self.dims.items() if c.get("value") is not None}
        self.arguments = [Argument(a, self.dims) for a in manifest["arguments"]]
        index = {a.name: i for i, a in enumerate(self.arguments)}
        # (dim, argument, axis, scale, offset): the dims solved from an affine extent
        self.affine_dims = [(d, index[c["bind"]["argument"]], c["bind"]["axis"],
                             c["bind"]["scale"], c["bind"]["offset"])
                            for d, c in self.dims.items() if c.get("bind")]
        self.outputs = [i for i, a in enumerate(self.arguments) if a.io in ("out", "inout")]
        # the outputs of a call's values: None, the one output, or a tuple of them
        self._result = (operator.itemgetter(*self.outputs) if self.outputs
                        else lambda values: None)
        self.checks = manifest.get("checks", [])
        self.grid, self.block = manifest["grid"], manifest["block"]
        self.cluster = manifest.get("cluster")     # a cluster launch: its extents x, y, z
        self.smem = manifest.get("dynamic_shared_bytes", 0)
        self.tensormaps = manifest.get("tensormaps", [])
        self.params = _params(manifest, index)
        self._map_arguments = [index[t["argument"]] for t in self.tensormaps]
        self._plans: dict = {}         # argument signature -> _Plan
        self._functions: dict = {}     # context handle -> _Loaded
        self._tm_enums: Optional[list] = None
        self._images: dict = {}        # image kind -> its bytes, read once
        # guards the caches and the plans' parameter buffers (filled, then launched)
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str) -> Kernel:
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f), os.path.dirname(os.path.abspath(path)))

    # -- a call ------------------------------------------------------------------------------
    def __call__(self, values: Sequence, stream: Any = None) -> Any:
        """Launch on the caller's arrays (None: an omitted output); returns the outputs."""
        key, views = _plan_key(values)
        plan = self._plans.get(key)
        if plan is None:
            views, plan = self._checked(values, key)
        if plan.allocations:
            values, views = self._allocate(values, views, plan)
        self._launch(views, plan, stream)
        return self._result(values)

    def _checked(self, values: Sequence, key: Optional[tuple]) -> tuple:
        """Full argument checks; (views, plan), the plan cached under the arrays' key (_plan_key:
        it is None only for arrays the checks refuse)."""
        views, env = check_arguments(self, values)
        plan = _Plan(self, env, views)
        with self._lock:
            _bounded_put(self._plans, key, plan, PLAN_CACHE_SIZE)
        return views, plan

    def _allocate(self, values: Sequence, views: list, plan: _Plan) -> tuple:
        """torch.empty for every omitted output (empty_strided for one with declared strides);
        (values, views) with them filled in."""
        torch = _torch()
        values, views = list(values), list(views)
        device = "cuda" if plan.device_id is None else plan.device_id
        for i, shape, strides in plan.allocations:
            arg = self.arguments[i]
            if torch is None:
                raise TypeError(f"{self.name}(): argument {arg.name!r} was not given and torch is "
                                f"not available to allocate it; pass an output array")
            dtype = getattr(torch, DTYPES[arg.dtype][2])
            values[i] = torch.empty(shape, dtype=dtype, device=device) if strides is None else \
                torch.empty_strided(shape, strides, dtype=dtype, device=device)
            views[i] = adapt(values[i])
        return values, views

    # -- CUDA --------------------------------------------------------------------------------
    def _launch(self, views: Sequence, plan: _Plan, stream: Any) -> None:
        """Launch with plan; views: per argument an object with its data pointer in .ptr (an
        ArrayView or a _Pointer)."""
        if plan.empty:
            return
        hstream = stream_handle(stream, plan.device_id)
        try:
            d = _cuda()
        except DriverUnavailable as e:
            raise RuntimeError(f"{self.name}(): cannot launch: {e}") from e
        err, ctx = d.cuCtxGetCurrent()
        context, function = plan.bound
        if err or int(ctx) != context:
            function = self._bind(d, plan)
        with self._lock:
            tensormaps = self._tensormaps(d, plan, views) if self._map_arguments else ()
            params = plan.buffer.fill(views, tensormaps)
            if self.cluster is None:
                ret = d.cuLaunchKernel(function, *plan.config, hstream, params, 0)
            else:
                ret = d.cuLaunchKernelEx(self._cluster_config(d, plan, hstream), function,
                                         params, 0)
        if ret[0]:                             # a CUresult, 0 for CUDA_SUCCESS
            _check(d, ret, f"cuLaunchKernel({self.entry}, grid={plan.grid}, "
                           f"block={plan.block}, smem={plan.smem}"
                           + (f", cluster={tuple(self.cluster)})" if self.cluster else ")"))

    def _cluster_config(self, d: Any, plan: _Plan, hstream: Any) -> Any:
        """cuLaunchKernelEx's launch configuration: the plan's grid, block and shared memory,
        and the cluster's extents as its one attribute."""
        config = plan.cluster_config
        if config is None:
            config = d.CUlaunchConfig()
            config.gridDimX, config.gridDimY, config.gridDimZ = plan.grid
            config.blockDimX, config.blockDimY, config.blockDimZ = plan.block
            config.sharedMemBytes = plan.smem
            attribute = d.CUlaunchAttribute()
            attribute.id = d.CUlaunchAttributeID.CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION
            dims = attribute.value.clusterDim
            dims.x, dims.y, dims.z = self.cluster
            config.attrs, config.numAttrs = [attribute], 1
            plan.cluster_config = config
        config.hStream = hstream
        return config

    def _bind(self, d: Any, plan: _Plan) -> Any:
        """The plan's function in the context to launch in (see _context), kept in plan.bound
        for the next call in the same context."""
        ctx = _context(d, plan.device_id)
        with self._lock:
            function = self._function(d, ctx, plan.smem)
        plan.bound = (int(ctx), function)
        return function

    def _function(self, d: Any, ctx: Any, smem: int) -> Any:
        """The kernel's function in ctx (its module loaded once), allowed smem bytes of
        dynamic shared memory. Called under self._lock."""
        loaded = self._functions.get(int(ctx))
        if loaded is None:
            loaded = self._functions[int(ctx)] = self._load(d)
        if smem > loaded.smem_limit:
            attribute = d.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            _check(d, d.cuFuncSetAttribute(loaded.function, attribute, smem),
                   f"cuFuncSetAttribute({self.entry}, MAX_DYNAMIC_SHARED_SIZE_BYTES={smem})")
            loaded.smem_limit = smem
        return loaded.function

    def _load(self, d: Any) -> _Loaded:
        """Load the image the current context's GPU can run (kernel_images.choose: the cubin,
        else the PTX, which the driver compiles for that GPU) and look the entry up;
        RuntimeError naming the kernel, the cause and what to do when there is none or the
        driver refuses it."""
        capability, device = _device_facts(d)
        kind = kernel_images.choose(self.arch, self.ptx_arch, capability)
        if kind is None:
            raise RuntimeError(kernel_images.no_image(self.name, self.arch, self.ptx_arch,
                                                      capability, device))
        path = self.image_paths[kind]
        if kind not in self._images:
            try:
                with open(path, "rb") as f:
                    # cuModuleLoadData takes PTX as a NUL-terminated string
                    self._images[kind] = f.read() + (b"\0" if kind == "ptx" else b"")
            except OSError as e:
                raise RuntimeError(f"{self.name}(): cannot read its {kind} ({e}); the package is "
                                   f"incomplete: compile it again") from None
        ret = d.cuModuleLoadData(self._images[kind])
        if ret[0] != d.CUresult.CUDA_SUCCESS:
            name, desc = _error_text(d, ret[0])
            built = self.arch if kind == "cubin" else self.ptx_arch
            raise RuntimeError(f"{self.name}(): the driver cannot load {os.path.basename(path)} "
                               f"(compiled for {built}) on {device}: {name}: {desc}; "
                               f"{self._load_fix(name)}")
        function = _check(d, d.cuModuleGetFunction(ret[1], self.entry.encode()),
                          f"{self.name}(): cuModuleGetFunction({self.entry})")
        if self.cluster and math.prod(self.cluster) > PORTABLE_CLUSTER:
            attribute = d.CUfunction_attribute.CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED
            _check(d, d.cuFuncSetAttribute(function, attribute, 1),
                   f"cuFuncSetAttribute({self.entry}, NON_PORTABLE_CLUSTER_SIZE_ALLOWED=1)")
        self.image = kind
        return _Loaded(ret[1], function)

    def _load_fix(self, error: str) -> str:
        """What to do about a cuModuleLoadData error, by its name."""
        if error == "CUDA_ERROR_NO_BINARY_FOR_GPU":
            return (f"the GPU of the current context cannot run this {self.arch} kernel: run on "
                    f"one that can (sm_90a: H100, H200), or compile for this GPU")
        if error in ("CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "CUDA_ERROR_INVALID_IMAGE",
                     "CUDA_ERROR_INVALID_SOURCE", "CUDA_ERROR_INVALID_PTX"):
            return (f"the kernel was built by CUDA 13.0, which needs {DRIVER}: update the "
                    "driver, or compile the package again if the file was damaged")
        return "check the driver (nvidia-smi), or compile the package again"

    def _tensormaps(self, d: Any, plan: _Plan, views: Sequence) -> list:
        """The CUtensorMap of each map over this call's pointers (views as in _launch), encoded
        once per pointer for the plan's (dims, strides). Called under self._lock."""
        cache, out = plan.tensormaps, []
        for i, a in enumerate(self._map_arguments):
            key = (i, views[a].ptr)
            tm = cache.get(key)
            if tm is None:
                tm = self._encode(d, i, key[1], plan.map_layouts[i])
                _bounded_put(cache, key, tm, TENSORMAP_CACHE_SIZE)
            out.append(tm)
        return out

    def _encode(self, d: Any, i: int, ptr: int, layout: tuple) -> Any:
        if self._tm_enums is None:
            self._tm_enums = [_tensormap_enums(d, m) for m in self.tensormaps]
        t, (dims, strides) = self.tensormaps[i], layout
        # cuda.bindings wants cuuint64_t / cuuint32_t objects here (plain ints raise TypeError).
        # It passes an empty list as NULL, which the driver refuses even for a rank-1 map (no
        # strides to read): give it one ignored stride instead.
        return _check(d, d.cuTensorMapEncodeTiled(
            self._tm_enums[i][0], t["rank"], ptr,
            [d.cuuint64_t(x) for x in dims], [d.cuuint64_t(x) for x in strides or (0,)],
            [d.cuuint32_t(x) for x in t["box"]], [d.cuuint32_t(x) for x in t["element_strides"]],
            *self._tm_enums[i][1:]), f"cuTensorMapEncodeTiled({self.name} map {i})")
