"""Host time per call of a generated wrapper, without a GPU (and usable unchanged on one).

The launch path of a generated package (codegen/wrapper.py.tmpl + codegen/runtime.py and its
_*.py modules) is timed
against a fake CUDA driver: a tiny C library (compiled here with the system C compiler) that
exports the driver entry points the run time uses, each returning CUDA_SUCCESS at once, with
the soname libcuda.so.1. It is loaded before cuda.bindings looks for the driver, so the real
cuda.bindings.driver module (and any ctypes call into libcuda) runs against it: what is timed is
the Python side of a call, cuda-python's argument conversion included, and none of the driver's
own work. The arrays are fakes over no memory: __cuda_array_interface__ objects and a minimal
torch-like tensor class, with a fake `torch` module (current raw stream, empty() reusing freed
pointers as torch's caching allocator does) in sys.modules. Run it in its own process: it must
load before the real driver (or torch) is imported. The fake cuLaunchKernelEx can also record
what it receives (tests/codegen/test_launch_ctypes.py checks the ctypes launch path with it).

The kernels are the tests' GPU fixtures (tests/gpu/fixtures): b6_tma_symMN (two TMA maps, so
cached tensor maps per call) and b5_copy_symM (SIMT, pointer parameters), each called on one
cached signature with alternating pointers.

Usage:
    python bench/host_overhead.py [--calls 20000] [--repeat 15]
    python bench/host_overhead.py --profile torch-tma        # cProfile of one case
    mkdir /tmp/head && git archive HEAD codegen | tar -x -C /tmp/head
    python bench/host_overhead.py --compare /tmp/head/codegen   # A/B against another codegen/

--compare writes a second package from that codegen/ directory (its run time and templates)
and times both, interleaved in the same process (the fastest of --repeat runs each): the
machine's noise hits both alike.
"""
from __future__ import annotations

import argparse
import cProfile
import ctypes
import importlib
import json
import os
import pstats
import struct
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "gpu" / "fixtures"
KERNELS = ["b6_tma_symMN", "b5_copy_symM"]

FAKE_DRIVER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>
typedef int CUresult;
static char primary[64], module[64];
/* a function belongs to the context current when it was looked up, as in the driver: launching
   it with another context current fails with CUDA_ERROR_INVALID_HANDLE, with none current with
   CUDA_ERROR_INVALID_CONTEXT (what the H200's driver answered; bench/RESULTS.md, session 6) */
static struct { void *context; } functions[64];
static int function_count;
char other_context[64];                /* a second context a test may make current */
static void *current;
CUresult cuInit(unsigned flags) { return 0; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuCtxGetCurrent(void **c) { *c = current; return 0; }
CUresult cuCtxSetCurrent(void *c) { current = c; return 0; }
CUresult cuCtxGetDevice(int *d) { *d = 0; return 0; }
CUresult cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
/* compute capability 9.0 (attributes 75, 76); 227 KiB of shared memory a block may opt in to
   (97, MAX_SHARED_MEMORY_PER_BLOCK_OPTIN), as an H200 answers */
CUresult cuDeviceGetAttribute(int *v, int attribute, int d) {
    *v = attribute == 75 ? 9 : attribute == 97 ? 232448 : 0;
    return 0;
}
CUresult cuFuncGetAttribute(int *v, int attribute, void *f) { *v = 0; return 0; }  /* no static smem */
CUresult cuDeviceGetName(char *name, int len, int d) { strncpy(name, "fake H200", len); return 0; }
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { *c = primary; return 0; }
CUresult cuModuleLoadData(void **m, const void *image) { *m = module; return 0; }
CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
    int k = __sync_fetch_and_add(&function_count, 1) % 64;
    functions[k].context = current;
    *f = &functions[k];
    return 0;
}
CUresult cuFuncSetAttribute(void *f, int attribute, int value) { return 0; }
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned smem, void *stream, void **params, void **extra) {
    return 0;
}
/* cuLaunchKernelEx records its launches in `launches` (a ring) when record_params > 0: what the
   run time's ctypes launcher passed (tests/codegen/test_launch_ctypes.py reads them) */
typedef struct { unsigned grid[3], block[3], smem; void *stream; void *attrs; unsigned n_attrs; }
    Config;
typedef struct { unsigned grid[3], block[3], smem, n_attrs, attr_id, cluster[3];
                 uint64_t stream, function, params[8]; } Record;
Record launches[4096];
long launch_count;
int record_params, fail_launches;      /* fail_launches: return CUDA_ERROR_INVALID_VALUE */
CUresult cuLaunchKernelEx(const Config *config, void *f, void **params, void **extra) {
    if (fail_launches) return 1;
    if (!current) return 201;
    if (*(void **)f != current) return 400;
    if (record_params > 0) {
        Record *r = &launches[__sync_fetch_and_add(&launch_count, 1) % 4096];
        memcpy(r->grid, config->grid, sizeof r->grid);
        memcpy(r->block, config->block, sizeof r->block);
        r->smem = config->smem;
        r->stream = (uint64_t)config->stream;
        r->n_attrs = config->n_attrs;
        if (config->n_attrs) {
            r->attr_id = *(const int *)config->attrs;
            memcpy(r->cluster, (const char *)config->attrs + 8, sizeof r->cluster);
        }
        r->function = (uint64_t)f;
        for (int i = 0; i < record_params && i < 8; i++)
            r->params[i] = *(const uint64_t *)params[i];
    }
    return 0;
}
CUresult cuTensorMapEncodeTiled(void *map, int type, unsigned rank, void *address,
                                const uint64_t *dims, const uint64_t *strides,
                                const uint32_t *box, const uint32_t *element_strides,
                                int interleave, int swizzle, int l2, int oob) {
    memset(map, 0, 128);
    memcpy(map, &address, sizeof address);      /* the map's first 8 bytes: its address */
    return 0;
}
CUresult cuGetErrorName(CUresult e, const char **s) { *s = "CUDA_ERROR_FAKE"; return 0; }
CUresult cuGetErrorString(CUresult e, const char **s) { *s = "fake driver"; return 0; }
CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, uint64_t flags,
                             int *status) {
    Dl_info self;
    dladdr((void *)cuInit, &self);
    void *handle = dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    *pfn = handle ? dlsym(handle, symbol) : 0;
    if (status) *status = *pfn ? 0 : 1;
    return *pfn ? 0 : 500;
}
CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, uint64_t flags,
                           int *status) {     /* cuda.bindings calls it with the v2 arguments */
    return cuGetProcAddress_v2(symbol, pfn, version, flags, status);
}
"""

# The DLPack C exchange API of the fake Tensor below (torch publishes torch's as
# torch.Tensor.__dlpack_c_exchange_api__), read by the compiled launcher: a tensor's `_dl` bytes
# hold its DLTensor's fields (pointer, device type and id, ndim, dtype) then shape and strides;
# the current stream is one number, set_stream(n) (the fake torch's current raw stream too).
FAKE_EXCHANGE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
typedef struct { int32_t device_type, device_id; } DLDevice;
typedef struct { uint8_t code, bits; uint16_t lanes; } DLDataType;
typedef struct { void *data; DLDevice device; int32_t ndim; DLDataType dtype;
                 int64_t *shape, *strides; uint64_t byte_offset; } DLTensor;
typedef struct { struct { uint32_t major, minor; } version; void *prev; } Header;
typedef struct { Header header; void *alloc, *from_py, *to_py;
                 int (*dltensor)(void *, DLTensor *);
                 int (*stream)(int32_t, int32_t, void **); } API;
static unsigned long long current_stream;
static int dltensor(void *obj, DLTensor *out) {
    PyObject *dl = PyObject_GetAttrString((PyObject *)obj, "_dl");
    if (dl == NULL) return -1;
    if (!PyBytes_Check(dl)) {
        Py_DECREF(dl);
        PyErr_SetString(PyExc_BufferError, "this fake tensor cannot be exported");
        return -1;
    }
    const char *b = PyBytes_AsString(dl);      /* kept alive by obj._dl */
    Py_DECREF(dl);
    memcpy(&out->data, b, 8);
    memcpy(&out->device, b + 8, 8);
    memcpy(&out->ndim, b + 16, 4);
    memcpy(&out->dtype, b + 20, 4);
    out->shape = (int64_t *)(b + 24);
    out->strides = (int64_t *)(b + 24 + 8 * out->ndim);
    out->byte_offset = 0;
    return 0;
}
static int stream(int32_t type, int32_t id, void **out) {
    *out = (void *)(uintptr_t)current_stream;
    return 0;
}
static API api = {{{1, 3}, NULL}, NULL, NULL, NULL, dltensor, stream};
static PyObject *capsule(PyObject *m, PyObject *u) {
    return PyCapsule_New(&api, "dlpack_exchange_api", NULL);
}
static PyObject *set_stream(PyObject *m, PyObject *s) {
    current_stream = PyLong_AsUnsignedLongLong(s);
    Py_RETURN_NONE;
}
static PyObject *get_stream(PyObject *m, PyObject *s) {
    return PyLong_FromUnsignedLongLong(current_stream);
}
static PyMethodDef methods[] = {
    {"capsule", capsule, METH_NOARGS, ""}, {"set_stream", set_stream, METH_O, ""},
    {"get_stream", get_stream, METH_O, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "fake_exchange", "", -1, methods};
PyMODINIT_FUNC PyInit_fake_exchange(void) { return PyModule_Create(&def); }
"""


def load_fake_exchange(directory: Path) -> types.ModuleType:
    """Compile FAKE_EXCHANGE and give the fake Tensor its exchange API."""
    import importlib.machinery
    import importlib.util
    import sysconfig
    src = directory / "fake_exchange.c"
    lib = directory / ("fake_exchange" + importlib.machinery.EXTENSION_SUFFIXES[0])
    src.write_text(FAKE_EXCHANGE)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}",
                    "-o", str(lib), str(src)], check=True)
    spec = importlib.util.spec_from_file_location("fake_exchange", lib)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["fake_exchange"] = module
    Tensor.__dlpack_c_exchange_api__ = module.capsule()
    return module


def load_fake_driver(directory: Path) -> ctypes.CDLL:
    """Compile the fake driver and load it globally under the soname libcuda.so.1."""
    if "cuda.bindings.driver" in sys.modules or "torch" in sys.modules:
        raise RuntimeError("load the fake driver before cuda.bindings or torch is imported")
    src, lib = directory / "fake_cuda.c", directory / "libcuda.so.1"
    src.write_text(FAKE_DRIVER)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", str(lib),
                    str(src), "-ldl"], check=True)
    return ctypes.CDLL(str(lib), mode=os.RTLD_GLOBAL)


# -- fake arrays -------------------------------------------------------------------------------
class CaiArray:
    """A __cuda_array_interface__ v3 fp16 array over no memory."""

    def __init__(self, shape: tuple, ptr: int) -> None:
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f2", "data": (ptr, False),
                                         "strides": None, "version": 3}


class _Dtype:
    def __init__(self, name: str, dlpack: tuple = (2, 16)) -> None:
        self.name, self.dlpack = name, dlpack      # DLPack (code, bits)

    def __str__(self) -> str:
        return "torch." + self.name


class Tensor:
    """The slice of a 2-D, C-contiguous CUDA torch.Tensor's interface that the run time reads
    (module "torch": the run time recognises torch tensors by their type's module)."""
    is_cuda = True

    def __init__(self, shape: tuple, ptr: int, dtype: _Dtype, device: int = 0) -> None:
        self.shape, self.dtype, self._ptr, self._device = shape, dtype, ptr, device
        # what the fake exchange API (FAKE_EXCHANGE) reads: DLTensor's fields, shape, strides
        self._dl = struct.pack(f"<QiiiBBH{2 * len(shape)}q", ptr, 2, device, len(shape),
                               *dtype.dlpack, 1, *shape, *self.stride())

    def data_ptr(self) -> int:
        return self._ptr

    def stride(self) -> tuple:
        return (self.shape[1], 1)

    def get_device(self) -> int:
        return self._device


Tensor.__module__ = "torch"


class PooledTensor(Tensor):
    """A Tensor whose pointer returns to its pool when it is freed, as a block of torch's caching
    allocator does: the next allocation of that size gets it again."""

    def __init__(self, pool: list, *args) -> None:
        super().__init__(*args)
        self._pool = pool

    def __del__(self) -> None:
        self._pool.append(self._ptr)


PooledTensor.__module__ = "torch"


def fake_torch() -> types.ModuleType:
    """A `torch` module with what the run time's stream=None and allocation paths call. Its
    empty() reuses freed pointers like torch's caching allocator; with torch.fresh_pointers set,
    every allocation gets a new one (the worst case for the run time's caches)."""
    torch = types.ModuleType("torch")
    torch.float16 = _Dtype("float16")
    torch.Tensor = Tensor
    next_ptr = iter(range(0x7F10_0000_0000, 1 << 62, 1 << 20))
    pool: list = []
    torch.fresh_pointers = False

    def empty(shape, dtype, device):
        device = 0 if device == "cuda" else device
        if torch.fresh_pointers:
            return Tensor(tuple(shape), next(next_ptr), dtype, device)
        return PooledTensor(pool, tuple(shape), pool.pop() if pool else next(next_ptr), dtype,
                            device)

    torch.empty = empty
    torch.cuda = types.SimpleNamespace(is_initialized=lambda: True, current_device=lambda: 0)
    exchange = sys.modules.get("fake_exchange")      # its current stream, when it is loaded
    torch._C = types.SimpleNamespace(_cuda_getCurrentRawStream=(
        exchange.get_stream if exchange is not None else lambda device: 0))
    return torch


# -- package and cases ---------------------------------------------------------------------------
def load_package(directory: Path, name: str, codegen: Path = None) -> types.ModuleType:
    """The fixture kernels as package `name`, written from `codegen` (a codegen/ directory:
    run time and templates) if given, else from this tree's."""
    sys.path.insert(0, str(ROOT))
    from tlspec import package
    artifacts = [package.KernelArtifact(n, json.loads((FIXTURES / f"{n}.json").read_text()),
                                        (FIXTURES / f"{n}.cu").read_text(),
                                        (FIXTURES / f"{n}.cubin").read_bytes()) for n in KERNELS]
    source = codegen or package.codegen_dir()
    with mock.patch.object(package, "codegen_dir", lambda: source):
        package.write_package(directory / name, artifacts)
    sys.path.insert(0, str(directory))
    return importlib.import_module(name)


def cases(pkg: types.ModuleType, torch: types.ModuleType) -> dict:
    """name -> a function of one call; each alternates between two pairs of arrays."""
    shape, half = (64, 64), torch.float16
    ptrs = [0x7F00_0000_0000 + i * 0x10000 for i in range(4)]
    cai = [CaiArray(shape, p) for p in ptrs]
    ten = [Tensor(shape, p, half) for p in ptrs]
    small = [Tensor((64, 1024), p, half) for p in ptrs]

    def alternate(fn, arrays, **kw):
        pairs = [(arrays[0], arrays[1]), (arrays[2], arrays[3])]
        state = [0]

        def call():
            state[0] ^= 1
            a, b = pairs[state[0]]
            return fn(a, b, **kw)
        return call

    def fresh(fn):
        def call():
            torch.fresh_pointers = True
            try:
                return fn()
            finally:
                torch.fresh_pointers = False
        return call

    return {
        "cai-tma (stream=0)": alternate(pkg.b6_tma_symMN, cai, stream=0),
        "torch-tma (stream=None)": alternate(pkg.b6_tma_symMN, ten),
        "torch-simt (stream=None)": alternate(pkg.b5_copy_symM, small),
        "torch-simt (output omitted)": lambda: pkg.b5_copy_symM(small[0]),
        "torch-simt (output omitted, a new pointer each call)": fresh(
            lambda: pkg.b5_copy_symM(small[0])),
    }


def per_call_us(fns: list, calls: int, repeat: int) -> list:
    """For each function, the fastest of `repeat` runs of `calls` calls, in microseconds per
    call; the functions' runs are interleaved. The clock is the thread's CPU time: a run
    preempted by another process on a busy machine is not charged for the time it waited."""
    for fn in fns:
        for _ in range(1000):
            fn()
    runs = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, runs):
            t0 = time.thread_time_ns()
            for _ in range(calls):
                fn()
            out.append((time.thread_time_ns() - t0) / calls / 1e3)
    return [min(r) for r in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--profile", metavar="CASE", help="cProfile the case whose name starts "
                                                          "with CASE instead of timing")
    parser.add_argument("--compare", type=Path, metavar="CODEGEN",
                        help="also time a package written from this codegen/ directory")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="tlspec_host_"))
    load_fake_driver(directory)
    load_fake_exchange(directory)
    torch = sys.modules["torch"] = fake_torch()
    table = cases(load_package(directory, "host_pkg"), torch)
    if args.profile:
        name = next((n for n in table if n.startswith(args.profile)), None)
        if name is None:
            parser.error(f"--profile: no case starts with {args.profile!r}: {list(table)}")
        fn = table[name]
        for _ in range(1000):
            fn()
        profile = cProfile.Profile()
        profile.runcall(lambda: [fn() for _ in range(args.calls)])
        print(f"{name}: {args.calls} calls")
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    other = {} if args.compare is None else cases(
        load_package(directory, "host_pkg_compare", args.compare), torch)
    from cuda.bindings import __version__ as bindings
    print(f"python {sys.version.split()[0]}, cuda-bindings {bindings}, fake driver, fastest of "
          f"{args.repeat} runs of {args.calls} calls\n")
    if other:
        print(f"| case | us per call | with {args.compare} |\n|---|---|---|")
    else:
        print("| case | us per call |\n|---|---|")
    for name, fn in table.items():
        times = per_call_us([fn] + ([other[name]] if other else []), args.calls, args.repeat)
        print(f"| {name} | " + " | ".join(f"{t:.2f}" for t in times) + " |")


if __name__ == "__main__":
    main()
