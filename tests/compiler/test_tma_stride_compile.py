"""tests/gpu/tma_stride/ (strided loads by TMA element strides, run by
tests/gpu/test_tma_stride_gpu.py on the GPU) compiles without a GPU into a package of all its
kernels: the loads with steps on outer dimensions are one TMA copy each, whose tensor map has the
steps as element strides and a box of count x step; those TMA cannot traverse (a step on the
contiguous dimension, a step of 9) are SIMT loops without a map of A."""
import json

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT, assert_every_kernel_compiled, compiled_once, kernel_source

TMA_STRIDE = ROOT / "tests" / "gpu" / "tma_stride"


@pytest.fixture(scope="module")
def tma_stride(tmp_path_factory):
    yield from compiled_once(tmp_path_factory, TMA_STRIDE, "tlspec_tma_stride_ci")


def map_of_a(out, name) -> dict | None:
    maps = json.loads((out / f"{name}.json").read_text())["tensormaps"]
    return next((t for t in maps if t["argument"] == "A"), None)


def test_every_kernel_of_tma_stride_compiles(tma_stride):
    assert_every_kernel_compiled(*tma_stride, TMA_STRIDE)


@pytest.mark.parametrize("step", [2, 3, 4, 8])
@pytest.mark.parametrize("tag", ["f16", "f32", "i8", "e4m3"])
def test_every_sth_row_is_one_tma_load_by_element_strides(tma_stride, step, tag):
    out = tma_stride[1]
    a = map_of_a(out, f"rows_s{step}_{tag}")
    assert (a["box"], a["element_strides"]) == ([64, 16 * step], [1, step])
    assert "shared__cluster_global" in kernel_source(out, f"rows_s{step}_{tag}")


def test_steps_on_two_outer_dimensions_and_a_pitched_view(tma_stride):
    out = tma_stride[1]
    assert map_of_a(out, "batch_rows_f32")["element_strides"] == [1, 3, 2]
    pitched = map_of_a(out, "pitched_rows_f16")
    assert pitched["strides"] == [{"op": "*", "args": [{"dim": "LD"}, 2]}]
    assert pitched["element_strides"] == [1, 2]


@pytest.mark.parametrize("name, step", [("pipelined_rows_s2_f16", 2),
                                        ("specialized_rows_s4_f16", 4)])
def test_pipelined_strided_loads_into_swizzled_slots(tma_stride, name, step):
    a = map_of_a(tma_stride[1], name)
    assert (a["box"], a["element_strides"], a["swizzle"]) == ([64, 64 * step], [1, step], "128B")


@pytest.mark.parametrize("name", ["cols_s2_f16", "cols_s8_f16", "cols_s2_e4m3", "rows_s9_f16"])
def test_what_tma_cannot_traverse_has_no_map_of_a(tma_stride, name):
    assert map_of_a(tma_stride[1], name) is None
