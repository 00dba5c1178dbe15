"""The block-to-block copies of tests/gpu/dsmem_hunt/ (bulk and SIMT copies with and without
remote_barrier, in loops with symbolic and zero trip counts, slots and barrier arrays, 2-D
clusters, sub-regions, padded and swizzled tiles, next to multicasts, TMA loads and pipelines)
lowered by tlspec's passes and run whole on the CPU evaluator (tests/tir_run.py, the blocks of a
cluster together: tests/tir_cluster.py), against the reference interpreter, at the two sizes
each spec's `x-sizes` names and in both completion modes (tests/tir_async.py: EAGER lands a
copy when issued, LAZY as late as PTX allows, newest first). The evaluator runs the lower ranks
of a cluster ahead of the higher ones, so a missing cluster barrier shows where the kernel uses
copies in both directions. tests/gpu/test_dsmem_hunt_gpu.py runs the same kernels compiled."""
from functools import cache

import numpy as np
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import yaml
from conftest import ROOT
from test_clusters_on_cpu import fitted, inputs, lowered
from tir_async import EAGER, LAZY
from tir_run import run_kernel

from tlspec.interpret import Program
from tlspec.validate import validate_paths

HUNT = ROOT / "tests" / "gpu" / "dsmem_hunt" / "dsmem_hunt.tlspec.yaml"
KERNELS = {k.name: k for k in validate_paths([str(HUNT)]).kernels}
SIZES = {d["name"]: d["x-sizes"] for d in yaml.safe_load_all(HUNT.read_text()) if d}
# outputs that only a loop writes, which runs no iteration at the first size
LOOP_ONLY = {"hunt_zero_trip_loop_f32": "C", "hunt_zero_trip_bulk_f16": "C"}


@cache
def compiled(name: str):
    return lowered(KERNELS[name])


def expected_outputs(name: str, dims: dict) -> tuple[dict, dict]:
    """The inputs (outputs poisoned) and what the interpreter leaves in them."""
    kernel = KERNELS[name]
    arrays = inputs(kernel, dims, seed=3)
    expected = {n: a.copy() for n, a in arrays.items()}
    Program(kernel).run(expected)
    for buffer in kernel.buffers.values():       # every output element written: a real check
        if buffer.is_global and buffer.io == "out" and LOOP_ONLY.get(name) != buffer.name:
            assert (expected[buffer.name] != np.iinfo(expected[buffer.name].dtype).max).all()
    return arrays, expected


@pytest.mark.parametrize("completion", [EAGER, LAZY])
@pytest.mark.parametrize("name, size", [(name, i) for name in KERNELS
                                        for i in range(len(SIZES[name]))])
def test_the_hunt_kernels_leave_what_the_interpreter_does(name, size, completion):
    dims = fitted(KERNELS[name], SIZES[name][size])
    arrays, expected = expected_outputs(name, dims)
    run_kernel(compiled(name), arrays, dims, completion=completion)
    for n in arrays:
        assert np.array_equal(arrays[n], expected[n]), n


def test_every_hunt_kernel_has_two_sizes():
    assert len(KERNELS) >= 25 and all(len(SIZES[name]) == 2 for name in KERNELS)
