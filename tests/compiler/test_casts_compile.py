"""tests/gpu/casts/ (converting copies, run by tests/gpu/test_casts_gpu.py on the GPU): the spec
file is what its generate.py writes, and it compiles on a machine without a GPU into a package
of every one of its kernels, whose float8 stores are tlspec's own rounding (CUDA's float8
constructors saturate, torch does not) and whose hinted converting copies are hinted vectors."""
import importlib.util
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT, assert_every_kernel_compiled, compiled_once


CASTS = ROOT / "tests" / "gpu" / "casts"


@pytest.fixture(scope="module")
def casts(tmp_path_factory):
    yield from compiled_once(tmp_path_factory, CASTS, "tlspec_casts_ci")


def test_the_spec_file_is_what_its_generator_writes():
    spec = importlib.util.spec_from_file_location("generate_casts", CASTS / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    assert (CASTS / "casts.tlspec.yaml").read_text(encoding="utf-8") == generate.specs()


def test_every_kernel_of_the_casts_compiles(casts):
    assert_every_kernel_compiled(*casts, CASTS)


def test_float8_is_rounded_by_tlspec_not_by_cudas_saturating_constructors(casts):
    _, out = casts
    source = (out / "cast_from_f32.cu").read_text()
    assert "__nv_cvt_float_to_fp8" not in source and "__nv_fp8_e4m3(" not in source
    assert "(uint)1139802112" in source           # 480.0f, e4m3's overflow bound (c10's)


def test_a_hinted_converting_copy_loads_and_stores_hinted_vectors(casts):
    """4 elements per access (the fragment's float32 load bounds its copies): 16-byte loads of
    float32, 4-byte stores of float8."""
    _, out = casts
    source = (out / "cast_hinted.cu").read_text()
    assert re.search(r"ld\.global\.nc\.L1::evict_first\.L2::cache_hint\.v4\.u32", source)
    assert re.search(r"st\.global\.L1::evict_last\.L2::cache_hint\.u32 \[", source)
