"""How a launch reaches the driver, at the least cost per call.

cuda.bindings converts each of cuLaunchKernel's eleven arguments on every call (about 3 us of
the 4 us of a bare launch from Python). The launcher here instead calls libcuda's
cuLaunchKernelEx through ctypes, its function pointer found with cuGetProcAddress (the same
driver library cuda.bindings loaded), with four pre-made arguments: a CUlaunchConfig struct
built once per (plan, stream) with grid, block, shared memory, stream and cluster, the function
handle, the packed kernelParams address and NULL. The function pointers are declared without
argument types and called with ready ctypes objects (c_void_p, byref of a per-thread cell): ctypes
then converts nothing per call (a declared c_void_p converts each Python int anew).

A driver object without cuGetProcAddress (a test's stand-in for cuda.bindings.driver) gets the
cuda.bindings launcher, which makes the same calls through the object's own methods.

Both launchers are safe from several threads: nothing they hold changes after it is made, and
the context cell of cuCtxGetCurrent is per thread.
"""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, Optional, Sequence

CLUSTER_DIMENSION = 4          # CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION
_PTDS = "CUDA_PYTHON_CUDA_PER_THREAD_DEFAULT_STREAM"    # cuda.bindings' switch, followed here


class _LaunchAttribute(ctypes.Structure):
    """CUlaunchAttribute: an id, 4 bytes of padding and a 64-byte value union (clusterDim is
    its first 12 bytes)."""
    _fields_ = [("id", ctypes.c_int), ("pad", ctypes.c_char * 4),
                ("value", ctypes.c_uint * 16)]


class _LaunchConfig(ctypes.Structure):
    """CUlaunchConfig (cuda.h): grid, block, shared memory bytes, stream, attributes."""
    _fields_ = [("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3),
                ("smem", ctypes.c_uint), ("stream", ctypes.c_void_p),
                ("attrs", ctypes.POINTER(_LaunchAttribute)), ("num_attrs", ctypes.c_uint)]


class Launch:
    """One prepared launch: `args` for Launcher.launch, the objects they point into, and the
    context its function belongs to. A head (a launch without its kernelParams) has
    args[params_at] = None; with_params completes it."""
    __slots__ = ("args", "keep", "params_at", "context")

    def __init__(self, args: tuple, keep: Any, params_at: int, context: int = 0) -> None:
        self.args, self.keep, self.params_at, self.context = args, keep, params_at, context

    def with_params(self, buffer: Any, address: Any, context: int) -> Launch:
        """This head's launch with buffer's kernelParams (a ParamBuffer, which it keeps) passed
        as `address` (the launcher's param(buffer)), in `context` (the head's function's)."""
        at = self.params_at
        return Launch(self.args[:at] + (address,) + self.args[at + 1:], (self.keep, buffer), at,
                      context)


class CtypesLauncher:
    """cuLaunchKernelEx and cuCtxGetCurrent of libcuda, called through ctypes."""

    def __init__(self, d: Any) -> None:
        flags = (d.CUdriverProcAddress_flags.CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
                 if os.environ.get(_PTDS) else
                 d.CUdriverProcAddress_flags.CU_GET_PROC_ADDRESS_LEGACY_STREAM)
        status = ctypes.c_int

        def entry(name: str, prototype: Any = ctypes.CFUNCTYPE) -> Any:
            ret = d.cuGetProcAddress(name.encode(), 12000, flags)
            if ret[0] or not int(ret[1]):
                raise LookupError(f"the driver has no {name}")
            return prototype(status)(int(ret[1]))     # arguments: ctypes objects only

        # cuLaunchKernelEx(const CUlaunchConfig *, CUfunction, void **params, void **extra)
        self.launch = entry("cuLaunchKernelEx")
        self.address = ctypes.cast(self.launch, ctypes.c_void_p).value   # for the C launcher
        # cuCtxGetCurrent(CUcontext *) reads a thread-local: called holding the GIL (PYFUNCTYPE),
        # which saves releasing and taking it; a launch may wait for room in the queue, so it
        # lets other threads run (CFUNCTYPE)
        self._get_context = entry("cuCtxGetCurrent", ctypes.PYFUNCTYPE)
        self._cells = threading.local()
        self.driver = d

    @staticmethod
    def param(buffer: Any) -> Any:
        """A ParamBuffer's kernelParams as launch passes it."""
        return ctypes.c_void_p(buffer.address) if buffer.address else None

    def result(self, ret: int) -> Any:
        """A launch's return code as the driver's CUresult (for its name in an error)."""
        return self.driver.CUresult(ret)

    def current_context(self) -> int:
        """The calling thread's current context handle (0: none)."""
        try:
            cell, ref = self._cells.cell
        except AttributeError:
            cell = ctypes.c_void_p()
            self._cells.cell = cell, ref = cell, ctypes.byref(cell)
        if self._get_context(ref):
            return 0
        return cell.value or 0

    def prepare(self, function: Any, grid: Sequence[int], block: Sequence[int], smem: int,
                stream: int, cluster: Optional[Sequence[int]]) -> Launch:
        """The head of the launches of function with this configuration (Launch.with_params
        completes it)."""
        config = _LaunchConfig()
        config.grid[:], config.block[:], config.smem, config.stream = grid, block, smem, stream
        attrs = None
        if cluster is not None:
            attrs = (_LaunchAttribute * 1)()
            attrs[0].id = CLUSTER_DIMENSION
            attrs[0].value[:3] = cluster
            config.attrs, config.num_attrs = ctypes.cast(attrs, ctypes.POINTER(_LaunchAttribute)), 1
        return Launch((ctypes.byref(config), ctypes.c_void_p(int(function)), None, None),
                      (config, attrs), 2)


class BindingsLauncher:
    """The same launches through the driver object's cuda.bindings-style methods."""

    def __init__(self, d: Any) -> None:
        self.driver = d

    def current_context(self) -> int:
        err, ctx = self.driver.cuCtxGetCurrent()
        return 0 if err else int(ctx)

    @staticmethod
    def launch(call: Any, *args: Any) -> Any:
        return call(*args)[0]

    @staticmethod
    def param(buffer: Any) -> int:
        return buffer.address

    @staticmethod
    def result(ret: Any) -> Any:
        return ret

    def prepare(self, function: Any, grid: Sequence[int], block: Sequence[int], smem: int,
                stream: int, cluster: Optional[Sequence[int]]) -> Launch:
        d = self.driver
        if cluster is None:
            return Launch((d.cuLaunchKernel, function, *grid, *block, smem, stream, 0, 0), None,
                          10)
        config = d.CUlaunchConfig()
        config.gridDimX, config.gridDimY, config.gridDimZ = grid
        config.blockDimX, config.blockDimY, config.blockDimZ = block
        config.sharedMemBytes, config.hStream = smem, stream
        attribute = d.CUlaunchAttribute()
        attribute.id = d.CUlaunchAttributeID.CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION
        dims = attribute.value.clusterDim
        dims.x, dims.y, dims.z = cluster
        config.attrs, config.numAttrs = [attribute], 1
        return Launch((d.cuLaunchKernelEx, config, function, 0, 0), config, 3)


_launchers: dict = {}          # driver object -> its launcher
_lock = threading.Lock()


def launcher(d: Any) -> Any:
    """The launcher for driver object d, made once: ctypes where d can look driver entry
    points up (cuda.bindings.driver), else d's own methods."""
    found = _launchers.get(d)
    if found is None:
        with _lock:
            found = _launchers.get(d)
            if found is None:
                try:
                    found = CtypesLauncher(d) if hasattr(d, "cuGetProcAddress") else None
                except (LookupError, OSError, AttributeError, TypeError, ValueError):
                    found = None
                found = _launchers[d] = found or BindingsLauncher(d)
    return found
