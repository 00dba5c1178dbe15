"""The CUDA driver as the run time uses it: cuda.bindings.driver initialised on first use, located
error text, the context to launch in, and the stream of a call."""
from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Optional

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


def cuda_driver() -> Any:
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
        name, desc = error_text(driver, ret[0])
        fix = _CUINIT_FIXES.get(name, f"check the driver (nvidia-smi should list the GPU; "
                                      f"{DRIVER} is needed)")
        raise DriverUnavailable(f"cuInit failed: {name}: {desc}; {fix}")
    return driver


def error_text(d: Any, err: Any) -> tuple:
    """(name, description) of a CUresult."""
    try:
        return d.cuGetErrorName(err)[1].decode(), d.cuGetErrorString(err)[1].decode()
    except Exception:  # noqa: BLE001  (an error code the driver does not know)
        return str(err), ""


def check(d: Any, ret: tuple, what: str) -> Any:
    """The outputs of a cuda.bindings call, or RuntimeError naming the call and the error."""
    err = ret[0]
    if err != d.CUresult.CUDA_SUCCESS:
        name, desc = error_text(d, err)
        raise RuntimeError(f"{what} failed: {name}: {desc}")
    out = ret[1:]
    return out[0] if len(out) == 1 else (out or None)


_context_devices: dict = {}   # context handle -> its device ordinal


def context(d: Any, device_id: Optional[int]) -> Any:
    """The current context, made current from the device's primary context when there is none
    or when the arrays live on another device."""
    ctx = check(d, d.cuCtxGetCurrent(), "cuCtxGetCurrent")
    if int(ctx) and device_id is not None and context_device(d, ctx) != device_id:
        ctx = None
    if ctx is None or not int(ctx):
        dev = check(d, d.cuDeviceGet(device_id or 0), "cuDeviceGet")
        ctx = check(d, d.cuDevicePrimaryCtxRetain(dev), "cuDevicePrimaryCtxRetain")
        check(d, d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    return ctx


def context_device(d: Any, ctx: Any) -> int:
    dev = _context_devices.get(int(ctx))
    if dev is None:
        dev = _context_devices[int(ctx)] = int(check(d, d.cuCtxGetDevice(), "cuCtxGetDevice"))
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


class _TorchStream:
    """`raw`: torch's lookup of a device's current CUstream (device index -> handle), once
    _find_torch_stream has found it; the launch path calls it directly."""
    raw: Optional[Callable[[int], int]] = None


TORCH_STREAM = _TorchStream()


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

    _torch_stream, TORCH_STREAM.raw = current, raw
    return current


