"""A fixed-seed slice of the differential batch, in the normal suite: 30 generated specs, each
validated and compiled with tlspec's API, every one compiled or refused with a location and none
FAILED; the batch folder holds what the GPU run needs; the small calls run on the CPU
(run_cpu.py) as they do in the interpreter."""
from __future__ import annotations

import importlib
import json
import sys

import pytest

pytest.importorskip("tvm", reason="compiling needs apache-tvm")
from build_batch import build  # noqa: E402
from tlspec.validate import validate_paths  # noqa: E402

SEED = 20290
COUNT = 30


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("slice") / "batch"
    summary = build(SEED, COUNT, out, jobs=0, log=lambda text: None)
    return out, summary


def test_every_spec_compiles_or_is_refused_with_a_location(batch):
    out, summary = batch
    assert summary["generated"] == COUNT and summary["invalid"] == 0
    assert summary["failed"] == 0, json.dumps(summary["by_reason"]["failed"], indent=1)
    assert summary["compiled"] + summary["refused"] == COUNT and summary["compiled"] >= COUNT // 3
    for line in (out / "outcomes.jsonl").read_text().splitlines():
        outcome = json.loads(line)
        if outcome["status"] == "refused":
            assert outcome["pointer"] and outcome["line"] >= 1 and outcome["column"] >= 1


def test_cases_name_their_package_spec_and_calls(batch):
    out, summary = batch
    cases = json.loads((out / "cases.json").read_text())["cases"]
    assert len(cases) == summary["compiled"]
    for case in cases:
        kernel = validate_paths([str(out / case["spec"])]).kernels[0]
        package = out / "packages" / case["package"]
        assert (package / f"{case['kernel']}.cubin").is_file()
        assert not (package / f"{case['kernel']}.cu").exists()
        assert (out / "sources" / f"{case['kernel']}.cu").is_file()
        globals_ = [b for b in kernel.buffers.values() if b.is_global]
        assert [a["name"] for a in case["arguments"]] == [b.name for b in globals_]
        for call in case["calls"]:
            assert set(call["shapes"]) == {b.name for b in globals_}
            for name, value in call["dims"].items():
                dim = kernel.dims[name]
                assert value >= (dim.min or 1) and value <= (dim.max or value)
                assert value % (dim.multiple_of or 1) == 0


def test_the_packages_import_without_a_gpu(batch):
    out, _ = batch
    cases = json.loads((out / "cases.json").read_text())["cases"]
    sys.path.insert(0, str(out / "packages"))
    try:
        for case in cases:
            assert callable(getattr(importlib.import_module(case["package"]), case["kernel"]))
    finally:
        sys.path.remove(str(out / "packages"))
        for name in [m for m in sys.modules if m.startswith("pkg")]:
            del sys.modules[name]


def test_the_compiled_kernels_run_on_the_cpu_as_the_interpreter_does(batch):
    """run_cpu.py on the slice: the kernels, lowered by tlspec's passes and run by
    tests/tir_run.py, leave every output bit-exactly as the interpreter does (small calls only;
    kernels with what the evaluator does not run are skipped)."""
    from run_cpu import run_case

    out, _ = batch
    counts: dict[str, int] = {}
    for case in json.loads((out / "cases.json").read_text())["cases"]:
        for result in run_case(out, case, max_elements=4096, max_threads=2048):
            counts[result["status"]] = counts.get(result["status"], 0) + 1
            assert result["status"] in ("pass", "skipped"), (case["kernel"], result)
    assert counts.get("pass", 0) >= 10, counts
