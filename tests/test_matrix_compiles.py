"""The GPU correctness matrix (tests/gpu/matrix/) on a machine without a GPU: `tlspec compile
tests/gpu/matrix -o OUT` gives one cubin per kernel and an importable package whose wrappers take
the specs' arguments, and each kernel moves its tensors with the instructions it was written to
exercise (TMA, cp.async or SIMT loops). tests/gpu/test_matrix_gpu.py runs the package on the GPU.
"""
import inspect
import json
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import (ROOT, assert_cubin, assert_tensormaps_keep_the_rules, compile_and_import,
                      forget, modeline_for)

from tlspec.validate import validate_paths

MATRIX = ROOT / "tests" / "gpu" / "matrix"
FILES = sorted(MATRIX.glob("*.tlspec.yaml"))
SPECS = {k.name: k for k in validate_paths([str(MATRIX)]).kernels}
NAMES = sorted(SPECS)

# kernel -> {argument moved by TMA: swizzle of its tensor map}; every other global argument is
# moved by SIMT loops. A compiler change that moves a kernel off the path it was written for
# changes what the GPU matrix tests: update this table (and the spec's doc) deliberately.
TAGS = ("f16", "bf16", "f32", "i8")
TMA = {
    "copy_tma_f16": {"A": "128B", "B": "128B"},
    "copy_tma_bf16": {"A": "64B", "B": "64B"},
    "copy_tma_f32": {"A": "128B", "B": "128B"},
    "copy_tma_i8": {"A": "32B", "B": "32B"},
    "transpose_f16": {"B": "128B"},
    "transpose_bf16": {"A": "128B", "B": "128B"},
    "transpose_f32": {"B": "128B"},
    "transpose_i8": {"A": "64B", "B": "64B"},
    "transpose_batched_f16": {"A": "64B", "B": "64B"},
    "transpose_blocks_f16": {"B": "128B"},
    "transpose_blocks_bf16": {"A": "128B", "B": "128B"},
    "transpose_blocks_f32": {"B": "128B"},
    "transpose_blocks_i8": {"A": "64B", "B": "64B"},
    "transpose_blocks_batched_f16": {"A": "64B", "B": "64B"},
    "for_tma_f32": {"A": "none", "B": "none"},
    "im2col_k3s2d2p2_f16": {"col": "none"},
    "im2col_k3s2d2p2_bf16": {"col": "none"},
    "im2col_k2s1d2p2_bf16": {"col": "none"},
    "im2col_k3s2d2p2_f32": {"col": "none"},
    "im2col_k5s1d1p2_f32": {"col": "none"},
    "im2col_k1s2d1p0_i8": {"col": "none"},
    "tma_two_boxes_f16": {"A": "none", "B": "none"},
    "tma_shared_maps_f16": {"A": "none", "B": "none"},
}
SIMT_ONLY = {f"{kind}_{tag}" for kind in ("copy_simt", "gather", "scatter") for tag in TAGS} | {
    "copy_unaligned_f32", "copy_unaligned_i8", "gather_whole_f32", "for_slots_bf16",
    "for_fragment_i8", "im2col_k3s1d1p0_f16", "im2col_k3s2d1p0_f16_global",
    "im2col_k3s2d2p2_i8"}
# tests/gpu/matrix/eviction.tlspec.yaml: SIMT stages with L2 eviction hints
SIMT_ONLY |= {f"copy_evict_{tag}" for tag in TAGS} | {
    f"{kind}_{tag}_evict" for kind in ("gather", "scatter") for tag in TAGS} | {
    "copy_evict_chunked_f32", "im2col_k3s2d1p0_f16_global_evict", "im2col_k3s2d2p2_i8_evict"}
# tests/gpu/matrix/cp_async.tlspec.yaml: kernel -> (instruction, bytes) of the cp.async copies
# that load its tile; its stores are TMA (in TMA) or SIMT loops.
CP_ASYNC = {
    "cp_async_f16": ("cp.async.cg.shared.global", 16),     # its eviction_policy is not applied
    "cp_async_bf16": ("cp.async.cg.shared.global", 16),
    "cp_async_f32": ("cp.async.ca.shared.global", 8),
    "cp_async_i8": ("cp.async.ca.shared.global", 4),
    "cp_async_for_f16": ("cp.async.cg.shared.global", 16),
    "cp_async_zfill_f32": ("cp.async.cg.shared.global", 16),
}
TMA |= {"cp_async_f16": {"B": "128B"}, "cp_async_f32": {"B": "128B"}, "cp_async_i8": {"B": "none"},
        "cp_async_for_f16": {"B": "none"}}
# tests/gpu/matrix/tma.tlspec.yaml: tensor maps of rank 1, a row into a 1-D tile, slots, swizzled
# rows narrower than the span or 4 rows of it, swizzled tiles after a padded one, int16, float8
TMA |= {"tma_1d_f32": {"A": "none", "B": "none"}, "tma_1d_for_f32": {"A": "none", "B": "none"},
        "tma_row_f32": {"A": "none", "B": "none"},
        "tma_swizzle_96_f16": {"A": "128B", "B": "128B", "D": "128B"},
        "tma_slots_f16": {"A": "128B", "B": "128B"}, "tma_rows4_bf16": {"A": "128B", "C": "128B"},
        "tma_after_padded_f16": {"A": "128B", "B32": "32B", "B64": "64B", "B128": "128B"},
        "tma_int16": {"A": "none", "B": "none"}, "tma_float8": {"A": "none", "B": "none"}}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """(the imported package, its folder): the matrix compiled once for this module."""
    out = tmp_path_factory.mktemp("matrix") / "tlspec_matrix_ci"
    yield compile_and_import(out, MATRIX), out
    forget(out.name)


def test_every_matrix_kernel_is_in_the_tables():
    assert FILES and NAMES
    assert set(TMA) | SIMT_ONLY | set(CP_ASYNC) == set(NAMES)
    assert not (set(TMA) | set(CP_ASYNC)) & SIMT_ONLY


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_document_starts_with_the_modeline(path):
    documents = path.read_text().split("\n---\n")
    for doc in documents:
        assert doc.splitlines()[0] == modeline_for(path)


@pytest.mark.parametrize("name", NAMES)
def test_every_kernel_compiles_to_a_cubin(matrix, name):
    assert_cubin(matrix[1], name)


def test_the_package_holds_exactly_the_matrix(matrix):
    _, out = matrix
    listed = json.loads((out / "_tlspec_package.json").read_text())["kernels"]
    assert sorted(listed) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_wrappers_take_the_spec_arguments(matrix, name):
    package, _ = matrix
    wrapper = getattr(package, name)
    params = list(inspect.signature(wrapper).parameters)
    arguments = [b.name for b in SPECS[name].buffers.values() if b.is_global]
    assert params == arguments + ["stream"]


@pytest.mark.parametrize("name", NAMES)
def test_each_kernel_uses_the_instructions_it_exercises(matrix, name):
    _, out = matrix
    manifest = json.loads((out / f"{name}.json").read_text())
    maps = {m["argument"]: m["swizzle"] for m in manifest["tensormaps"]}
    assert maps == TMA.get(name, {})


@pytest.mark.parametrize("name", sorted(TMA))
def test_every_tensor_map_keeps_the_drivers_rules(matrix, name):
    assert_tensormaps_keep_the_rules(matrix[1], name)


@pytest.mark.parametrize("name", NAMES)
def test_cp_async_kernels_load_with_cp_async(matrix, name):
    """The kernels of CP_ASYNC issue cp.async of their size (no other kernel issues any)."""
    _, out = matrix
    source = (out / f"{name}.cu").read_text()
    found = {(ptx, int(size)) for ptx, size in re.findall(
        r'asm volatile\("(cp\.async\.c[ag]\S*) \[%0\], \[%1\], (\d+)', source)}
    assert found == ({CP_ASYNC[name]} if name in CP_ASYNC else set())
