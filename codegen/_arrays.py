"""Array intake: what a caller's argument is (a torch tensor, a __cuda_array_interface__ object or
a DLPack array) as an ArrayView of its pointer, shape, strides, dtype and device, read without
CUDA and without importing torch."""
from __future__ import annotations

import ctypes
from typing import Any, Callable, Mapping, Optional, Sequence

ALIGNMENT = 16                 # bytes; every pointer a kernel receives must be this aligned
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


_torch_types: dict = {}   # type -> whether it is a torch tensor type, filled as types are seen


def is_torch(x: Any) -> bool:
    t = type(x)
    known = _torch_types.get(t)
    if known is None:
        known = _torch_types[t] = (t.__module__.split(".", 1)[0] == "torch"
                                   and hasattr(t, "data_ptr"))
    return known


_torch_dtypes: dict = {}   # torch.dtype -> spec dtype name, filled as dtypes are seen


def torch_dtype(t: Any) -> str:
    name = _torch_dtypes.get(t)
    if name is None:
        short = str(t).replace("torch.", "")
        name = _torch_dtypes[t] = _FROM_TORCH.get(short, short)
    return name


def _adapt_torch(x: Any, pointer: bool) -> ArrayView:
    # is_cuda and get_device() are much cheaper than building a torch.device; the pointer of a
    # tensor off CUDA is never used (the device check refuses it), and a meta tensor has none
    if x.is_cuda:
        ptr, device, device_id = x.data_ptr() if pointer else 0, "cuda", x.get_device()
    else:
        ptr, device, device_id = 0, x.device.type, x.device.index
    return ArrayView(x, ptr, tuple(x.shape), x.stride(), torch_dtype(x.dtype), device, device_id)


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


def adapt(x: Any, pointer: bool = True) -> ArrayView:
    """An ArrayView of a torch tensor, a __cuda_array_interface__ object or a DLPack object;
    pointer=False leaves a torch tensor's data pointer unread (0): a fake tensor has none."""
    if isinstance(x, ArrayView):
        return x
    if is_torch(x):
        return _adapt_torch(x, pointer)
    cai = getattr(x, "__cuda_array_interface__", None)
    if cai is not None:
        return _adapt_cai(x, cai)
    if hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        return _adapt_dlpack(x)
    raise TypeError(f"a {type(x).__module__}.{type(x).__qualname__} is not a GPU array (expected "
                    f"a torch tensor, an object with __cuda_array_interface__, or a DLPack array)")


def c_contiguous(shape: Sequence[int], strides: Optional[Sequence[int]]) -> bool:
    if strides is None:
        return True
    expect = 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1 and s != expect:
            return False
        expect *= n
    return True



def intake(values: Sequence) -> tuple:
    """(plan-cache key, data pointers) of a call's arrays, unchecked: per array its signature
    (None for an omitted output) and its pointer (0 for an omitted output); (None, None) when
    one is not an array, is a torch tensor off CUDA or has a misaligned pointer (the full checks
    report it). A torch tensor's signature is read straight from it (no DLPack export, no view):
    a plan found under it was checked with a tensor of that signature.

    The key is flat, the cheapest to build and hash: a torch tensor adds its four fields (shape,
    strides, dtype, device index), any other argument one item (None, or a tuple holding a
    non-int). Equal keys have the same layout: a torch shape holds only ints, so it equals none
    of the one-item entries it could be aligned with."""
    key: list = []
    ptrs: list = []
    for x in values:
        torch = _torch_types.get(type(x))         # is_torch without a call, once a type is known
        if torch is None:
            torch = is_torch(x)
        if torch:
            if not x.is_cuda:              # the checks refuse it (no plan has it)
                return None, None
            ptr = x.data_ptr()
            key += (x.shape, x.stride(), x.dtype, x.get_device())
        elif x is None:
            key.append(None)
            ptr = 0
        else:
            cai = getattr(x, "__cuda_array_interface__", None)
            if cai is not None:              # its signature: the interface's own fields
                ptr, strides = cai["data"][0] or 0, cai.get("strides")
                key.append((tuple(cai["shape"]), strides and tuple(strides), cai["typestr"]))
            else:
                try:
                    v = adapt(x)
                except (TypeError, ValueError):
                    return None, None
                ptr = v.ptr
                key.append(v.signature())
        if ptr % ALIGNMENT:
            return None, None
        ptrs.append(ptr)
    return tuple(key), tuple(ptrs)


_FAST_INTAKE = """
def intake_{n}(values):
    try:
        {xs}, = values
    except ValueError:
        return intake(values)
    if {known} and {cuda}:
        {ps} = {ptrs}
        if not ({ors}) % ALIGNMENT:
            return ({fields},), ({ps},)
    return intake(values)
"""
_fast_intakes: dict = {}   # number of arrays -> its intake_for function


def intake_for(n: int) -> Callable[[Sequence], tuple]:
    """intake for calls of n arrays, the same (key, pointers), with a fast path written out for
    n arrays (no loop, no lists: about a third of intake's own time) taken when every array is
    a CUDA torch tensor of a type seen before at an aligned address; any other call goes
    through intake. Made once per n by exec of generated code (as collections.namedtuple
    does); n is the only thing substituted."""
    found = _fast_intakes.get(n)
    if found is None:
        if n < 1:
            return intake
        xs = [f"x{i}" for i in range(n)]
        source = _FAST_INTAKE.format(
            n=n, xs=", ".join(xs),
            known=" and ".join(f"_torch_types.get(type({x}))" for x in xs),
            cuda=" and ".join(f"{x}.is_cuda" for x in xs),
            ps=", ".join(f"p{i}" for i in range(n)),
            ptrs=", ".join(f"{x}.data_ptr()" for x in xs),
            ors=" | ".join(f"p{i}" for i in range(n)),
            fields=", ".join(f"{x}.shape, {x}.stride(), {x}.dtype, {x}.get_device()"
                             for x in xs))
        scope = {"intake": intake, "_torch_types": _torch_types, "ALIGNMENT": ALIGNMENT}
        exec(source, scope)                  # noqa: S102  (code made from n alone)
        found = _fast_intakes[n] = scope[f"intake_{n}"]
    return found
