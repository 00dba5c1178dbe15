"""`tlspec compile` with a tune record beside the spec (tlspec/tune/apply.py): a static kernel
compiled with its winner, a stale record warned about and not used, the cache keyed on the
choice, and a symbolic kernel compiled once per distinct winner, its wrapper choosing per call
the kernel of the call's size class (codegen/tuned_choose.py.tmpl; launches recorded, no GPU)."""
import importlib
import json
import sys
import uuid

import pytest

from tlspec.cache import Cache
from tlspec.compiler.driver import compile_paths
from tlspec.tune.record import write_record

from tuned_specs import SYMBOLIC, choices, kernel_of, transpose
from tune_results import results

WINNER = {"TW": 32, "THREADS": 64}


def spec_with_record(folder, text, winners):
    spec = folder / f"{kernel_of(text).name}.tlspec.yaml"
    spec.write_text(text)
    if winners is not None:
        write_record(results(kernel_of(text), spec, winners))
    return spec


def compiled(spec, out, cache=None):
    result = compile_paths([str(spec)], str(out), cache=cache, workers=2)
    assert result.ok, result.diagnostics.render_text()
    return result


def test_a_static_kernel_is_compiled_with_its_winner(tmp_path):
    spec = spec_with_record(tmp_path, transpose(), {"static": ({}, WINNER)})
    result = compiled(spec, tmp_path / "out")
    assert not list(result.diagnostics)
    assert "__launch_bounds__(64)" in (tmp_path / "out" / "tt.cu").read_text()
    manifest = json.loads((tmp_path / "out" / "tt.json").read_text())
    assert manifest["grid"][:2] == [16, 4] and manifest["block"][0] == 64
    assert "tuned" not in manifest


def test_the_cache_key_covers_the_record_s_choice(tmp_path):
    cache = Cache(tmp_path / "cache")
    spec = spec_with_record(tmp_path, transpose(), None)
    compiled(spec, tmp_path / "out", cache)
    assert "__launch_bounds__(128)" in (tmp_path / "out" / "tt.cu").read_text()
    spec_with_record(tmp_path, transpose(), {"static": ({}, WINNER)})
    compiled(spec, tmp_path / "out", cache)
    assert "__launch_bounds__(64)" in (tmp_path / "out" / "tt.cu").read_text()
    (tmp_path / "tt.tune.json").unlink()
    compiled(spec, tmp_path / "out", cache)
    assert "__launch_bounds__(128)" in (tmp_path / "out" / "tt.cu").read_text()


def test_a_stale_record_is_warned_about_and_not_used(tmp_path):
    spec = spec_with_record(tmp_path, transpose(), {"static": ({}, WINNER)})
    spec.write_text(transpose().replace("name: tt", "name: tt\ndoc: changed since tuned"))
    result = compiled(spec, tmp_path / "out")
    (warning,) = list(result.diagnostics)
    assert warning.render().splitlines()[0] == (
        f"{spec}:6:1: warning: the tune record {tmp_path / 'tt.tune.json'} is of another version "
        "of kernel 'tt' (its spec changed since it was tuned); compiling the first candidates "
        "(TW=64,THREADS=128)")
    assert "__launch_bounds__(128)" in (tmp_path / "out" / "tt.cu").read_text()



@pytest.fixture
def refusing(monkeypatch):
    """The compiler refuses every kernel built with other values than the first candidates (as
    a later tlspec might refuse a recorded choice that validates); compiles run in-process."""
    from tlspec.compiler import driver
    from tlspec.compiler.cuda_compile import CudaCompileError

    real = driver.compile_kernel

    def compile_kernel(kernel, **options):
        if kernel.choice.get("THREADS") == 64:
            raise CudaCompileError("ptxas refused it (a stand-in for a compiler change)")
        return real(kernel, **options)

    monkeypatch.setattr(driver, "compile_kernel", compile_kernel)


def test_a_static_winner_the_compiler_refuses_falls_back_to_the_first_candidates(
        tmp_path, refusing):
    spec = spec_with_record(tmp_path, transpose(), {"static": ({}, WINNER)})
    result = compile_paths([str(spec)], str(tmp_path / "out"), workers=1)
    assert result.ok and result.kernels == ["tt"], result.diagnostics.render_text()
    (warning,) = list(result.diagnostics)
    assert warning.render().splitlines()[0] == (
        f"{spec}:5:1: warning: the tune record's choice TW=32,THREADS=64 for kernel 'tt' does "
        "not compile here (kernel 'tt': ptxas refused it (a stand-in for a compiler change)); "
        "using the first candidates")
    assert "__launch_bounds__(128)" in (tmp_path / "out" / "tt.cu").read_text()


def test_a_tuned_variant_the_compiler_refuses_leaves_its_classes_to_the_kernel(
        tmp_path, refusing):
    spec = spec_with_record(tmp_path, transpose(SYMBOLIC, SYMBOLIC), {
        "M<=256,N<=256": ({"M": 256, "N": 256}, WINNER),
        "M<=2048,N<=2048": ({"M": 2048, "N": 2048}, {"TW": 32, "THREADS": 128})})
    result = compile_paths([str(spec)], str(tmp_path / "out"), workers=1)
    assert result.ok and result.kernels == ["tt"], result.diagnostics.render_text()
    (warning,) = list(result.diagnostics)
    assert "the tune record's choice TW=32,THREADS=64 for kernel 'tt' does not compile" in \
        warning.message
    classes = json.loads((tmp_path / "out" / "tt.json").read_text())["tuned"]["classes"]
    assert list(classes) == ["M<=2048,N<=2048"]            # M<=256 runs the kernel itself
    assert [p.stem for p in (tmp_path / "out").glob("tt__tuned*.json")] == list(classes.values())


TMA_LOAD = "cp.async.bulk.tensor.2d.shared::cluster.global"


def test_a_record_s_instruction_choice_is_compiled(tmp_path):
    """Without a record the first candidates (a TMA load, no L2 hint); with one, its winner's
    strings: a SIMT load hinted evict_first, and the store's hint too."""
    spec = spec_with_record(tmp_path, choices(), None)
    compiled(spec, tmp_path / "first")
    first = (tmp_path / "first" / "tc.cu").read_text()
    assert TMA_LOAD in first and "evict_first" not in first
    spec_with_record(tmp_path, choices(), {"static": ({}, {"TW": 64, "LOAD": "sync",
                                                            "POLICY": "evict_first"})})
    compiled(spec, tmp_path / "tuned")
    tuned = (tmp_path / "tuned" / "tc.cu").read_text()
    assert TMA_LOAD not in tuned
    assert "ld.global.nc.L1::evict_first.L2::cache_hint" in tuned

class Fake:
    """A __cuda_array_interface__ v3 float16 array over no memory."""

    def __init__(self, *shape):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f2", "strides": None,
                                         "data": (0x7F00_0000_0000, False), "version": 3}


@pytest.fixture(scope="module")
def wrapper(tmp_path_factory):
    """The symbolic kernel's wrapper, compiled with a record of three classes (two winners other
    than the first candidates, one of them twice), its launches recorded instead of made."""
    folder = tmp_path_factory.mktemp("symbolic")
    spec = spec_with_record(folder, transpose(SYMBOLIC, SYMBOLIC), {
        "M<=256,N<=256": ({"M": 256, "N": 256}, WINNER),
        "M<=1024,N<=1024": ({"M": 1024, "N": 1024}, WINNER),
        "M<=2048,N<=2048": ({"M": 2048, "N": 2048}, {"TW": 64, "THREADS": 64}),
        "M<=4096,N<=4096": ({"M": 4096, "N": 4096}, {"TW": 64, "THREADS": 128})})
    name = f"tuned_{uuid.uuid4().hex[:8]}"
    result = compiled(spec, folder / name)
    assert result.kernels == ["tt"]
    sys.path.insert(0, str(folder))
    module = importlib.import_module(f"{name}.tt")
    module.launched = []
    kernels = [module._KERNEL, *module._CLASSES.values()]
    for kernel in kernels:
        kernel._launch = lambda views, plan, stream, kernel=kernel: \
            module.launched.append(kernel.name)
    yield module
    sys.path.remove(str(folder))


def test_the_package_carries_one_variant_per_distinct_winner(wrapper):
    package = sys.modules[wrapper.__name__.rsplit(".", 1)[0]]
    assert package.__all__ == ["tt"]
    assert {c: k.name for c, k in wrapper._CLASSES.items()} == {
        "M<=1024,N<=1024": "tt__tuned1", "M<=2048,N<=2048": "tt__tuned2",
        "M<=256,N<=256": "tt__tuned1"}
    assert list(wrapper._CLASSES["M<=256,N<=256"].block) == [64, 1, 1]


@pytest.mark.parametrize("m, n, launched", [
    (256, 256, "tt__tuned1"), (136, 200, "tt__tuned1"), (1024, 520, "tt__tuned1"),
    (2048, 1032, "tt__tuned2"), (4096, 4096, "tt"), (256, 512, "tt"), (8, 8, "tt")])
def test_each_call_launches_its_size_class_s_kernel(wrapper, m, n, launched):
    wrapper.launched.clear()
    wrapper.tt(Fake(m, n), Fake(n, m))
    assert wrapper.launched == [launched]


def test_a_call_the_kernel_refuses_is_refused_before_any_launch(wrapper):
    wrapper.launched.clear()
    with pytest.raises(ValueError, match="multiple of 8"):
        wrapper.tt(Fake(100, 100), Fake(100, 100))
    assert wrapper.launched == []
