"""Every kernel of the compiled specs/ package, of the compiled matrix (tests/gpu/matrix/), of
the asynchronous kernels (tests/gpu/async/: pipelines, explicit barriers and cp.async groups) and
the multicasts of tests/gpu/cluster/ (pairs, partial masks, loops and pipelines of them),
run on the GPU and by the reference interpreter (tlspec.interpret, docs/interpreter.md) on the
same inputs, compared bit for bit: the interpreter is the oracle of what a kernel computes.

Inputs are random bits, never zero; the index tensors of gathers and scatters hold random rows
of their table (distinct for a scatter). Outputs start with every bit set on both sides, and on
the GPU lie inside poisoned guard regions that must survive. The matrix kernels run at the
small and ragged sizes of the interpreter's CPU tests (tests/interpret/example_kernels.py), the
asynchronous kernels at the copies' sizes; the
kernels of specs/ at their own sizes (the two largest take the interpreter about 10 s each).

Needs torch with a CUDA device, tlspec and numpy importable (tvm is not needed), and the
packages `tlspec compile specs/ -o build/tlspec_kernels` and `tlspec compile tests/gpu/matrix
-o build/tlspec_matrix` write (or $TLSPEC_KERNELS, $TLSPEC_MATRIX); skips otherwise.
"""
import sys

import pytest

np = pytest.importorskip("numpy", reason="the interpreter needs numpy")
pytest.importorskip("tlspec.interpret", reason="the interpreter needs tlspec importable")

from gpu_support import (DEVICE, POISON, ROOT, assert_guards, compiled_package,  # noqa: E402
                         guarded, on_blackwell, package_kernels, torch)
from gpu_support import TORCH_DTYPES as TORCH  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "interpret"))
from example_kernels import (SIZES, async_kernels, fitted, inputs, kind_of,  # noqa: E402
                             matrix_kernels, runs, spec_kernels)
from tlspec.interpret import Program  # noqa: E402
from tlspec.validate import validate_paths  # noqa: E402

SIGNED = {1: (np.int8, torch.int8), 2: (np.int16, torch.int16), 4: (np.int32, torch.int32),
          8: (np.int64, torch.int64)}


@pytest.fixture(scope="module")
def specs_package():
    return compiled_package("TLSPEC_KERNELS", "tlspec_kernels", "specs/")


@pytest.fixture(scope="module")
def matrix_package():
    return compiled_package("TLSPEC_MATRIX", "tlspec_matrix", "tests/gpu/matrix")


def to_device(bits, dtype: str, guard: bool):
    """The array (unsigned integers of the element size) as a CUDA tensor of the spec dtype;
    inside a poisoned guard region when `guard` (and gpu_support has a poison for the dtype)."""
    signed, signed_torch = SIGNED[bits.dtype.itemsize]
    host = torch.from_numpy(np.ascontiguousarray(bits).view(signed))
    if guard and TORCH[dtype] in POISON:
        tensor = guarded(bits.shape, TORCH[dtype])
        tensor.view(signed_torch).copy_(host)
        return tensor
    return host.to(DEVICE).view(TORCH[dtype])


def to_host(tensor):
    """A CUDA tensor's elements as unsigned integers of their size."""
    size = tensor.element_size()
    return tensor.view(SIGNED[size][1]).cpu().numpy().view(f"u{size}")


def compare(kernel, package, dims):
    """Run `kernel` on the GPU and in the interpreter on the same inputs; every out and inout
    argument must agree bit for bit, and no GPU write may land outside it."""
    arrays = inputs(kernel, dims)
    arguments = [b for b in kernel.buffers.values() if b.is_global]
    tensors = [to_device(arrays[b.name], b.dtype, guard=b.io != "in") for b in arguments]
    getattr(package, kernel.name)(*tensors)
    torch.cuda.synchronize()
    Program(kernel).run(arrays)
    for buffer, tensor in zip(arguments, tensors):
        if buffer.io == "in":
            continue
        gpu, expected = to_host(tensor), arrays[buffer.name]
        differ = gpu != expected
        if differ.any():
            unwritten = int((differ & (gpu == np.iinfo(gpu.dtype).max)).sum())
            at = tuple(int(i) for i in np.argwhere(differ)[0])
            pytest.fail(f"{kernel.name} {dims}: {buffer.name}: {int(differ.sum())} of "
                        f"{gpu.size} elements differ from the interpreter's ({unwritten} never "
                        f"written on the GPU); the first at {at}: GPU {gpu[at]:#x}, "
                        f"interpreter {expected[at]:#x}")
        if tensor._base is not None:
            assert_guards(tensor, f"{kernel.name}: {buffer.name}")


# -- tests/gpu/matrix/ -----------------------------------------------------------------------------

MATRIX = matrix_kernels()


@pytest.mark.parametrize("kernel, size", [
    pytest.param(kernel, size, id=f"{kernel.name}-{i}") for kernel in MATRIX
    for i, size in enumerate(SIZES[kind_of(kernel)])])
def test_matrix_kernel_agrees_with_the_interpreter(matrix_package, kernel, size):
    compare(kernel, matrix_package, fitted(kernel, size))


def test_every_matrix_kernel_is_compared(matrix_package):
    compiled = package_kernels(matrix_package)
    assert sorted(compiled) == sorted(k.name for k in MATRIX)


# -- tests/gpu/async/ ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def async_package():
    return compiled_package("TLSPEC_ASYNC", "tlspec_async", "tests/gpu/async")


@pytest.mark.parametrize("kernel, size", [
    pytest.param(kernel, size, id=f"{kernel.name}-{i}") for kernel in async_kernels()
    for i, size in enumerate(SIZES["copy"])])
def test_async_kernel_agrees_with_the_interpreter(async_package, kernel, size):
    compare(kernel, async_package, fitted(kernel, size))


# -- tests/gpu/cluster/: the multicasts -----------------------------------------------------------

CLUSTER_SPECS = ROOT / "tests" / "gpu" / "cluster" / "cluster.tlspec.yaml"
# mc_pipe_2x2_partial_f32 stores a tile its unmasked blocks never received (undefined there: the
# interpreter says so)
CLUSTER_KERNELS = [k for k in validate_paths([str(CLUSTER_SPECS)]).kernels
                   if runs(k) and k.name != "mc_pipe_2x2_partial_f32"]


@pytest.fixture(scope="module")
def cluster_package():
    return compiled_package("TLSPEC_CLUSTER", "tlspec_cluster", "tests/gpu/cluster")


@pytest.mark.parametrize("kernel, size", [
    pytest.param(kernel, size, id=f"{kernel.name}-{i}") for kernel in CLUSTER_KERNELS
    for i, size in enumerate([dict(B=16, M=40, N=200, L=2), dict(B=32, M=1, N=16, L=4)])])
def test_cluster_kernel_agrees_with_the_interpreter(cluster_package, kernel, size):
    compare(kernel, cluster_package, fitted(kernel, size))


def test_the_multicast_and_block_to_block_kernels_are_compared():
    assert {k.name for k in CLUSTER_KERNELS} >= {"mc_pair_f16", "mc_2x2_partial_mask_f16",
                                                 "mc_loop_f16", "mc_16_f32", "mc_pipe_f16",
                                                 "mc_pipe_i8", "mc_pipe_reentered_bf16",
                                                 "dsmem_swap_bulk_f16", "dsmem_ring8_bulk_f32",
                                                 "dsmem_row127_simt_f32", "dsmem_rows31_simt_f32",
                                                 "dsmem_no_barrier_bf16"}


# -- specs/ -----------------------------------------------------------------------------------------

# symbolic dims of the kernels of specs/ (the others have constant sizes)
SPEC_SIZES = {"copy_symbolic": [{"M": 64, "N": 128}, {"M": 320, "N": 384}],
              "im2col_strided": [{"N": 1}, {"N": 3}],
              "paged_kv_gather": [{"B": 3, "T": 37, "MAXP": 4, "NP": 7},
                                  {"B": 2, "T": 300, "MAXP": 19, "NP": 40}],
              "paged_kv_gather_pages": [{"B": 2, "T": 32, "MAXP": 3, "NP": 5}],
              "transpose_batched": [{"B": 3, "M": 72, "N": 136}],
              "embedding_lookup": [{"T": 7}],
              "concat_last": [{"M": 6}]}
# (copy_tiles, 32768 blocks, and im2col_3x3, 28224, take the interpreter about 10 s each)
SPEC_CASES = [pytest.param(kernel, dims, id=f"{kernel.name}-{i}",
                           marks=[on_blackwell] if kernel.target.name == "sm_100a" else [])
              for kernel in spec_kernels()
              for i, dims in enumerate(SPEC_SIZES.get(kernel.name, [{}]))]


@pytest.mark.parametrize("kernel, dims", SPEC_CASES)
def test_spec_kernel_agrees_with_the_interpreter(specs_package, kernel, dims):
    compare(kernel, specs_package, dims)


def test_every_spec_kernel_is_compared(specs_package):
    compiled = package_kernels(specs_package)
    assert sorted(compiled) == sorted(k.name for k in spec_kernels())
