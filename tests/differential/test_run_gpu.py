"""run_gpu.py's logic on the CPU, with stand-ins kept here: a numpy "device" whose kernels are
Python functions (right, partly wrong, writing past the end, refusing the call, failing like a
CUDA error, killing their process) and a stand-in interpreter (B = A, the meaning of the test
spec). Checks the comparison, the guards, the records of each failure, and that the run goes on
after a crash or a CUDA error in a fresh process."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

import run_gpu
from cases import call_arrays, poisoned, random_bits, storage

SPEC = """tlspec: 1
name: {name}
dims: {{N: symbolic}}
buffers:
  A: {{scope: global, shape: [N], dtype: float32, io: in}}
  B: {{scope: global, shape: [N], dtype: float32, io: out}}
launch: {{grid: {{bx: "ceildiv(N, 4)"}}, threads: 32}}
stages:
  - copy: {{src: "A[bx*4 : +4]", dst: "B[bx*4 : +4]"}}
"""
GUARD = 8


def run(kernel, arrays):
    """The stand-in interpreter: B = A; a kernel named 'undefined' has no defined result."""
    if kernel.name == "undefined":
        raise ValueError("stand-in: the result is undefined")
    arrays["B"][...] = arrays["A"]


def _overrun(A, B):
    B[...] = A
    B.base[GUARD + B.size] = 7          # one element past the end


def _crash(A, B):
    os._exit(9)


def _cuda_error(A, B):
    raise RuntimeError("cuLaunchKernel failed: CUDA_ERROR_ILLEGAL_ADDRESS")


def _refuse(A, B):
    raise ValueError("argument 'A' has shape (3,)")


def _partial(A, B):
    B[:-1] = A[:-1]


def _hang(A, B):
    time.sleep(600)


KERNELS = {"good": lambda A, B: B.__setitem__(Ellipsis, A), "undefined": lambda A, B: None,
           "partial": _partial, "overrun": _overrun, "crash": _crash,
           "cuda_error": _cuda_error, "refuse": _refuse, "hang": _hang}


class StandInDevice:
    """Arrays in host memory; outputs inside a poisoned buffer of GUARD elements each side."""

    def __init__(self, folder):
        self.folder = folder

    def kernel(self, package, name):
        return KERNELS[name.split("_", 1)[1]]

    def tensor(self, array, dtype):
        return array.copy()

    def output(self, array, dtype):
        base = np.full(array.size + 2 * GUARD, poisoned([1], dtype)[0])
        base[GUARD:GUARD + array.size] = array.ravel()
        return base[GUARD:GUARD + array.size].reshape(array.shape)

    def fetch(self, tensor):
        base, poison = tensor.base, tensor.base[0]
        return tensor.copy(), [int((base[:GUARD] != poison).sum()),
                               int((base[GUARD + tensor.size:] != poison).sum())]

    def sync(self):
        pass


def _batch(folder, names):
    """A batch folder of one-dimensional copies, each called with N = 10 and N = 1."""
    (folder / "specs").mkdir()
    cases = []
    for i, name in enumerate(names):
        kernel = f"k{i}_{name}"
        (folder / "specs" / f"{kernel}.tlspec.yaml").write_text(SPEC.format(name=name))
        cases.append({"kernel": kernel, "package": "pkg00", "spec": f"specs/{kernel}.tlspec.yaml",
                      "arguments": [{"name": "A", "dtype": "float32", "io": "in"},
                                    {"name": "B", "dtype": "float32", "io": "out"}],
                      "calls": [{"dims": {"N": n}, "shapes": {"A": [n], "B": [n]}, "seed": n}
                                for n in (10, 1)]})
    (folder / "cases.json").write_text(json.dumps({"seed": 0, "cases": cases}))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    _batch(folder, ["good", "crash", "good", "cuda_error", "partial", "overrun", "refuse",
                    "undefined", "good"])
    return run_gpu.run(folder, jobs=2, chunk=100, device="test_run_gpu:StandInDevice",
                       interpreter="test_run_gpu", log=lambda text: None)


def _results(report, name):
    return [r for r in report["results"] if r["kernel"].endswith("_" + name)]


def test_a_call_that_hangs_is_a_timeout_and_the_run_goes_on(tmp_path, monkeypatch):
    """A kernel that never returns (an mbarrier waiting for bytes that never come) is stopped
    after CALL_SECONDS; the calls after it run in a fresh process."""
    monkeypatch.setattr(run_gpu, "CALL_SECONDS", 2)
    _batch(tmp_path, ["hang", "good"])
    report = run_gpu.run(tmp_path, jobs=1, chunk=100, device="test_run_gpu:StandInDevice",
                         interpreter="test_run_gpu", log=lambda text: None)
    assert [r["status"] for r in report["results"]] == ["timeout", "timeout", "pass", "pass"]


def test_a_spent_budget_leaves_the_rest_not_run(tmp_path):
    _batch(tmp_path, ["good", "good"])
    report = run_gpu.run(tmp_path, jobs=1, chunk=100, budget=0,
                         device="test_run_gpu:StandInDevice", interpreter="test_run_gpu",
                         log=lambda text: None)
    assert report["counts"]["not run"] == 4 and report["failing_kernels"] == []


def test_kernels_that_match_pass_and_the_run_goes_on_after_crashes(report):
    good = _results(report, "good")
    assert len(good) == 6 and all(r["status"] == "pass" for r in good)
    assert report["calls"] == 18 and report["counts"]["pass"] == 6


def test_a_crash_is_recorded_for_the_call_it_happened_in(report):
    crash = _results(report, "crash")
    assert [r["status"] for r in crash] == ["crash", "crash"]
    assert "exit status 9" in crash[0]["message"]


def test_a_cuda_error_is_a_launch_error_and_stops_that_process(report):
    errors = _results(report, "cuda_error")
    assert [r["status"] for r in errors] == ["launch error"] * 2
    assert "CUDA_ERROR_ILLEGAL_ADDRESS" in errors[0]["message"]


def test_unwritten_elements_are_counted_with_the_first_differing_index(report):
    first = _results(report, "partial")[0]
    assert first["status"] == "mismatch"
    assert first["outputs"]["B"] == {"unwritten": 1, "wrong": 0, "guard": [0, 0],
                                     "elements": 10, "first": [[9]]}


def test_a_write_past_the_end_breaks_the_guard(report):
    first = _results(report, "overrun")[0]
    assert first["status"] == "mismatch"
    assert first["outputs"]["B"]["guard"] == [0, 1] and first["outputs"]["B"]["wrong"] == 0


def test_refused_arguments_and_interpreter_errors_are_recorded(report):
    assert {r["status"] for r in _results(report, "refuse")} == {"launch error"}
    undefined = _results(report, "undefined")
    assert {r["status"] for r in undefined} == {"interpreter error"}
    assert "stand-in: the result is undefined" in undefined[0]["message"]


def test_the_summary_names_each_failing_kernel(report):
    text = run_gpu.render(report)
    for name in ("crash", "cuda_error", "partial", "overrun", "refuse", "undefined"):
        assert f"_{name}" in text
    assert report["failing_kernels"] == sorted(r["kernel"] for r in report["results"]
                                               if r["status"] != "pass")[::2]


def test_inputs_are_never_zero_nor_poison():
    bits = random_bits(np.random.default_rng(0), [1 << 16], "uint8")
    assert not (bits == 0).any() and not (bits == poisoned([1], "uint8")[0]).any()


def test_a_pitched_argument_is_a_strided_view_whose_gaps_are_compared():
    """An argument with declared strides (the call's `strides`) is a view of a larger buffer;
    what is compared (`storage`) is that buffer from the first element to the last, its gaps
    poisoned for an output: a kernel that writes them fails."""
    case = {"arguments": [{"name": "A", "dtype": "uint16", "io": "in"},
                          {"name": "B", "dtype": "float32", "io": "out"}]}
    call = {"seed": 3, "shapes": {"A": [3, 5], "B": [3, 5]}, "strides": {"B": [8, 1]}}
    arrays = call_arrays(case, call)
    assert arrays["A"].flags.c_contiguous and arrays["B"].strides == (32, 4)
    arrays["B"][...] = 1
    whole = storage(arrays["B"])
    poison = poisoned([1], "float32")[0]
    assert whole.shape == (21,) and (whole[5:8] == poison).all() and (whole[16:] == 1).all()
