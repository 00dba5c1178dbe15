"""The GPU side of a differential run, one chunk of calls in one process (run_gpu.py starts it):
for each call, the inputs of cases.call_arrays copied to the device, the outputs poisoned inside
larger poisoned buffers, the compiled kernel called, the device synchronised, and the outputs
and the damage to their guard regions written to SCRATCH/gpu/<key>.npz.

STATUS (a JSON-lines file) gets a line {"key", "status": "running"} before each call and
{"key", "status": "ran" | "launch error", ...} after it, so that the parent knows which call was
running when the process died (a CUDA error such as an illegal address poisons the context:
after a RuntimeError from a call, this process stops and the parent starts a new one).

The device is pluggable: `TorchDevice` on the GPU machine; tests use a numpy stand-in.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np

from cases import call_arrays, storage, written
from tlspec.interpret.binding import c_strides

STOPPED = 3                 # exit status: stopped after a CUDA error


class TorchDevice:
    """Tensors on the CUDA device, through the GPU tests' helpers (tests/gpu/gpu_support.py)."""

    def __init__(self, folder: Path):
        import gpu_support as g        # torch; needs a CUDA device (else the import skips)
        self.g = g
        sys.path.insert(0, str(folder / "packages"))

    def kernel(self, package: str, name: str):
        return getattr(importlib.import_module(package), name)

    def _signed(self, array: np.ndarray):
        return self.g.torch.from_numpy(array.view(f"i{array.itemsize}"))

    def tensor(self, array: np.ndarray, dtype: str):
        """`array` on the device; a strided view (cases.pitched_view) as a view with its strides
        of a copy of its whole buffer."""
        flat = self._signed(storage(array)).to(self.g.DEVICE)
        if _pitched(array):
            flat = flat.as_strided(array.shape, _element_strides(array))
        return flat.view(self.g.TORCH_DTYPES[dtype])

    def output(self, array: np.ndarray, dtype: str):
        """A poisoned tensor inside a poisoned buffer, holding `array` (poison or initial values);
        a strided view's whole buffer, gaps included, lies inside the guards."""
        whole = storage(array)
        out = self.g.guarded(list(whole.shape), self.g.TORCH_DTYPES[dtype])
        self.g.bits(out).copy_(self._signed(whole))
        return out if not _pitched(array) else out.as_strided(
            array.shape, _element_strides(array), out.storage_offset())

    def fetch(self, tensor) -> tuple[np.ndarray, list[int]]:
        """(the tensor's bits on the host as unsigned integers: a strided view's whole buffer,
        as cases.storage takes it; guard damage [before, after])."""
        whole = tensor if tensor.is_contiguous() else tensor.as_strided(
            (self.g.span(tensor),), (1,), tensor.storage_offset())
        host = self.g.bits(whole).cpu().numpy()
        return host.view(f"u{host.itemsize}"), list(self.g.guard_damage(tensor))

    def sync(self) -> None:
        self.g.torch.cuda.synchronize()


def _element_strides(array: np.ndarray) -> tuple[int, ...]:
    return tuple(s // array.itemsize for s in array.strides)


def _pitched(array: np.ndarray) -> bool:
    """Whether `array` is a view with strides of its own: numpy calls a view of one row
    C-contiguous whatever its row stride, but the kernel's wrapper binds a pitch from it (a
    single-row pitched view passed as a contiguous tensor bound LD to its width, below LD's
    minimum: differential seed 26)."""
    return _element_strides(array) != tuple(c_strides(array.shape))


def load_device(spec: str, folder: Path):
    """`torch`, or 'module:Class' (a stand-in importable from sys.path)."""
    if spec == "torch":
        return TorchDevice(folder)
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)(folder)


def run_chunk(folder: Path, keys: list[str], scratch: Path, status: Path, device_spec: str) -> int:
    cases = json.loads((folder / "cases.json").read_text())["cases"]
    device = load_device(device_spec, folder)
    with status.open("a") as log:
        for key in keys:
            case_index, call_index = (int(x) for x in key.split("."))
            case = cases[case_index]
            call = case["calls"][call_index]
            log.write(json.dumps({"key": key, "status": "running"}) + "\n")
            log.flush()
            record, stop = _run_call(device, case, call, scratch / "gpu" / f"{key}.npz")
            log.write(json.dumps({"key": key, **record}) + "\n")
            log.flush()
            if stop:
                return STOPPED
    return 0


def _run_call(device, case: dict, call: dict, path: Path) -> tuple[dict, bool]:
    arrays = call_arrays(case, call)
    outputs = set(written(case))
    try:
        kernel = device.kernel(case["package"], case["kernel"])
        args = [device.output(arrays[a["name"]], a["dtype"]) if a["name"] in outputs
                else device.tensor(arrays[a["name"]], a["dtype"]) for a in case["arguments"]]
        kernel(*args)
        device.sync()
        results, guards = {}, {}
        for a, tensor in zip(case["arguments"], args):
            if a["name"] in outputs:
                results[a["name"]], guards[a["name"]] = device.fetch(tensor)
    except (TypeError, ValueError) as e:          # the wrapper refused the call's arguments
        return {"status": "launch error", "message": f"{type(e).__name__}: {e}"}, False
    except RuntimeError as e:                     # a CUDA error: the context may be lost
        return {"status": "launch error", "message": f"RuntimeError: {e}"}, True
    np.savez(path, **results)
    return {"status": "ran", "guards": guards}, False
