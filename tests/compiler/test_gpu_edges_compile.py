"""tests/gpu/edges/ (issue 10's compiler defects, run by tests/gpu/test_edges_gpu.py on the GPU)
compiles on a machine without a GPU into a package holding every one of its kernels, and the
kernels of its tails keep to single-element accesses where a vector could straddle the end."""
import json
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT, compile_and_import, forget

from tlspec.validate import validate_paths

EDGES = ROOT / "tests" / "gpu" / "edges"


@pytest.fixture(scope="module")
def edges(tmp_path_factory):
    out = tmp_path_factory.mktemp("edges") / "tlspec_edges_ci"
    package = compile_and_import(out, EDGES)
    yield package, out
    forget(out.name)


def test_every_kernel_of_the_edges_compiles(edges):
    package, out = edges
    names = sorted(k.name for k in validate_paths([str(EDGES)]).kernels)
    assert sorted(package.__all__) == names
    assert all((out / f"{name}.cubin").read_bytes()[:4] == b"\x7fELF" for name in names)


@pytest.mark.parametrize("name", ["tail_sync_f32", "tail_sync_i8", "tail_global_f16"])
def test_a_tail_of_any_length_is_moved_element_by_element(edges, name):
    _, out = edges
    source = (out / f"{name}.cu").read_text()
    kernel = source[source.index(json.loads((out / f"{name}.json").read_text())["entry"] + "("):]
    assert not re.search(r"\*\((u?int|uchar|float|half|ushort)[248]\*\)", kernel)


def test_the_kernel_past_the_unroll_budget_keeps_its_loops(edges):
    """many_guarded_stages (40 loops of 8 trips) is past UnrollBudget's budget: each loop stays a
    loop that NVRTC does not unroll either; tests/gpu runs it against torch."""
    _, out = edges
    source = (out / "many_guarded_stages.cu").read_text()
    assert source.count("#pragma unroll 1\n") == source.count("for (") == 40
