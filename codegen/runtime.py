"""Run-time support for a package written by `tlspec compile` (copied verbatim to _runtime.py).

Needs only the standard library and cuda-python (cuda.bindings), imported on the first launch.
torch is optional: it is used when the caller passes torch tensors or omits an output, and is
never imported here (it is found in sys.modules when the caller has imported it).

The module has three parts:
  * evaluate(): the manifest's integer expressions (no eval()),
  * adapt() / check_arguments(): what an argument is and whether the kernel accepts it, as pure
    functions that run before any CUDA call,
  * Kernel: the per-kernel launcher (lazy driver init, per-context module cache, TMA descriptor
    cache, cuLaunchKernel with the arguments packed in device-parameter order).
"""
import ctypes
import json
import os
import sys
import threading

FORMAT = 1
ALIGNMENT = 16                 # bytes; every pointer a kernel receives must be this aligned
DYN_SMEM_OPT_IN = 48 * 1024    # above this a kernel needs the MAX_DYNAMIC_SHARED_SIZE attribute
TENSORMAP_CACHE_SIZE = 256     # encoded descriptors kept per kernel
PLAN_CACHE_SIZE = 64           # argument signatures (shapes, strides, dtypes) kept per kernel


# =============================================================================================
# Expressions
# =============================================================================================
def _ceildiv(a, b):
    return -(-a // b)


_OPS = {
    "+": lambda a: sum(a),
    "-": lambda a: a[0] - a[1],
    "*": lambda a: _product(a),
    "//": lambda a: a[0] // a[1],
    "%": lambda a: a[0] % a[1],
    "ceildiv": lambda a: _ceildiv(a[0], a[1]),
    "min": lambda a: min(a),
    "max": lambda a: max(a),
    "neg": lambda a: -a[0],
}
_ARITY = {"-": 2, "//": 2, "%": 2, "ceildiv": 2, "neg": 1}


def _product(values):
    out = 1
    for v in values:
        out *= v
    return out


def evaluate(expr, env):
    """Value of a manifest expression: an int, {"dim": NAME} or {"op": OP, "args": [EXPR...]}."""
    if isinstance(expr, bool):
        raise ValueError(f"invalid expression {expr!r}")
    if isinstance(expr, int):
        return expr
    if isinstance(expr, dict):
        if "dim" in expr:
            try:
                return env[expr["dim"]]
            except KeyError:
                raise ValueError(f"dimension {expr['dim']!r} has no value") from None
        op = expr.get("op")
        if op in _OPS:
            args = [evaluate(a, env) for a in expr.get("args", ())]
            want = _ARITY.get(op)
            if (want is not None and len(args) != want) or not args:
                raise ValueError(f"operator {op!r} takes {want or 'at least 1'} argument(s), "
                                 f"got {len(args)}")
            if op in ("//", "%", "ceildiv") and args[1] == 0:
                raise ValueError(f"division by zero in {render(expr)}")
            return _OPS[op](args)
    raise ValueError(f"invalid expression {expr!r}")


def render(expr):
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

    def __init__(self, obj, ptr, shape, strides, dtype, device, device_id):
        self.obj, self.ptr, self.shape, self.strides = obj, ptr, shape, strides
        self.dtype, self.device, self.device_id = dtype, device, device_id


def _is_torch(x):
    return type(x).__module__.split(".", 1)[0] == "torch"


_torch_dtypes = {}   # torch.dtype -> spec dtype name, filled as dtypes are seen


def _torch_dtype(t):
    name = _torch_dtypes.get(t)
    if name is None:
        short = str(t).replace("torch.", "")
        name = _torch_dtypes[t] = _FROM_TORCH.get(short, short)
    return name


def _adapt_torch(x):
    dev = x.device
    dtype = _torch_dtype(x.dtype)
    return ArrayView(x, x.data_ptr(), tuple(x.shape), tuple(x.stride()), dtype, dev.type,
                     dev.index)


def _adapt_cai(x, cai):
    shape = tuple(int(s) for s in cai["shape"])
    typestr = cai["typestr"]
    if typestr[:1] == ">" and typestr[2:] != "1":
        dtype = "big-endian " + typestr[1:]
    else:
        dtype = _FROM_TYPESTR.get(typestr[1:], typestr)
    strides = cai.get("strides")
    if strides is not None:
        size = int(typestr[2:] or 0) or 1
        if any(s % size for s in strides):
            raise ValueError(f"strides {tuple(strides)} are not multiples of the item size")
        strides = tuple(int(s) // size for s in strides)
    ptr = cai["data"][0] or 0
    return ArrayView(x, int(ptr), shape, strides, dtype, "cuda", None)


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


def _adapt_dlpack(x):
    dev_type, dev_id = x.__dlpack_device__()
    device = _DL_DEVICES.get(int(dev_type), f"dlpack device {int(dev_type)}")
    if device != "cuda":
        return ArrayView(x, 0, (), None, "?", device, int(dev_id))
    capsule = x.__dlpack__()
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    address = get(capsule, b"dltensor")      # raises ValueError when the name differs
    t = _DLManagedTensor.from_address(address).dl_tensor
    shape = tuple(t.shape[i] for i in range(t.ndim))
    strides = tuple(t.strides[i] for i in range(t.ndim)) if t.strides else None
    key = (t.dtype.code, t.dtype.bits)
    dtype = _FROM_DLPACK.get(key, f"dlpack type code {key[0]} bits {key[1]}")
    if t.dtype.lanes != 1:
        dtype += f" x{t.dtype.lanes}"
    ptr = (t.data or 0) + t.byte_offset
    # the capsule is not consumed: its destructor releases the export; the memory stays owned by x
    del capsule
    return ArrayView(x, ptr, shape, strides, dtype, device, int(dev_id))


def adapt(x):
    """An ArrayView of a torch tensor, a __cuda_array_interface__ object or a DLPack object."""
    if isinstance(x, ArrayView):
        return x
    if _is_torch(x) and hasattr(x, "data_ptr"):
        return _adapt_torch(x)
    cai = getattr(x, "__cuda_array_interface__", None)
    if cai is not None:
        return _adapt_cai(x, cai)
    if hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        return _adapt_dlpack(x)
    raise TypeError(f"a {type(x).__module__}.{type(x).__qualname__} is not a GPU array (expected "
                    f"a torch tensor, an object with __cuda_array_interface__, or a DLPack array)")


def _c_contiguous(shape, strides):
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
def dim_rules(c):
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


def _dim_rule(name, c):
    return [f"{name} {rule}" for rule in dim_rules(c)]


def _dim_ok(value, c):
    return ((c.get("value") is None or value == c["value"])
            and (c.get("multiple_of") in (None, 0) or value % c["multiple_of"] == 0)
            and (c.get("min") is None or value >= c["min"])
            and (c.get("max") is None or value <= c["max"]))


class Argument:
    __slots__ = ("name", "dtype", "shape", "io", "doc", "rank", "expected", "dims", "itemsize")

    def __init__(self, m, dims):
        self.name, self.dtype, self.io = m["name"], m["dtype"], m.get("io", "in")
        self.doc, self.shape = m.get("doc", ""), list(m["shape"])
        self.rank, self.itemsize = len(self.shape), ITEMSIZE[self.dtype]
        names = []
        for e in self.shape:
            _collect_dims(e, names)
        self.dims = names
        text = ", ".join(render(e) for e in self.shape)
        text = f"({text},)" if self.rank == 1 else f"({text})"
        rules = [r for d in names for r in _dim_rule(d, dims.get(d, {}))
                 if dims.get(d, {}).get("value") is None]
        self.expected = text + (" with " + " and ".join(rules) if rules else "")


def _collect_dims(expr, out):
    if isinstance(expr, dict):
        if "dim" in expr:
            if expr["dim"] not in out:
                out.append(expr["dim"])
        else:
            for a in expr.get("args", ()):
                _collect_dims(a, out)


def _fmt_shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


_CMP = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def check_arguments(kernel, values, allow_missing=False):
    """Check the caller's arrays against a kernel's arguments; returns (views, dims).

    kernel: a Kernel (or anything with .name, .arguments, .dims, .checks). values: the arrays in
    argument order; None entries are skipped when allow_missing (outputs still to allocate).
    Raises TypeError (not an array, wrong dtype) or ValueError (device, shape, dims, layout,
    alignment, checks) naming the kernel, the argument and what was expected."""
    where = f"{kernel.name}()"
    env, bound_by = dict(kernel.fixed), {}
    views = []
    for arg, x in zip(kernel.arguments, values):
        if x is None:
            if not allow_missing:
                raise TypeError(f"{where}: missing required argument {arg.name!r}")
            views.append(None)
            continue
        try:
            v = adapt(x)
        except TypeError as e:
            raise TypeError(f"{where}: argument {arg.name!r}: {e}") from None
        except ValueError as e:
            raise ValueError(f"{where}: argument {arg.name!r}: {e}") from None
        if v.device != "cuda":
            raise ValueError(f"{where}: argument {arg.name!r} is on the {v.device} device; "
                             f"expected a CUDA device array")
        if v.dtype != arg.dtype:
            raise TypeError(f"{where}: argument {arg.name!r} has dtype {v.dtype}; "
                            f"expected {arg.dtype}")
        if len(v.shape) != arg.rank:
            raise ValueError(f"{where}: argument {arg.name!r} has shape {_fmt_shape(v.shape)} "
                             f"({len(v.shape)} dimensions); expected {arg.expected}")
        # bind the bare symbolic dims, then check every entry
        for e, n in zip(arg.shape, v.shape):
            if isinstance(e, dict) and "dim" in e:
                d = e["dim"]
                if d not in env:
                    env[d], bound_by[d] = n, arg.name
        for e, n in zip(arg.shape, v.shape):
            try:
                want = evaluate(e, env)
            except ValueError:
                continue                       # a dim bound only by a later argument
            if want != n:
                note = ""
                if isinstance(e, dict) and "dim" in e and bound_by.get(e["dim"], arg.name) != arg.name:
                    note = f" ({e['dim']} = {want} from argument {bound_by[e['dim']]!r})"
                raise ValueError(f"{where}: argument {arg.name!r} has shape "
                                 f"{_fmt_shape(v.shape)}; expected {arg.expected}{note}")
        for d in arg.dims:
            c = kernel.dims.get(d, {})
            if d in env and not _dim_ok(env[d], c):
                raise ValueError(f"{where}: argument {arg.name!r} has shape {_fmt_shape(v.shape)}; "
                                 f"expected {arg.expected} (got {d} = {env[d]})")
        if not _c_contiguous(v.shape, v.strides):
            raise ValueError(f"{where}: argument {arg.name!r} is not C-contiguous (strides "
                             f"{v.strides} in elements); pass a contiguous copy")
        if v.ptr % ALIGNMENT:
            raise ValueError(f"{where}: argument {arg.name!r} has data pointer {v.ptr:#x}, not "
                             f"{ALIGNMENT}-byte aligned")
        views.append(v)
    ids = {v.device_id for v in views if v is not None and v.device_id is not None}
    if len(ids) > 1:
        raise ValueError(f"{where}: the arguments are on different devices {sorted(ids)}")
    if not allow_missing or all(v is not None for v in views):
        finish_checks(kernel, env)
    return views, env


def finish_checks(kernel, env):
    where = f"{kernel.name}()"
    for d in kernel.dims:
        if d not in env:
            raise ValueError(f"{where}: dimension {d} is not determined by the arguments")
    for c in kernel.checks:
        lhs, rhs = evaluate(c["expr"], env), evaluate(c["bound"], env)
        if not _CMP[c["op"]](lhs, rhs):
            raise ValueError(f"{where}: {c.get('message') or 'check failed'} "
                             f"({render(c['expr'])} = {lhs}, expected {c['op']} {rhs})")


# =============================================================================================
# CUDA
# =============================================================================================
_driver = None
_lock = threading.Lock()


def _cuda():
    global _driver
    if _driver is None:
        with _lock:
            if _driver is None:
                from cuda.bindings import driver
                _check(driver, driver.cuInit(0), "cuInit")
                _driver = driver
    return _driver


def _check(d, ret, what):
    err = ret[0]
    if err != d.CUresult.CUDA_SUCCESS:
        try:
            name = d.cuGetErrorName(err)[1].decode()
            desc = d.cuGetErrorString(err)[1].decode()
        except Exception:
            name, desc = str(err), ""
        raise RuntimeError(f"{what} failed: {name}: {desc}")
    out = ret[1:]
    return out[0] if len(out) == 1 else (out or None)


_context_devices = {}   # context handle -> its device ordinal


def _context(d, device_id):
    """The current context, made current from the device's primary context when there is none
    or when the arrays live on another device."""
    ctx = _check(d, d.cuCtxGetCurrent(), "cuCtxGetCurrent")
    if int(ctx) and device_id is not None:
        dev = _context_devices.get(int(ctx))
        if dev is None:
            dev = _context_devices[int(ctx)] = int(_check(d, d.cuCtxGetDevice(), "cuCtxGetDevice"))
        if dev != device_id:
            ctx = None
    if ctx is None or not int(ctx):
        dev = _check(d, d.cuDeviceGet(device_id or 0), "cuDeviceGet")
        ctx = _check(d, d.cuDevicePrimaryCtxRetain(dev), "cuDevicePrimaryCtxRetain")
        _check(d, d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    return ctx


def stream_handle(stream, device_id=None):
    """The CUstream handle (int) for stream=: None -> torch's current stream when torch is
    imported, else 0 (the legacy default stream)."""
    if stream is None:
        torch = sys.modules.get("torch")
        # Without an initialised torch CUDA state there is no current torch stream to follow.
        if torch is not None and torch.cuda.is_initialized():
            return torch.cuda.current_stream(device_id).cuda_stream
        return 0
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


class Kernel:
    """One compiled kernel: its manifest, precomputed for cheap calls."""

    def __init__(self, manifest, directory):
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{manifest.get('name')}: manifest format {manifest.get('format')!r}"
                             f" is not {FORMAT}; recompile with this tlspec")
        self.manifest, self.directory = manifest, directory
        self.name, self.entry = manifest["name"], manifest["entry"]
        self.dims = manifest.get("dims", {})
        self.fixed = {d: c["value"] for d, c in self.dims.items() if c.get("value") is not None}
        self.arguments = [Argument(a, self.dims) for a in manifest["arguments"]]
        self.index = {a.name: i for i, a in enumerate(self.arguments)}
        self.outputs = [i for i, a in enumerate(self.arguments) if a.io in ("out", "inout")]
        self.allocatable = [i for i, a in enumerate(self.arguments) if a.io == "out"]
        self.checks = manifest.get("checks", [])
        self.grid, self.block = manifest["grid"], manifest["block"]
        self.smem = manifest.get("dynamic_shared_bytes", 0)
        self.tensormaps = manifest.get("tensormaps", [])
        self.params = []
        for p in manifest["params"]:
            if p["kind"] == "pointer":
                self.params.append(("pointer", self.index[p["argument"]]))
            elif p["kind"] == "tensormap":
                self.params.append(("tensormap", p["map"]))
            elif p["kind"] == "dim":
                self.params.append(("dim", p["dim"], p.get("ctype", "int32")))
            else:
                raise ValueError(f"{self.name}: unknown parameter kind {p['kind']!r}")
        self._tm_index = [self.index[t["argument"]] for t in self.tensormaps]
        # cuLaunchKernel's argument types, in device parameter order (None: passed as is, a
        # CUtensorMap by value)
        self._param_types = tuple(
            ctypes.c_void_p if p[0] == "pointer" else None if p[0] == "tensormap"
            else ctypes.c_int64 if p[2] == "int64" else ctypes.c_int32 for p in self.params)
        self._plans = {}            # argument signature -> launch plan (see _plan)
        self._cubin = None
        self._functions = {}        # context handle -> (module, function, [smem limit set])
        self._tmaps = {}            # (map, pointer, dims) -> CUtensorMap
        self._tm_enums = None

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f), os.path.dirname(os.path.abspath(path)))

    # -- CUDA objects ------------------------------------------------------------------------
    def _function(self, d, ctx):
        key = int(ctx)
        entry = self._functions.get(key)
        if entry is None:
            if self._cubin is None:
                with open(os.path.join(self.directory, self.manifest["cubin"]), "rb") as f:
                    self._cubin = f.read()
            module = _check(d, d.cuModuleLoadData(self._cubin),
                            f"cuModuleLoadData({self.manifest['cubin']})")
            func = _check(d, d.cuModuleGetFunction(module, self.entry.encode()),
                          f"cuModuleGetFunction({self.entry})")
            entry = self._functions[key] = [module, func, DYN_SMEM_OPT_IN]
        return entry

    def _tensormap(self, d, i, view, layout):
        """The CUtensorMap of map i for this pointer; layout = (dims, strides) from the plan."""
        t = self.tensormaps[i]
        dims, strides = layout
        key = (i, view.ptr, dims)
        tm = self._tmaps.get(key)
        if tm is not None:
            return tm
        if self._tm_enums is None:
            self._tm_enums = [(
                getattr(d.CUtensorMapDataType, "CU_TENSOR_MAP_DATA_TYPE_" + _TMA_DTYPE[m["dtype"]]),
                getattr(d.CUtensorMapInterleave,
                        "CU_TENSOR_MAP_INTERLEAVE_" + m.get("interleave", "none").upper()),
                getattr(d.CUtensorMapSwizzle,
                        "CU_TENSOR_MAP_SWIZZLE_" + ("NONE" if m.get("swizzle", "none") == "none"
                                                    else "_" + m["swizzle"])),
                getattr(d.CUtensorMapL2promotion,
                        "CU_TENSOR_MAP_L2_PROMOTION_" + ("NONE" if m.get("l2_promotion", "none")
                                                         == "none" else "L2_" + m["l2_promotion"])),
                getattr(d.CUtensorMapFloatOOBfill,
                        "CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE" if m.get("oob_fill", "none") == "none"
                        else "CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA"))
                for m in self.tensormaps]
        dtype, interleave, swizzle, l2, oob = self._tm_enums[i]
        tm = _check(d, d.cuTensorMapEncodeTiled(
            dtype, t["rank"], view.ptr,
            [d.cuuint64_t(x) for x in dims], [d.cuuint64_t(x) for x in strides],
            [d.cuuint32_t(x) for x in t["box"]], [d.cuuint32_t(x) for x in t["element_strides"]],
            interleave, swizzle, l2, oob), f"cuTensorMapEncodeTiled({self.name} map {i})")
        if len(self._tmaps) >= TENSORMAP_CACHE_SIZE:
            self._tmaps.pop(next(iter(self._tmaps)))
        self._tmaps[key] = tm
        return tm

    # -- a call ------------------------------------------------------------------------------
    def allocate(self, views, env):
        """torch.empty for every omitted output (needs torch)."""
        torch = sys.modules.get("torch")
        if torch is None:
            try:
                import torch
            except ImportError:
                torch = None
        out = {}
        device_id = next((v.device_id for v in views if v is not None and
                          v.device_id is not None), None)
        for i in self.allocatable:
            if views[i] is not None:
                continue
            arg = self.arguments[i]
            if torch is None:
                raise TypeError(f"{self.name}(): argument {arg.name!r} was not given and torch is "
                                f"not available to allocate it; pass an output array")
            try:
                shape = [evaluate(e, env) for e in arg.shape]
            except ValueError as e:
                raise ValueError(f"{self.name}(): cannot allocate argument {arg.name!r}: {e}; "
                                 f"pass it") from None
            dev = torch.device("cuda", device_id) if device_id is not None else torch.device("cuda")
            out[i] = torch.empty(shape, dtype=getattr(torch, DTYPES[arg.dtype][2]), device=dev)
        return out

    def __call__(self, values, stream=None):
        # Fast path: everything but the pointers depends only on the arrays' shapes, strides,
        # dtypes and devices, so a signature checked before needs only the alignment check.
        plan = None
        # `x is None`, not `None in values`: that would call each array's __eq__ (slow in torch)
        if not any(x is None for x in values):
            try:
                views = [adapt(x) for x in values]
            except (TypeError, ValueError):
                views = None                         # the full check below reports it
            if views is not None:
                plan = self._plans.get(tuple((v.shape, v.strides, v.dtype, v.device, v.device_id)
                                             for v in views))
        if plan is None or any(v.ptr % ALIGNMENT for v in views):
            values, views, plan = self._checked(values)
        self._launch(views, plan, stream)
        outs = [values[i] for i in self.outputs]
        return None if not outs else outs[0] if len(outs) == 1 else tuple(outs)

    def _checked(self, values):
        """Full argument checks and output allocation; (values, views, plan), the plan cached
        for the signature of the arrays."""
        missing = [i for i in self.allocatable if values[i] is None]
        views, env = check_arguments(self, values, allow_missing=bool(missing))
        required = [self.arguments[i].name for i, v in enumerate(views)
                    if v is None and i not in self.allocatable]
        if required:
            raise TypeError(f"{self.name}(): missing required argument {required[0]!r}")
        if missing:
            values = list(values)
            for i, x in self.allocate(views, env).items():
                values[i] = x
                views[i] = adapt(x)
            finish_checks(self, env)
        plan = self._plan(env)
        if len(self._plans) >= PLAN_CACHE_SIZE:
            self._plans.pop(next(iter(self._plans)))
        self._plans[tuple((v.shape, v.strides, v.dtype, v.device, v.device_id)
                          for v in views)] = plan
        return values, views, plan

    def _plan(self, env):
        """What a launch needs that follows from the dims: grid, block, shared memory, the
        values of the dim parameters, and each tensor map's dims and strides."""
        dims = []
        for p in self.params:
            if p[0] == "dim":
                v = env[p[1]]
                if p[2] == "int32" and not -2**31 <= v < 2**31:
                    raise ValueError(f"{self.name}(): {p[1]} = {v} does not fit in int32")
                dims.append(v)
        maps = [(tuple(evaluate(e, env) for e in t["dims"]),
                 tuple(evaluate(e, env) for e in t["strides"])) for t in self.tensormaps]
        return (tuple(evaluate(e, env) for e in self.grid),
                tuple(evaluate(e, env) for e in self.block), evaluate(self.smem, env), dims, maps)

    def launch(self, views, env, stream=None):
        """Launch on checked arguments (views from check_arguments, env the bound dims)."""
        self._launch(views, self._plan(env), stream)

    def _launch(self, views, plan, stream):
        grid, block, smem, dim_values, maps = plan
        if min(grid) <= 0:
            return                                   # nothing to do (an empty problem)
        device_id = next((v.device_id for v in views if v.device_id is not None), None)
        hstream = stream_handle(stream, device_id)
        d = _cuda()
        ctx = _context(d, device_id)
        entry = self._function(d, ctx)
        func = entry[1]
        if smem > entry[2]:
            _check(d, d.cuFuncSetAttribute(
                func, d.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem),
                f"cuFuncSetAttribute({self.entry}, MAX_DYNAMIC_SHARED_SIZE_BYTES={smem})")
            entry[2] = smem
        vals = []
        dim_values = iter(dim_values)
        for p in self.params:
            if p[0] == "pointer":
                vals.append(views[p[1]].ptr)
            elif p[0] == "tensormap":
                vals.append(self._tensormap(d, p[1], views[self._tm_index[p[1]]], maps[p[1]]))
            else:
                vals.append(next(dim_values))
        ret = d.cuLaunchKernel(func, *grid, *block, smem, d.CUstream(hstream),
                               (tuple(vals), self._param_types), 0)
        if ret[0] != d.CUresult.CUDA_SUCCESS:
            _check(d, ret, f"cuLaunchKernel({self.entry}, grid={grid}, block={block}, "
                           f"smem={smem})")
