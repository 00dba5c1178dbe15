"""Launches against the fake libcuda of bench/host_overhead.py, which records what each
cuLaunchKernelEx received (grid, block, shared memory, stream, cluster attribute, function and
the kernel parameters' values). The fake must be loaded before cuda.bindings finds the driver,
so each case runs in a fresh Python process (SCRIPT) that prints, as JSON, the records, the
compiled launcher's counts (`stats`: None without one) and what the case's code put in `said`.

`native`: the package's compiled launcher (codegen/_native_launch.c) reads the fake tensors
through a fake DLPack exchange API, so calls it remembers launch from C; without it
(TLSPEC_NATIVE_LAUNCH=0) every call takes the Python path."""
import json
import os
import subprocess
import sys
import textwrap

from conftest import ROOT

SCRIPT = textwrap.dedent('''
    import ctypes, json, sys, tempfile, threading
    from pathlib import Path
    sys.path.insert(0, {bench!r})
    import host_overhead as h
    directory = Path(tempfile.mkdtemp())
    lib = h.load_fake_driver(directory)
    {exchange}
    torch = sys.modules["torch"] = h.fake_torch()
    h.KERNELS[:] = {kernels!r}
    pkg = h.load_package(directory, "pkg")
    ctypes.c_int.in_dll(lib, "record_params").value = {nparams}
    Tensor, half = h.Tensor, torch.float16

    class Record(ctypes.Structure):
        _fields_ = [("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3),
                    ("smem", ctypes.c_uint), ("n_attrs", ctypes.c_uint),
                    ("attr_id", ctypes.c_uint), ("cluster", ctypes.c_uint * 3),
                    ("stream", ctypes.c_uint64), ("function", ctypes.c_uint64),
                    ("params", ctypes.c_uint64 * 8)]

    def records():
        count = ctypes.c_long.in_dll(lib, "launch_count").value
        ring = (Record * 4096).in_dll(lib, "launches")
        return [dict(grid=list(r.grid), block=list(r.block), smem=r.smem, stream=r.stream,
                     attrs=r.n_attrs, attr_id=r.attr_id, cluster=list(r.cluster),
                     function=r.function, params=list(r.params[:{nparams}]))
                for r in ring[:count]]
    said = None
    {body}
    native = getattr(pkg, {kernel_name!r}).__globals__["_KERNEL"]._native
    print(json.dumps(dict(records=records(), stats=native and native.stats(), said=said)))
''')
BASE = 0x7F00_0000_0000


def run(kernel, nparams, body, native=True):
    """{"records", "stats", "said"} of `body` (code using pkg, Tensor, half, torch, lib and
    threading), which calls the fixture kernel `kernel` of tests/gpu/fixtures."""
    script = SCRIPT.format(bench=str(ROOT / "bench"), kernels=[kernel], kernel_name=kernel,
                           nparams=nparams,
                           body=textwrap.dedent(body).strip(),
                           exchange="h.load_fake_exchange(directory)" if native else "pass")
    env = dict(os.environ, TLSPEC_NATIVE_LAUNCH="1" if native else "0")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
