"""The block-to-block copies of tests/gpu/dsmem_hunt/ (copy_cluster with dst_block: bulk and SIMT,
with and without remote_barrier, in loops, slots, 2-D clusters, next to multicasts and
pipelines) run on the GPU and by the reference interpreter on the same inputs, compared bit for
bit at the two sizes each spec's `x-sizes` names: random inputs, poisoned outputs inside
poisoned guard regions (test_interpret_gpu.py's `compare`). The same kernels run lowered on the
CPU evaluator in tests/compiler/test_dsmem_hunt_on_cpu.py.

Needs torch with a CUDA device, and the package `tlspec compile tests/gpu/dsmem_hunt -o
build/tlspec_dsmem_hunt` writes (or $TLSPEC_DSMEM_HUNT); skips otherwise.
"""

import pytest

yaml = pytest.importorskip("yaml", reason="the sizes are read from the specs")
pytest.importorskip("tlspec.interpret", reason="the interpreter needs tlspec importable")

from gpu_support import ROOT, compiled_package, package_kernels  # noqa: E402
from test_interpret_gpu import compare, fitted  # noqa: E402
from tlspec.validate import validate_paths  # noqa: E402

HUNT = ROOT / "tests" / "gpu" / "dsmem_hunt" / "dsmem_hunt.tlspec.yaml"
KERNELS = validate_paths([str(HUNT)]).kernels
SIZES = {d["name"]: d["x-sizes"] for d in yaml.safe_load_all(HUNT.read_text()) if d}


@pytest.fixture(scope="module")
def hunt_package():
    return compiled_package("TLSPEC_DSMEM_HUNT", "tlspec_dsmem_hunt", "tests/gpu/dsmem_hunt")


@pytest.mark.parametrize("kernel, size", [
    pytest.param(kernel, size, id=f"{kernel.name}-{i}") for kernel in KERNELS
    for i, size in enumerate(SIZES[kernel.name])])
def test_hunt_kernel_agrees_with_the_interpreter(hunt_package, kernel, size):
    compare(kernel, hunt_package, fitted(kernel, size))


def test_every_hunt_kernel_is_compared(hunt_package):
    compiled = package_kernels(hunt_package)
    assert sorted(compiled) == sorted(k.name for k in KERNELS)
    assert all(len(SIZES[k.name]) == 2 for k in KERNELS)
