"""The package's compiled launcher, when it has one: _native_launch.abi3.so, which `tlspec
compile` builds from codegen/_native_launch.c with the host's C compiler. A kernel's Launcher
repeats in C the launches the Python path made (see that file); without the library (no C
compiler where the package was compiled, another platform, a free-threaded Python) or with
TLSPEC_NATIVE_LAUNCH=0 in the environment, every call takes the Python path."""
from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import Any, Callable, Optional, Sequence

try:
    from . import _native_launch as _module
    REASON = ""
except ImportError as e:        # what tests and `bench/bench_launch.py` report
    _module, REASON = None, f"the compiled launcher cannot be imported ({e})"

_exporters: dict = {}           # array type -> whether its calls may be repeated from C
_exact_unit_dims: list = []     # [whether torch's exporter reports a unit dim's stride], once
_lock = threading.Lock()


def launcher(n_arrays: int, outputs: Sequence[int], fallback: Callable) -> Optional[Any]:
    """A kernel's Launcher (its `call(values, stream)` launches a remembered call, else calls
    fallback(values, stream)), or None: the Python path alone."""
    if (_module is None or not 0 < n_arrays <= _module.MAX_ARRAYS
            or os.environ.get("TLSPEC_NATIVE_LAUNCH", "1") == "0"):
        return None
    return _module.Launcher(n_arrays, tuple(outputs), fallback)


def exportable(values: Sequence) -> bool:
    """Whether every value is a torch tensor whose type has a DLPack C exchange API the C side
    reads (an omitted output is not): asked once per launch plan, whose calls the C side may
    then repeat. Only torch's: for stream=None the Python path launches on torch's current
    stream, which only torch's exporter reports alike."""
    for x in values:
        array_type = type(x)
        exports = _exporters.get(array_type)
        if exports is None:
            torch = sys.modules.get("torch")
            tensor = getattr(torch, "Tensor", None)
            exports = (_module is not None and isinstance(tensor, type)
                       and issubclass(array_type, tensor)
                       and _module.has_exchange_api(array_type))
            with _lock:
                _exporters[array_type] = exports
        if not exports:
            return False
    return True


def remember(native: Any, values: Sequence, stream: Any, pointers: tuple, prepared: Any,
             via: Any) -> bool:
    """Let `native` repeat `prepared`, the launch the Python path just made of `values` (asked
    with `stream`), for later calls of the same arrays' layout at the same addresses on the
    same stream; False when it cannot (the arrays' export, a unit dim: their plan's calls need
    not try again)."""
    address = getattr(via, "address", None)           # ctypes' cuLaunchKernelEx (not a stand-in)
    if address is None or not (stream is None or type(stream) is int):
        return True                                   # this call's stream or driver, not the plan
    config, function, params, _ = prepared.args
    config = config._obj                       # the CUlaunchConfig (args[0] is its byref)
    return native.remember(values, stream, config.stream or 0, pointers, address,
                    ctypes.addressof(config), function.value or 0,
                    0 if params is None else params.value, prepared,
                    unit_dims_exact())


def unit_dims_exact() -> bool:
    """Whether torch's DLPack exporter (the only one remembered: `exportable`) reports the
    stride of a dim of extent 1 as it is, asked once with a tensor (1, 2) of strides (7, 1):
    where it normalises it, two arrays that differ only there would look alike, so the C side
    leaves arrays with a unit dim to the Python path."""
    if not _exact_unit_dims:
        torch = sys.modules.get("torch")
        try:
            known = _module.exported_strides(torch.empty_strided((1, 2), (7, 1))) == (7, 1)
        except Exception:       # noqa: BLE001  (any failure, a stand-in torch's included: no)
            known = False
        with _lock:
            _exact_unit_dims[:] = [known]
    return _exact_unit_dims[0]
