"""The launch path of a generated package without a GPU: torch-like tensors (the run time's
cheap signature path for torch) and a Python stand-in for cuda.bindings.driver that records what
reaches the driver. The kernels are the GPU fixtures' manifests (tests/gpu/fixtures): b5 (SIMT,
pointer parameters) and b6 (two TMA maps); tests/gpu/test_runtime_gpu.py runs them for real."""
import copy
import ctypes
import importlib
import json
import math
import sys
import threading
import time
import types
import uuid
from pathlib import Path
from typing import NamedTuple

import pytest

from test_wrappers import MANIFEST as COL_FIRST
from tlspec.package import KernelArtifact, write_package

FIXTURES = Path(__file__).parent / "gpu" / "fixtures"
BASE = 0x7F00_0000_0000
PTX = ".version 9.0\n.target sm_80\n"       # what a package carries as a kernel's PTX


def fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


# --------------------------------------------------------------------------------------------
# fakes
# --------------------------------------------------------------------------------------------
class Dtype:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


FLOAT16, FLOAT32 = Dtype("float16"), Dtype("float32")


class Device:
    def __init__(self, type_, index):
        self.type, self.index = type_, index


class Tensor:
    """The part of torch.Tensor the run time reads; its module is "torch", as torch's is."""

    def __init__(self, shape, ptr=BASE, dtype=FLOAT16, strides=None, device=0):
        self.shape, self.dtype, self._ptr = tuple(shape), dtype, ptr
        self._strides = strides or tuple(math.prod(shape[i + 1:]) for i in range(len(shape)))
        self.is_cuda = isinstance(device, int)         # else a device type: "cpu", "meta"
        self.device = Device("cuda", device) if self.is_cuda else Device(device, None)

    def data_ptr(self):
        return self._ptr

    def stride(self):
        return self._strides

    def get_device(self):
        return self.device.index if self.is_cuda else -1


Tensor.__module__ = "torch"


def fake_torch():
    """torch with CUDA initialised: current raw stream 1000 + device, empty() over new pointers."""
    torch = types.ModuleType("torch")
    torch.float16, torch.float32 = FLOAT16, FLOAT32
    pointers = iter(range(0x7E00_0000_0000, 1 << 62, 1 << 24))
    torch.empty = lambda shape, dtype, device: Tensor(shape, next(pointers), dtype,
                                                      device=0 if device == "cuda" else device)
    torch.cuda = types.SimpleNamespace(is_initialized=lambda: True, current_device=lambda: 0)
    torch._C = types.SimpleNamespace(_cuda_getCurrentRawStream=lambda device: 1000 + device)
    return torch


class Names:
    """An enum namespace of cuda.bindings: every member is its own name."""

    def __getattr__(self, name):
        return name


class TensorMap:
    """A CUtensorMap: 128 bytes, the first 8 the address it was encoded for."""

    def __init__(self, address, dims):
        self.storage = (ctypes.c_uint64 * 16)(address)
        self.dims = dims

    def getPtr(self):
        return ctypes.addressof(self.storage)


class Launch(NamedTuple):
    function: tuple
    grid: tuple
    block: tuple
    smem: int
    stream: int
    params: list          # the 8 bytes behind each kernel-parameter slot, read during the call
    thread: threading.Thread


class Driver:
    """cuda.bindings.driver as far as a launch calls it. Contexts are ints: 0x1000 + device for
    primary contexts; launches are recorded as Launch. A launch of a function of another context
    than the current one, or with none current, fails as the driver's does."""
    CUresult = types.SimpleNamespace(CUDA_SUCCESS=0)
    CUfunction_attribute = CUdevice_attribute = Names()
    CUtensorMapDataType = CUtensorMapInterleave = CUtensorMapSwizzle = Names()
    CUtensorMapL2promotion = CUtensorMapFloatOOBfill = Names()
    cuuint64_t = cuuint32_t = staticmethod(int)

    def __init__(self, nparams, capability=(9, 0), shared_optin=227 * 1024, static_shared=0):
        self.nparams, self.current, self.capability = nparams, 0, capability
        # the GPU's CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, and the functions'
        # CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES
        self.shared_optin, self.static_shared = shared_optin, static_shared
        self.devices = {}                     # context -> device, beyond the primary ones
        self.context_queries = 0              # cuCtxGetCurrent calls
        self.loads, self.encodes, self.attributes, self.launches = [], [], [], []
        self.images = []                      # what each cuModuleLoadData was given
        self.strides = []                     # the globalStrides list of each encode

    def cuCtxGetCurrent(self):
        self.context_queries += 1
        return 0, self.current

    def cuCtxGetDevice(self):
        return 0, self.devices.get(self.current, self.current - 0x1000)

    def cuDeviceGet(self, ordinal):
        return 0, ordinal

    def cuDevicePrimaryCtxRetain(self, device):
        return 0, 0x1000 + device

    def cuCtxSetCurrent(self, ctx):
        self.current = ctx
        return (0,)

    def cuDeviceGetAttribute(self, attribute, device):
        if attribute == "CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN":
            return 0, self.shared_optin
        return 0, self.capability[attribute.endswith("MINOR")]

    def cuDeviceGetName(self, length, device):
        return 0, b"Fake GPU\0".ljust(length, b"\0")

    def cuModuleLoadData(self, image):
        self.loads.append(self.current)
        self.images.append(bytes(image))
        return 0, ("module", self.current)

    def cuModuleGetFunction(self, module, name):
        return 0, ("function", module[1])

    def cuFuncGetAttribute(self, attribute, function):
        assert attribute == "CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES"
        return 0, self.static_shared

    def cuFuncSetAttribute(self, function, attribute, value):
        self.attributes.append((function, attribute, value))
        return (0,)

    def cuTensorMapEncodeTiled(self, dtype, rank, address, dims, strides, *rest):
        self.encodes.append((address, tuple(dims)))
        self.strides.append(list(strides))
        return 0, TensorMap(address, tuple(dims))

    def cuLaunchKernel(self, function, gx, gy, gz, bx, by, bz, smem, stream, params, extra):
        time.sleep(0)           # cuda.bindings drops the GIL around the driver call
        if not self.current:
            return (201,)       # CUDA_ERROR_INVALID_CONTEXT, as the driver answers
        if function[1] != self.current:
            return (400,)       # CUDA_ERROR_INVALID_HANDLE: a function of another context
        slots = (ctypes.c_void_p * self.nparams).from_address(params)
        values = [ctypes.c_uint64.from_address(s).value for s in slots]
        self.launches.append(Launch(function, (gx, gy, gz), (bx, by, bz), smem, stream, values,
                                    threading.current_thread()))
        return (0,)


@pytest.fixture
def torch(monkeypatch):
    fake = fake_torch()
    monkeypatch.setitem(sys.modules, "torch", fake)
    return fake


@pytest.fixture
def package(tmp_path, monkeypatch, torch):
    """package(manifest) -> one kernel's package, imported (its run time as written)."""
    names = []

    def make(manifest):
        name = f"launch_{uuid.uuid4().hex[:8]}"
        out = write_package(tmp_path / name, [KernelArtifact(
            manifest["name"], copy.deepcopy(manifest), "// source\n", b"\x7fELF fake",
            PTX if manifest.get("ptx_arch") else None)])
        monkeypatch.syspath_prepend(str(out.parent))
        names.append(name)
        return importlib.import_module(name)

    yield make
    for m in [m for m in sys.modules if m.split(".")[0] in names]:
        del sys.modules[m]


@pytest.fixture
def build(package, monkeypatch):
    """build(manifest, driver=None) -> (wrapper, driver): one kernel's package on a fake driver
    (a Driver by default)."""

    def make(manifest, driver=None):
        module = package(manifest)
        driver = driver or Driver(len(manifest["params"]))
        monkeypatch.setattr(module._runtime, "_cuda", lambda: driver)
        return getattr(module, manifest["name"]), driver

    return make


def plans(fn):
    return fn.__globals__["_KERNEL"]._plans


# --------------------------------------------------------------------------------------------
# a cached plan
# --------------------------------------------------------------------------------------------
def test_a_cached_plan_launches_each_calls_pointers_on_torchs_stream(build):
    fn, driver = build(fixture("b5_copy_symM"))
    pairs = [(Tensor((128, 1024), BASE + i * 0x100000), Tensor((128, 1024), BASE + i * 0x100000
                                                               + 0x80000)) for i in range(3)]
    for a, b in pairs:
        assert fn(a, b) is b
    assert len(plans(fn)) == 1 and driver.loads == [0x1000]
    assert [launch[1:6] for launch in driver.launches] == [
        ((2, 8, 1), (256, 1, 1), 0, 1000, [a.data_ptr(), b.data_ptr(), 128]) for a, b in pairs]
    fn(*pairs[0], stream=5)
    assert driver.launches[-1].stream == 5


def test_the_cheap_signature_still_gets_every_check(build):
    fn, driver = build(fixture("b5_copy_symM"))
    fn(Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x100000))
    good = Tensor((64, 1024), BASE + 0x100000)
    cases = [
        (Tensor((64, 1024), BASE + 8), ValueError, "argument 'A' has data pointer "
                                                   "0x7f0000000008, not 16-byte aligned"),
        (Tensor((100, 1024)), ValueError, "M a multiple of 64"),
        (Tensor((64, 1024), dtype=FLOAT32), TypeError, "argument 'A' has dtype float32"),
        (Tensor((64, 1024), strides=(1, 64)), ValueError, "argument 'A' is not C-contiguous"),
        (Tensor((64, 1024), device="cpu"), ValueError, "argument 'A' is on the cpu device"),
    ]
    for a, error, message in cases:
        with pytest.raises(error, match=message):
            fn(a, good)
    with pytest.raises(ValueError, match="on different devices"):
        fn(Tensor((64, 1024), device=1), good)
    assert len(plans(fn)) == 1 and len(driver.launches) == 1


def test_tensors_off_cuda_get_every_other_check_first(build):
    """CPU or meta tensors check a call: type, dtype, shape, dims and layout errors come before
    the device is refused (the device check came first, so they could check nothing else)."""
    fn, driver = build(fixture("b5_copy_symM"))
    for device in ("cpu", "meta"):
        good = Tensor((64, 1024), BASE + 0x100000, device=device)
        cases = [
            ((Tensor((64, 1024), dtype=FLOAT32, device=device), good), TypeError,
             "argument 'A' has dtype float32"),
            ((Tensor((100, 1024), device=device), Tensor((100, 1024), device=device)),
             ValueError, "M a multiple of 64"),
            ((good, Tensor((128, 1024), device=device)), ValueError, "argument 'B' has shape"),
            ((Tensor((64, 1024), strides=(1, 64), device=device), good), ValueError,
             "argument 'A' is not C-contiguous"),
            ((Tensor((64, 1024), device=device), good), ValueError,
             f"argument 'A' is on the {device} device; expected a CUDA device array"),
        ]
        for args, error, message in cases:
            with pytest.raises(error, match=message):
                fn(*args)
    assert not driver.launches and not plans(fn)


def test_plans_are_not_shared_between_strides(build):
    # N = 1: the leading stride of img is free (a dim of 1), so both layouts are C-contiguous,
    # and each is checked and gets its own plan
    fn, driver = build(COL_FIRST)
    col = Tensor((784, 2304))
    for strides in (None, (7, 14336, 256, 1)):
        fn(col, Tensor((1, 56, 56, 256), BASE + 0x1000000, strides=strides))
    assert len(plans(fn)) == 2 and len(driver.launches) == 2
    with pytest.raises(ValueError, match="argument 'img' is not C-contiguous"):
        fn(col, Tensor((1, 56, 56, 256), BASE + 0x1000000, strides=(802816, 14336, 1, 56)))


def test_an_omitted_output_is_allocated_on_the_tensors_device(build):
    fn, driver = build(fixture("b5_copy_symM"))
    a = Tensor((64, 1024), device=1)
    outs = [fn(a) for _ in range(2)]
    assert [(b.shape, b.dtype, b.get_device()) for b in outs] == [((64, 1024), FLOAT16, 1)] * 2
    assert [launch.params[1] for launch in driver.launches] == [b.data_ptr() for b in outs]
    assert len(plans(fn)) == 1


# --------------------------------------------------------------------------------------------
# context, stream, tensor maps, shared memory
# --------------------------------------------------------------------------------------------
def test_the_launch_follows_the_current_context(build):
    fn, driver = build(fixture("b5_copy_symM"))
    a, b = Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x100000)
    fn(a, b)                                   # no context: device 0's primary one made current
    assert driver.current == 0x1000
    driver.devices[0x2000] = 0
    driver.current = 0x2000                    # the caller's own context on device 0
    fn(a, b)
    driver.current = 0x1000
    fn(a, b)
    assert driver.loads == [0x1000, 0x2000]    # one module per context, loaded once
    assert [launch.function for launch in driver.launches] == [
        ("function", 0x1000), ("function", 0x2000), ("function", 0x1000)]


def test_a_repeated_call_launches_without_asking_which_context_is_current(build):
    """The launch last made for (pointers, stream) goes to the driver at once; only when the
    driver refuses it (here: no context current, as in a new thread) is the context asked for
    and the launch made again in it."""
    fn, driver = build(fixture("b5_copy_symM"))
    a, b = Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x100000)
    fn(a, b)
    asked = driver.context_queries
    for _ in range(5):
        fn(a, b)
    assert driver.context_queries == asked and len(driver.launches) == 6
    driver.current = 0
    fn(a, b)
    assert driver.context_queries > asked and driver.current == 0x1000
    assert len(driver.launches) == 7 and driver.loads == [0x1000]


def test_tensors_on_another_device_launch_there_on_its_stream(build):
    fn, driver = build(fixture("b5_copy_symM"))
    fn(Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x100000))
    fn(Tensor((64, 1024), device=1), Tensor((64, 1024), BASE + 0x100000, device=1))
    assert driver.current == 0x1001 and driver.loads == [0x1000, 0x1001]
    assert [(launch.function, launch.stream) for launch in driver.launches] == [
        (("function", 0x1000), 1000), (("function", 0x1001), 1001)]
    fn(Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x100000))      # back to device 0
    assert driver.current == 0x1000 and driver.launches[-1].function == ("function", 0x1000)


def test_tensor_maps_are_encoded_once_per_pointer_and_shape(build):
    fn, driver = build(fixture("b6_tma_symMN"))
    pairs = [(Tensor((128, 64), BASE + i * 0x100000), Tensor((128, 64), BASE + i * 0x100000
                                                             + 0x80000)) for i in range(2)]
    for _ in range(3):
        for a, b in pairs:
            fn(a, b)
    assert driver.encodes == [(p.data_ptr(), (64, 128)) for pair in pairs for p in pair]
    # params: map A, map B, M, N; a map slot points at the map encoded for this call's pointer
    assert [launch.params for launch in driver.launches] == [
        [a.data_ptr(), b.data_ptr(), 128, 64] for a, b in pairs] * 3
    fn(Tensor((64, 128)), Tensor((64, 128), BASE + 0x80000))      # same pointers, new shape
    assert driver.encodes[-2:] == [(BASE, (128, 64)), (BASE + 0x80000, (128, 64))]


def one_d_manifest():
    """b6 as a copy of a 1-D fp32 tensor of N elements in boxes of 256: rank-1 tensor maps."""
    manifest = fixture("b6_tma_symMN")
    n = {"dim": "N"}
    for argument in manifest["arguments"]:
        argument.update(dtype="float32", shape=[n])
    manifest["dims"] = {"N": {"value": None, "multiple_of": 4, "min": None, "max": None}}
    manifest["params"] = manifest["params"][:2] + manifest["params"][3:]
    manifest["grid"] = [{"op": "ceildiv", "args": [n, 256]}, 1, 1]
    for t in manifest["tensormaps"]:
        t.update(dtype="float32", rank=1, dims=[n], strides=[], box=[256], element_strides=[1])
    return manifest


def test_a_rank_1_map_is_encoded_with_a_stride_array(build):
    """cuda-python passes an empty list as NULL, which the driver refuses even for rank 1, where
    it reads no stride (every 1-D TMA call failed with CUDA_ERROR_INVALID_VALUE on an H200)."""
    fn, driver = build(one_d_manifest())
    fn(Tensor((1000,), dtype=FLOAT32), Tensor((1000,), BASE + 0x80000, dtype=FLOAT32))
    assert driver.encodes == [(BASE, (1000,)), (BASE + 0x80000, (1000,))]
    assert all(len(strides) == 1 for strides in driver.strides)


def test_a_call_whose_tensor_map_the_driver_would_refuse_is_a_value_error(build):
    """The run time checks the dims and strides a call gives each map against the driver's rules
    (tensormap_rules, shipped in the package) before encoding: here a manifest whose rows may be
    any multiple of 4 fp16 elements (8 bytes), and a call with rows of 100 (a 200-byte stride)."""
    manifest = fixture("b6_tma_symMN")
    manifest["dims"]["N"]["multiple_of"] = 4
    manifest["grid"][1] = {"op": "ceildiv", "args": [{"dim": "N"}, 64]}
    fn, driver = build(manifest)
    with pytest.raises(ValueError) as caught:
        fn(Tensor((128, 100)), Tensor((128, 100), BASE + 0x80000))
    assert str(caught.value) == (
        "b6_tma_symMN(): argument 'A' of shape (128, 100) cannot be copied by TMA: TMA needs "
        "strides that are multiples of 16 bytes; one is 200 bytes")
    assert driver.encodes == [] and driver.launches == []


def test_the_dynamic_shared_memory_limit_is_raised_once_per_context(build):
    manifest = dict(fixture("b5_copy_symM"), dynamic_shared_bytes={
        "op": "*", "args": [{"dim": "M"}, 1024]})     # 64 KiB at M = 64, 128 KiB at M = 128
    fn, driver = build(manifest)
    for m in (64, 64, 128, 64):
        fn(Tensor((m, 1024)), Tensor((m, 1024), BASE + 0x1000000))
    assert [value for _, _, value in driver.attributes] == [64 * 1024, 128 * 1024]
    assert [launch.smem for launch in driver.launches] == [65536, 65536, 131072, 65536]


@pytest.mark.parametrize("static", [0, 1024])
def test_dynamic_shared_memory_past_the_gpus_limit_is_refused_before_the_launch(build, static):
    """An sm_80 kernel of 160 KiB of shared memory (an A100 gives a block 163 KiB) on a GPU of
    99 KiB per block (sm_86, sm_89: its cubin; sm_120: its PTX): cuFuncSetAttribute refused it
    with a bare CUDA_ERROR_INVALID_VALUE; now the error says what the kernel needs and what the
    GPU allows, and nothing reaches the launch. The function's static shared memory counts."""
    manifest = dict(fixture("b5_copy_symM"), arch="sm_80", dynamic_shared_bytes=160 * 1024 - static)
    fn, driver = build(manifest, Driver(3, capability=(8, 6), shared_optin=99 * 1024,
                                        static_shared=static))
    with pytest.raises(RuntimeError) as caught:
        fn(Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x1000000))
    beside = f" beside {static} bytes of static shared memory" if static else ""
    assert str(caught.value) == (
        f"b5_copy_symM(): the kernel needs {160 * 1024 - static} bytes of dynamic shared memory "
        f"per block{beside}, but Fake GPU gives a block at most 101376 bytes in all; run it on a "
        "GPU with more shared memory per block, or compile a variant with smaller tiles for this "
        "one (it was compiled for sm_80)")
    assert driver.attributes == [] and driver.launches == []


def test_dynamic_shared_memory_up_to_the_gpus_limit_launches(build):
    manifest = dict(fixture("b5_copy_symM"), dynamic_shared_bytes=99 * 1024 - 1024)
    fn, driver = build(manifest, Driver(3, shared_optin=99 * 1024, static_shared=1024))
    fn(Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x1000000))
    assert [value for _, _, value in driver.attributes] == [98 * 1024]
    assert [launch.smem for launch in driver.launches] == [98 * 1024]


def test_threads_launch_their_own_pointers(build):
    # one plan, so one parameter buffer shared by every thread; thread switches every few
    # bytecodes make an unguarded fill-then-launch interleave
    fn, driver = build(fixture("b5_copy_symM"))
    pairs = [(Tensor((64, 1024), BASE + k * 0x200000),
              Tensor((64, 1024), BASE + k * 0x200000 + 0x100000)) for k in range(8)]
    pointers = {}                          # thread -> the pointers it passes

    def work(k):
        pointers[threading.current_thread()] = [p.data_ptr() for p in pairs[k]]
        for _ in range(200):
            fn(*pairs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(driver.launches) == 8 * 200
    assert all(launch.params[:2] == pointers[launch.thread] for launch in driver.launches)


# --------------------------------------------------------------------------------------------
# a driver that cannot be loaded or initialised, a module it cannot load
# --------------------------------------------------------------------------------------------
def driver_present():
    from cuda import pathfinder
    try:
        pathfinder.load_nvidia_dynamic_lib("cuda")
    except pathfinder.DynamicLibNotFoundError:
        return False
    return True


def b5_call(package):
    """The b5 kernel of a package with the real run time, and a call of it on valid arrays."""
    fn = getattr(package(fixture("b5_copy_symM")), "b5_copy_symM")
    return lambda: fn(Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x100000))


@pytest.mark.skipif(driver_present(), reason="this machine has an NVIDIA driver")
def test_without_a_driver_a_call_names_the_kernel_and_what_to_do(package):
    """cuda.pathfinder's DynamicLibNotFoundError named neither the kernel nor a fix."""
    with pytest.raises(RuntimeError, match=r"^b5_copy_symM\(\): cannot launch: the NVIDIA driver "
                       r"library cannot be loaded \(.*\): run on a machine with an NVIDIA GPU and "
                       r"an NVIDIA driver of release 580 or later"):
        b5_call(package)()


def test_without_cuda_python_a_call_says_to_install_it(package, monkeypatch):
    call = b5_call(package)
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)
    with pytest.raises(RuntimeError, match=r"^b5_copy_symM\(\): cannot launch: cuda-python is not "
                       r"installed \(.*\): pip install 'cuda-python>=13.0,<14'$"):
        call()


class FailingInit:
    """cuda.bindings.driver whose cuInit fails with CUDA_ERROR_NO_DEVICE."""
    CUresult = types.SimpleNamespace(CUDA_SUCCESS=0)

    def cuInit(self, flags):
        return (100,)

    def cuGetErrorName(self, err):
        return 0, b"CUDA_ERROR_NO_DEVICE"

    def cuGetErrorString(self, err):
        return 0, b"no CUDA-capable device is detected"


def test_a_failing_cu_init_names_the_kernel_the_error_and_what_to_do(package, monkeypatch):
    import cuda.bindings
    call = b5_call(package)
    monkeypatch.setattr(cuda.bindings, "driver", FailingInit(), raising=False)
    with pytest.raises(RuntimeError, match=r"^b5_copy_symM\(\): cannot launch: cuInit failed: "
                       r"CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected; no GPU is "
                       r"visible to this process: .*CUDA_VISIBLE_DEVICES"):
        call()


class NoBinaryForGpu(Driver):
    """A driver whose GPU is not an sm_90a one: it refuses the cubin."""

    def cuModuleLoadData(self, image):
        return (209, None)

    def cuGetErrorName(self, err):
        return 0, b"CUDA_ERROR_NO_BINARY_FOR_GPU"

    def cuGetErrorString(self, err):
        return 0, b"no kernel image is available for execution on the device"


def test_a_cubin_the_driver_refuses_names_the_kernel_its_arch_and_what_to_do(build):
    fn, _ = build(fixture("b5_copy_symM"), NoBinaryForGpu(3))
    with pytest.raises(RuntimeError, match=r"^b5_copy_symM\(\): the driver cannot load "
                       r"b5_copy_symM.cubin \(compiled for sm_90a\) on Fake GPU: "
                       r"CUDA_ERROR_NO_BINARY_FOR_GPU: no kernel image .*; the GPU of the current "
                       r"context cannot run this sm_90a kernel: run on one"):
        fn(Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x100000))


def test_a_missing_cubin_names_the_kernel(build):
    fn, _ = build(fixture("b5_copy_symM"))
    Path(fn.__globals__["_KERNEL"].image_paths["cubin"]).unlink()
    with pytest.raises(RuntimeError, match=r"^b5_copy_symM\(\): cannot read its cubin \(.*No such "
                       r"file.*\); the package is incomplete: compile it again$"):
        fn(Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x100000))


# --------------------------------------------------------------------------------------------
# which image is loaded: the cubin where the GPU runs it, else the PTX, else an error
# --------------------------------------------------------------------------------------------
def targeted(arch, ptx_arch):
    return dict(fixture("b5_copy_symM"), arch=arch, ptx_arch=ptx_arch)


@pytest.mark.parametrize("arch, ptx_arch, capability, image", [
    ("sm_80", "compute_80", (9, 0), "ptx"),         # an H200 runs an sm_80 kernel from its PTX
    ("sm_80", "compute_80", (8, 6), "cubin"),       # any Ampere GPU runs the sm_80 cubin
    ("sm_80", "compute_80", (8, 0), "cubin"),
    ("sm_90a", "compute_90", (10, 0), "ptx"),       # --ptx: forward compatibility
    ("sm_90a", "compute_90", (9, 0), "cubin"),
])
def test_the_gpu_decides_between_cubin_and_ptx(build, arch, ptx_arch, capability, image):
    fn, driver = build(targeted(arch, ptx_arch), Driver(3, capability))
    fn(Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x100000))
    kernel = fn.__globals__["_KERNEL"]
    assert kernel.image == image
    # PTX reaches cuModuleLoadData as a NUL-terminated string
    assert driver.images == [PTX.encode() + b"\0" if image == "ptx" else b"\x7fELF fake"]


@pytest.mark.parametrize("arch, ptx_arch, capability, why", [
    ("sm_90a", None, (10, 0), r"its cubin is for sm_90a \(compute capability 9.0 only\) and "
                              r"the package carries no PTX; compile it for this GPU's target, or "
                              r"with tlspec compile --ptx"),
    # an sm_100a kernel on an H200, with or without its (arch-specific) PTX
    ("sm_100a", None, (9, 0), r"its cubin is for sm_100a \(compute capability 10.0 only\) and "
                              r"the package carries no PTX"),
    ("sm_100a", "compute_100a", (9, 0), r"its cubin is for sm_100a \(compute capability 10.0 "
                                        r"only\) and its PTX for compute_100a runs on compute "
                                        r"capability 10.0 only; compile it for this GPU's target$"),
    ("sm_90a", None, (8, 0), r"its cubin is for sm_90a \(compute capability 9.0 only\)"),
    ("sm_80", "compute_80", (7, 5), r"its cubin is for sm_80 \(compute capability 8.0 to 8.9\) "
                                    r"and its PTX for compute_80 runs on compute capability 8.0 "
                                    r"or later; compile it for this GPU's target"),
])
def test_a_gpu_that_can_run_no_image_is_named_with_the_kernel_and_its_target(
        build, arch, ptx_arch, capability, why):
    fn, driver = build(targeted(arch, ptx_arch), Driver(3, capability))
    gpu = rf"Fake GPU \(compute capability {capability[0]}.{capability[1]}\)"
    with pytest.raises(RuntimeError, match=rf"^b5_copy_symM\(\): no image of this kernel runs on "
                                           rf"{gpu}: {why}"):
        fn(Tensor((64, 1024)), Tensor((64, 1024), BASE + 0x100000))
    assert driver.images == []


# --------------------------------------------------------------------------------------------
# a cluster launch
# --------------------------------------------------------------------------------------------
class ClusterDriver(Driver):
    """A Driver that also takes cuLaunchKernelEx, recording the cluster of each launch."""
    CUlaunchAttributeID = types.SimpleNamespace(CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION="cluster")

    class CUlaunchConfig:
        pass

    class CUlaunchAttribute:
        def __init__(self):
            self.id = None
            self.value = types.SimpleNamespace(clusterDim=types.SimpleNamespace(x=0, y=0, z=0))

    def __init__(self, nparams):
        super().__init__(nparams)
        self.clusters = []

    def cuLaunchKernelEx(self, config, function, params, extra):
        (attribute,) = config.attrs[:config.numAttrs]
        dims = attribute.value.clusterDim
        self.clusters.append((attribute.id, (dims.x, dims.y, dims.z)))
        return self.cuLaunchKernel(function, config.gridDimX, config.gridDimY, config.gridDimZ,
                                   config.blockDimX, config.blockDimY, config.blockDimZ,
                                   config.sharedMemBytes, config.hStream, params, extra)


def test_a_cluster_kernel_is_launched_with_its_cluster(build):
    manifest = {**fixture("b5_copy_symM"), "cluster": [2, 1, 1]}
    fn, driver = build(manifest, ClusterDriver(len(manifest["params"])))
    a, b = Tensor((128, 1024)), Tensor((128, 1024), BASE + 0x100000)
    fn(a, b)
    fn(a, b, stream=5)
    assert driver.clusters == [("cluster", (2, 1, 1))] * 2
    assert [launch[1:5] for launch in driver.launches] == [((2, 8, 1), (256, 1, 1), 0, 1000),
                                                           ((2, 8, 1), (256, 1, 1), 0, 5)]
