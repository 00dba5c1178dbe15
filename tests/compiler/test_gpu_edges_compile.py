"""tests/gpu/edges/ (issue 10's compiler defects, run by tests/gpu/test_edges_gpu.py on the GPU)
compiles on a machine without a GPU into a package holding every one of its kernels, and the
kernels of its tails keep to single-element accesses where a vector could straddle the end."""
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT, assert_every_kernel_compiled, compiled_once, kernel_source
from device_arrays import FakeArray, bound_dims


EDGES = ROOT / "tests" / "gpu" / "edges"


@pytest.fixture(scope="module")
def edges(tmp_path_factory):
    yield from compiled_once(tmp_path_factory, EDGES, "tlspec_edges_ci")


def test_every_kernel_of_the_edges_compiles(edges):
    assert_every_kernel_compiled(*edges, EDGES)


@pytest.mark.parametrize("name", ["tail_sync_f32", "tail_sync_i8", "tail_global_f16"])
def test_a_tail_of_any_length_is_moved_element_by_element(edges, name):
    _, out = edges
    kernel = kernel_source(out, name)
    assert not re.search(r"\*\((u?int|uchar|float|half|ushort)[248]\*\)", kernel)


def test_the_kernel_past_the_unroll_budget_keeps_its_loops(edges):
    """many_guarded_stages (40 loops of 8 trips) is past UnrollBudget's budget: each loop stays a
    loop that NVRTC does not unroll either; tests/gpu runs it against torch."""
    _, out = edges
    source = (out / "many_guarded_stages.cu").read_text()
    assert source.count("#pragma unroll 1\n") == source.count("for (") == 40


# int32_limits: the largest sizes a call may have run on the GPU (tests/gpu/test_int32_limits_gpu.py);
# one element more is refused by the wrapper before launch, naming the tensor.
LIMIT = 2**31 - 1
LIMIT_CALLS = {
    "huge_copy_1d_i8": ([(LIMIT,), (LIMIT,)], [(LIMIT + 1,), (LIMIT + 1,)], "a"),
    "huge_copy_2d_i8": ([(46341, 46339)] * 2, [(65536, 32768)] * 2, "a"),
    "huge_gather_i8": ([(2147483, 1000), (1001,), (1001, 1000)],
                       [(2147484, 1000), (1001,), (1001, 1000)], "table"),
}


@pytest.mark.parametrize("name", LIMIT_CALLS)
def test_sizes_past_32_bit_indexing_are_refused_at_the_call(edges, name):
    package, _ = edges
    below, past, tensor = LIMIT_CALLS[name]
    typestrs = {"huge_gather_i8": ["|i1", "<i8", "|i1"]}.get(name, ["|i1"] * 2)
    bound_dims(package, name, *[FakeArray(*s, typestr=t) for s, t in zip(below, typestrs)])
    with pytest.raises(ValueError, match=rf"{name}\(\): .*{tensor} is indexed with int32: its "
                                         r"element count must stay below 2\*\*31"):
        bound_dims(package, name, *[FakeArray(*s, typestr=t) for s, t in zip(past, typestrs)])
