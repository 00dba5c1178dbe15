"""Autotuning on the GPU (docs/tune.md), in two parts:

- the measure step (tlspec.tune.measure: torch and stdlib only) on a bundle compiled where tvm
  is (`tlspec tune tests/gpu/tune/tune_transpose.tlspec.yaml --sizes M=256,N=512 --sizes
  M=2048,N=1024 -o build/tlspec_tune_bundle`; TLSPEC_TUNE_BUNDLE: another place): every
  variant runs, matches the first bit for bit and is timed, the first matches torch, and the
  checker catches a variant that leaves elements unwritten or raises.
- the dispatch of a package compiled with the hand-made record beside the spec (`tlspec compile
  tests/gpu/tune -o build/tlspec_tune`; TLSPEC_TUNE): each call runs the kernel of its size
  class, bit-exact against torch on random inputs, outputs poisoned first.
"""
import importlib
import json
import os
import sys
import types
from pathlib import Path

import pytest
from gpu_support import ROOT, assert_guards, assert_same, compiled_package, guarded, random, torch

from tlspec.tune import measure
from tlspec.tune.record import write_record

kernels = compiled_package("TLSPEC_TUNE", "tlspec_tune", "tests/gpu/tune")
BUNDLE = Path(os.environ.get("TLSPEC_TUNE_BUNDLE", ROOT / "build" / "tlspec_tune_bundle"))
SIZES = {"M<=256,N<=512": (256, 512), "M<=2048,N<=1024": (2048, 1024)}
FIRST = "TW=64,THREADS=256"


@pytest.fixture(scope="module")
def bundle():
    if not (BUNDLE / "bundle.json").is_file():
        pytest.skip(f"no tune bundle at {BUNDLE} (tlspec tune tests/gpu/tune/"
                    f"tune_transpose.tlspec.yaml --sizes M=256,N=512 --sizes M=2048,N=1024 "
                    f"-o {BUNDLE})")
    return json.loads((BUNDLE / "bundle.json").read_text())


@pytest.fixture(scope="module")
def results(bundle):
    return measure.measure(BUNDLE)


def test_every_variant_matches_the_first_and_is_timed(results):
    found = results["kernels"]["tune_transpose"]["classes"]
    assert sorted(found) == sorted(SIZES)
    for size_class, entry in found.items():
        assert entry["dims"] == dict(zip("MN", SIZES[size_class]))
        assert entry["reference"] == FIRST, size_class
        assert len(entry["variants"]) == 4
        for label, variant in entry["variants"].items():
            assert variant["status"] == "ok", (size_class, label, variant["status"])
            assert variant["us"] > 0
        assert entry["winner"] in entry["variants"]


def transposed(wrapper, m, n):
    """Call `wrapper` on a random m x n matrix, its output poisoned; check it is torch's a.t()."""
    a = random((m, n))
    out = guarded((n, m))
    wrapper(a, out)
    torch.cuda.synchronize()
    assert_same(out, a.t().contiguous())
    assert_guards(out)
    return a, out


def test_the_first_variant_is_torch_s_transpose(results):
    package = sys.modules["tlspec_tune_variants"]       # imported by measure()
    for m, n in SIZES.values():
        transposed(package.tune_transpose__v0, m, n)


def test_the_record_holds_each_class_s_winner(results, tmp_path):
    results = dict(results, bundle=dict(results["bundle"], record=str(tmp_path / "t.tune.json"),
                                        spec=str(tmp_path / "t.tlspec.yaml")))
    record = json.loads(write_record(results).read_text())
    entry = record["kernels"]["tune_transpose"]
    assert entry["device"] == torch.cuda.get_device_name()
    for size_class, found in results["kernels"]["tune_transpose"]["classes"].items():
        winner = found["variants"][found["winner"]]
        assert entry["classes"][size_class]["choice"] == winner["choice"]
        assert entry["classes"][size_class]["us"] == winner["us"]


def test_the_checker_catches_unwritten_elements_and_failures():
    """Fake variants (torch code in place of kernels): the second leaves its output's last
    element poisoned, the third raises; only the first two's outputs are compared."""
    def first(a, out):
        out.copy_(a.t())

    def unwritten(a, out):
        out.view(-1)[:-1].copy_(a.t().reshape(-1)[:-1])

    def failing(a, out):
        raise RuntimeError("launch failed")
    package = types.SimpleNamespace(v0=first, v1=unwritten, v2=failing, v3=first)
    kernel = {"variants": [{"name": f"v{i}", "choice": {"V": i}} for i in range(4)]
              + [{"choice": {"V": 4}, "skipped": "3:5: invalid"}]}
    size = {"class": "M<=64,N<=64", "dims": {"M": 64, "N": 64}, "arguments": [
        {"name": "a", "io": "in", "dtype": "float16", "shape": [64, 64]},
        {"name": "out", "io": "out", "dtype": "float16", "shape": [64, 64]}]}
    flush = torch.empty(1 << 20, dtype=torch.uint8, device="cuda")
    found = measure.measure_class(torch, package, kernel, size, flush)
    status = {label: entry["status"] for label, entry in found["variants"].items()}
    assert status["V=0"] == status["V=3"] == "ok"
    assert status["V=1"].startswith("mismatch: ") and status["V=1"].endswith(
        " output bytes differ from V=0's"), status["V=1"]
    assert status["V=2"] == "failed: RuntimeError: launch failed"
    assert status["V=4"] == "skipped: 3:5: invalid"
    assert found["winner"] in ("V=0", "V=3")


def chosen(*arrays):
    """The name of the kernel the tune_transpose wrapper launched for these arrays."""
    module = importlib.import_module(f"{kernels.__name__}.tune_transpose")
    return module._CHOICE[module._runtime.intake(arrays)[0]].name


# the record: M, N <= 256 -> TW=32, THREADS=128; <= 1024 -> TW=32, THREADS=256; the rest: general
@pytest.mark.parametrize("m, n, kernel", [
    (256, 256, "tune_transpose__tuned2"), (136, 200, "tune_transpose__tuned2"),
    (1024, 520, "tune_transpose__tuned1"), (1000, 1000, "tune_transpose__tuned1"),
    (256, 512, "tune_transpose"), (4096, 4096, "tune_transpose"), (8, 8, "tune_transpose"),
    (2048, 64, "tune_transpose")])
def test_each_call_runs_its_size_class_s_kernel(m, n, kernel):
    a, out = transposed(kernels.tune_transpose, m, n)
    assert chosen(a, out) == kernel
