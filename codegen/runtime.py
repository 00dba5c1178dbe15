"""Run-time support for a package written by `tlspec compile` (copied to _runtime.py, with the
codegen/_*.py modules it imports copied beside it).

Needs only the standard library and cuda-python (cuda.bindings), imported on the first launch.
torch is optional: it is used when the caller passes torch tensors or omits an output, and is
never imported here (it is found in sys.modules when the caller has imported it).

The run time's parts, one module each:
  * _exprs: the manifest's integer expressions (no eval()),
  * _arrays: what an argument is (torch, __cuda_array_interface__, DLPack), and a call's cheap
    plan-cache key,
  * _checks: whether the kernel accepts the arguments (pure functions, before any CUDA call),
  * _driver: cuda.bindings initialised on first use, error text, contexts, streams,
  * _plan: launch plans per argument signature, packed kernel parameters,
  * _tensormaps: TMA descriptors: the driver's rules at a call, encoding,
  * _launch: cuLaunchKernelEx through ctypes with pre-made arguments,
  * _native: the compiled launcher (_native_launch.c), which repeats those launches from C,
  * _oob: the fault record of a kernel compiled with out_of_range: error (the debug mode),
  * _torch_ops: the kernels as torch.library custom ops (opt-in),
  * this module: Kernel, the per-kernel launcher (lazy driver init, per-context module cache,
    plans, prepared launches).
"""
from __future__ import annotations

import json
import math
import operator
import os
import sys
import threading
from typing import Any, Mapping, Optional, Sequence

from . import _kernel_images as kernel_images
# the names tests and tools read from a package's _runtime (noqa: re-exported)
from ._arrays import (DTYPES, ITEMSIZE, ArrayView, _DLManagedTensor, adapt,  # noqa: F401
                      intake, intake_for, is_torch)
from ._checks import Argument, check_arguments, dim_rules, finish_checks  # noqa: F401
from ._driver import (DRIVER, TORCH_STREAM, DriverUnavailable, check, context, context_device,
                      error_text, stream_handle)
from ._driver import cuda_driver as _cuda     # the driver launches use (tests replace it)
from ._exprs import evaluate, render  # noqa: F401
from . import _native
from ._launch import launcher
from ._oob import FaultRecords, OutOfRangeError  # noqa: F401  (OutOfRangeError: re-exported)
from ._plan import LAUNCH_CACHE_SIZE, TENSORMAP_CACHE_SIZE, Plan, bounded_put, params
from ._tensormaps import encode, enums
from ._torch_ops import register_torch_ops  # noqa: F401

FORMAT = 1
_OWN = object()                # Kernel.__call__'s `native` default: the kernel's own launcher
DYN_SMEM_OPT_IN = 48 * 1024    # above this a kernel needs the MAX_DYNAMIC_SHARED_SIZE attribute
PORTABLE_CLUSTER = 8           # blocks; a larger cluster needs the non-portable attribute
PLAN_CACHE_SIZE = 64           # argument signatures (shapes, strides, dtypes) kept per kernel
# what cuLaunchKernelEx returns for a function of another context than the current one
# (INVALID_HANDLE), with none current (INVALID_CONTEXT) or when the function's was destroyed
CONTEXT_ERRORS = (201, 400, 709)


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
    dev = check(d, d.cuCtxGetDevice(), "cuCtxGetDevice")
    attribute = d.CUdevice_attribute
    capability = tuple(int(check(d, d.cuDeviceGetAttribute(a, dev), "cuDeviceGetAttribute"))
                       for a in (attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                 attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR))
    name = check(d, d.cuDeviceGetName(256, dev), "cuDeviceGetName")
    return capability, bytes(name).split(b"\0", 1)[0].decode(errors="replace")



def share_launcher(kernels: Sequence[Kernel], choose_and_call: Any) -> Any:
    """One compiled launcher for a wrapper that chooses among `kernels` (a kernel and its
    aligned and tuned variants, all of one signature): a call it has not seen goes to
    choose_and_call(values, stream), which launches the kernel it chose with
    `kernel(values, stream, native)` and so hands that launch over (the arrays' signature
    decides the choice, so a call seen before is one chosen alike). The kernels keep no
    launcher of their own: a call of one of them directly (a torch op's) is not a choice and
    must not be repeated for the wrapper. None without a compiled launcher."""
    native = None
    if all(k._faults is None for k in kernels):
        native = _native.launcher(len(kernels[0].arguments), kernels[0].outputs, choose_and_call)
    for k in kernels:
        k._native, k.call = None, k.__call__
    return native


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
        self.intake = intake_for(len(self.arguments))    # (plan key, pointers) of a call
        self.outputs = [i for i, a in enumerate(self.arguments) if a.io in ("out", "inout")]
        # the outputs of a call's values: None, the one output, or a tuple of them
        self._result = (operator.itemgetter(*self.outputs) if self.outputs
                        else lambda values: None)
        self.checks = manifest.get("checks", [])
        self.grid, self.block = manifest["grid"], manifest["block"]
        self.cluster = manifest.get("cluster")     # a cluster launch: its extents x, y, z
        self.smem = manifest.get("dynamic_shared_bytes", 0)
        self.tensormaps = manifest.get("tensormaps", [])
        self.params = params(manifest, index)
        # the debug mode's fault records (None: the kernel has no out_of_range: error stage)
        self._faults = (FaultRecords(self.name, manifest["out_of_range"],
                                     [a.name for a in self.arguments])
                        if manifest.get("out_of_range") else None)
        self._map_arguments = [index[t["argument"]] for t in self.tensormaps]
        self._plans: dict = {}         # argument signature -> Plan
        self._functions: dict = {}     # context handle -> _Loaded
        self._tm_enums: Optional[list] = None
        self._via: tuple = (None, None)   # (_cuda, its driver's launcher) of the last launch
        self._images: dict = {}        # image kind -> its bytes, read once
        # guards the caches' writes (reads take no lock: a dict lookup is atomic)
        self._lock = threading.Lock()
        # the compiled launcher (None: the Python path alone); `call` is what wrappers call
        self._native = (_native.launcher(len(self.arguments), self.outputs, self.__call__)
                        if self._faults is None else None)
        self.call = self.__call__ if self._native is None else self._native.call

    @classmethod
    def from_file(cls, path: str) -> Kernel:
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f), os.path.dirname(os.path.abspath(path)))

    # -- a call ------------------------------------------------------------------------------
    def __call__(self, values: Sequence, stream: Any = None, native: Any = _OWN) -> Any:
        """Launch on the caller's arrays (None: an omitted output); returns the outputs. The
        launch made is handed to a compiled launcher, which repeats it for the same call: the
        kernel's own, or `native` (a choice wrapper's, shared by its variants; None: none)."""
        key, pointers = self.intake(values)
        plan = self._plans.get(key)
        if plan is None:
            pointers, plan = self._checked(values, key)
        if plan.allocations:
            values, pointers = self._allocate(values, pointers, plan)
        if type(stream) is int:
            hstream = stream
        elif stream is None and TORCH_STREAM.raw is not None and plan.device_id is not None:
            hstream = TORCH_STREAM.raw(plan.device_id)       # torch's current stream, at once
        else:
            hstream = None                                   # any other stream: resolved there
        # The launch made for these pointers on this stream goes to the driver at once, without
        # asking which context is current: the driver refuses, before it queues anything, a
        # function of another context than the current one (CUDA_ERROR_INVALID_HANDLE) and a
        # launch with none current (CUDA_ERROR_INVALID_CONTEXT); see _refused.
        prepared = None if hstream is None else plan.launches.get((pointers, hstream))
        source, via = self._via
        if prepared is not None and source is _cuda and self._faults is None:
            ret = via.launch(*prepared.args)                # a CUresult, 0 for CUDA_SUCCESS
            if ret:
                prepared = self._refused(pointers, plan, hstream, via, ret)
        else:
            prepared = self._launch(pointers, plan, stream if hstream is None else hstream)
        if native is _OWN:
            native = self._native
        if plan.exported and native is not None and prepared is not None:
            plan.exported = _native.remember(native, values, stream, pointers, prepared,
                                             self._via[1])
        return self._result(values)

    def _checked(self, values: Sequence, key: Optional[tuple]) -> tuple:
        """Full argument checks; (pointers, plan), the plan cached under the arrays' key (intake:
        it is None only for arrays the checks refuse)."""
        views, env = check_arguments(self, values)
        plan = Plan(self, env, views)
        plan.exported = _native.exportable(values)     # calls the compiled launcher may repeat
        if key is not None:
            with self._lock:
                bounded_put(self._plans, key, plan, PLAN_CACHE_SIZE)
        return tuple(0 if v is None else v.ptr for v in views), plan

    def _allocate(self, values: Sequence, pointers: tuple, plan: Plan) -> tuple:
        """torch.empty for every omitted output (empty_strided for one with declared strides);
        (values, pointers) with them filled in."""
        torch = _torch()
        values, pointers = list(values), list(pointers)
        device = "cuda" if plan.device_id is None else plan.device_id
        for i, shape, strides in plan.allocations:
            arg = self.arguments[i]
            if torch is None:
                raise TypeError(f"{self.name}(): argument {arg.name!r} was not given and torch is "
                                f"not available to allocate it; pass an output array")
            dtype = getattr(torch, DTYPES[arg.dtype][2])
            values[i] = torch.empty(shape, dtype=dtype, device=device) if strides is None else \
                torch.empty_strided(shape, strides, dtype=dtype, device=device)
            pointers[i] = values[i].data_ptr() if is_torch(values[i]) else adapt(values[i]).ptr
        return values, tuple(pointers)

    # -- CUDA --------------------------------------------------------------------------------
    def _launch(self, pointers: tuple, plan: Plan, stream: Any) -> Any:
        """Launch plan on this call's pointers and stream (a handle, or what stream_handle
        takes): the calls __call__ does not launch itself (a first launch, a debug-mode kernel,
        one after tests changed _cuda, another kind of stream). Returns the launch made (None:
        an empty problem, nothing launched)."""
        if plan.empty:
            return None
        hstream = stream_handle(stream, plan.device_id)
        source, via = self._via
        if source is not _cuda:                # the first launch (or tests changed _cuda)
            source, via = self._connect()
        prepared = plan.launches.get((pointers, hstream))
        if prepared is not None and self._faults is None:      # as in __call__
            ret = via.launch(*prepared.args)
            if ret:
                return self._refused(pointers, plan, hstream, via, ret)
            return prepared
        return self._launch_in_context(pointers, plan, hstream, via, prepared)

    def _refused(self, pointers: tuple, plan: Plan, hstream: int, via: Any, ret: Any) -> Any:
        """After the launch made for (pointers, stream) returned ret: launch in the current
        context when the driver refused the function for its context (returns that launch),
        else raise ret's error."""
        if int(ret) not in CONTEXT_ERRORS:
            self._failed(via, ret, plan)
        return self._launch_in_context(pointers, plan, hstream, via, None)

    def _launch_in_context(self, pointers: tuple, plan: Plan, hstream: int, via: Any,
                           prepared: Any) -> Any:
        """Ask which context is current and launch there (prepared: the launch made for
        (pointers, stream) in some context, or None); returns the launch made."""
        ctx = via.current_context()
        if self._faults is not None:           # before any allocation a capture would break
            self._faults.refuse_capture(via.driver, hstream)
        if prepared is None or prepared.context != ctx:
            prepared = self._prepare(via.driver, via, plan, pointers, hstream, ctx)
        ret = via.launch(*prepared.args)
        if ret:
            self._failed(via, ret, plan)
        if self._faults is not None:           # the debug mode: wait, read the record
            self._faults.after_launch(via.driver, prepared.context, hstream, lambda i: tuple(
                evaluate(e, plan.env) for e in self.arguments[i].shape))
        return prepared

    def _failed(self, via: Any, ret: Any, plan: Plan) -> None:
        """Raise the error of a launch that returned ret."""
        cluster = f", cluster={tuple(self.cluster)}" if self.cluster else ""
        check(via.driver, (via.result(ret),), f"{self.name}(): cuLaunchKernelEx({self.entry}, "
              f"grid={plan.grid}, block={plan.block}, smem={plan.smem}{cluster})")

    def _connect(self) -> tuple:
        """(_cuda, the launcher of its driver), kept in self._via: the driver initialised."""
        source = _cuda
        try:
            d = source()
        except DriverUnavailable as e:
            raise RuntimeError(f"{self.name}(): cannot launch: {e}") from e
        self._via = source, launcher(d)
        return self._via

    def _prepare(self, d: Any, via: Any, plan: Plan, pointers: tuple, hstream: int,
                 ctx: int) -> Any:
        """The launch of plan on pointers and stream in the context to launch in (see
        driver.context: the current one when it is on the arrays' device, else that device's
        primary context, made current), kept in plan.launches (replacing one made in another
        context)."""
        if not ctx or (plan.device_id is not None
                       and context_device(d, ctx) != plan.device_id):
            ctx = int(context(d, plan.device_id))
            prepared = plan.launches.get((pointers, hstream))
            if prepared is not None and prepared.context == ctx:
                return prepared
        head = plan.heads.get((hstream, ctx))
        with self._lock:
            if head is None:
                head = via.prepare(self._function(d, ctx, plan.smem), plan.grid, plan.block,
                                   plan.smem, hstream, self.cluster)
                bounded_put(plan.heads, (hstream, ctx), head, LAUNCH_CACHE_SIZE)
            tensormaps = self._tensormaps(d, plan, pointers) if self._map_arguments else ()
            record = self._faults.pointer(d, ctx) if self._faults is not None else 0
            buffer = plan.packer.pack(pointers, tensormaps, record)
            prepared = head.with_params(buffer, via.param(buffer), ctx)
            bounded_put(plan.launches, (pointers, hstream), prepared, LAUNCH_CACHE_SIZE)
        return prepared

    def _function(self, d: Any, ctx: Any, smem: int) -> Any:
        """The kernel's function in ctx (its module loaded once), allowed smem bytes of
        dynamic shared memory. Called under self._lock."""
        loaded = self._functions.get(int(ctx))
        if loaded is None:
            loaded = self._functions[int(ctx)] = self._load(d)
        if smem > loaded.smem_limit:
            self._check_shared_limit(d, loaded.function, smem)
            attribute = d.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            check(d, d.cuFuncSetAttribute(loaded.function, attribute, smem),
                   f"cuFuncSetAttribute({self.entry}, MAX_DYNAMIC_SHARED_SIZE_BYTES={smem})")
            loaded.smem_limit = smem
        return loaded.function

    def _check_shared_limit(self, d: Any, function: Any, smem: int) -> None:
        """RuntimeError naming the kernel, its need and the GPU's limit when this GPU gives a
        block less shared memory than `smem` dynamic bytes (and the function's static ones):
        an sm_80 kernel (163 KB on an A100) on a GPU of 99 KB per block (sm_86 and sm_89 run its
        cubin, sm_120 its PTX), where cuFuncSetAttribute would fail with a bare
        CUDA_ERROR_INVALID_VALUE."""
        dev = check(d, d.cuCtxGetDevice(), "cuCtxGetDevice")
        limit = int(check(d, d.cuDeviceGetAttribute(
            d.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev),
            "cuDeviceGetAttribute(MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)"))
        static = int(check(d, d.cuFuncGetAttribute(
            d.CUfunction_attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, function),
            f"cuFuncGetAttribute({self.entry}, SHARED_SIZE_BYTES)"))
        if smem + static > limit:
            beside = f" beside {static} bytes of static shared memory" if static else ""
            raise RuntimeError(
                f"{self.name}(): the kernel needs {smem} bytes of dynamic shared memory per "
                f"block{beside}, but {_device_facts(d)[1]} gives a block at most {limit} bytes "
                f"in all; run it on a GPU with more shared memory per block, or compile a "
                f"variant with smaller tiles for this one (it was compiled for {self.arch})")

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
        self._read_image(kind)
        ret = d.cuModuleLoadData(self._images[kind])
        if ret[0] != d.CUresult.CUDA_SUCCESS:
            name, desc = error_text(d, ret[0])
            built = self.arch if kind == "cubin" else self.ptx_arch
            raise RuntimeError(f"{self.name}(): the driver cannot load {os.path.basename(path)} "
                               f"(compiled for {built}) on {device}: {name}: {desc}; "
                               f"{self._load_fix(name)}")
        function = check(d, d.cuModuleGetFunction(ret[1], self.entry.encode()),
                          f"{self.name}(): cuModuleGetFunction({self.entry})")
        if self.cluster and math.prod(self.cluster) > PORTABLE_CLUSTER:
            attribute = d.CUfunction_attribute.CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED
            check(d, d.cuFuncSetAttribute(function, attribute, 1),
                   f"cuFuncSetAttribute({self.entry}, NON_PORTABLE_CLUSTER_SIZE_ALLOWED=1)")
        self.image = kind
        return _Loaded(ret[1], function)

    def read_images(self) -> None:
        """Read every image file of the kernel now rather than at its first launch (tlspec.load:
        the cache may delete the package's folder while the process runs)."""
        for kind in self.image_paths:
            self._read_image(kind)

    def _read_image(self, kind: str) -> None:
        if kind not in self._images:
            try:
                with open(self.image_paths[kind], "rb") as f:
                    # cuModuleLoadData takes PTX as a NUL-terminated string
                    self._images[kind] = f.read() + (b"\0" if kind == "ptx" else b"")
            except OSError as e:
                raise RuntimeError(f"{self.name}(): cannot read its {kind} ({e}); the package is "
                                   f"incomplete: compile it again") from None

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

    def _tensormaps(self, d: Any, plan: Plan, pointers: tuple) -> list:
        """The CUtensorMap of each map over this call's pointers, encoded once per pointer for
        the plan's (dims, strides). Called under self._lock."""
        if self._tm_enums is None:
            self._tm_enums = [enums(d, m) for m in self.tensormaps]
        cache, out = plan.tensormaps, []
        for i, a in enumerate(self._map_arguments):
            key = (i, pointers[a])
            tm = cache.get(key)
            if tm is None:
                tm = encode(d, self._tm_enums[i], self.tensormaps[i], key[1], plan.map_layouts[i],
                            f"cuTensorMapEncodeTiled({self.name} map {i})")
                bounded_put(cache, key, tm, TENSORMAP_CACHE_SIZE)
            out.append(tm)
        return out
