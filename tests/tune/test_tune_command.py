"""`tlspec tune`'s command line (tlspec/tune/command.py), and the measure step's imports: the GPU
machine has torch and cuda-python, but neither tvm nor jsonschema nor typer."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, tlspec_here
from tuned_specs import kernel_of, transpose
from tune_results import results


def test_record_writes_the_record_the_results_name(tmp_path):
    spec = tmp_path / "tt.tlspec.yaml"
    spec.write_text(transpose())
    measured = tmp_path / "results.json"
    measured.write_text(json.dumps(results(kernel_of(transpose()), spec,
                                           {"static": ({}, {"TW": 32, "THREADS": 64})})))
    result = tlspec_here("tune", "--record", measured)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (f"tt [static]: TW=32,THREADS=64\nwrote {tmp_path / 'tt.tune.json'} "
                             f"(tlspec compile {spec} uses it)\n")
    record = json.loads((tmp_path / "tt.tune.json").read_text())
    assert record["kernels"]["tt"]["classes"]["static"]["choice"] == {"THREADS": 64, "TW": 32}


@pytest.mark.parametrize("args, message", [
    (["tune"], "give SPEC (or --record RESULTS)"),
    (["tune", "specs/transpose.tlspec.yaml", "--record", "r.json"],
     "--record RESULTS takes no SPEC (the results name it)"),
    (["tune", "specs/copy_tiles.tlspec.yaml", "-o", "/nonexistent/b"],
     "specs/copy_tiles.tlspec.yaml: no kernel declares tunable parameters (`tune:`)"),
    (["tune", "specs/transpose.tlspec.yaml", "--kernel", "nope", "-o", "/nonexistent/b"],
     "specs/transpose.tlspec.yaml: no kernel named nope")])
def test_usage_errors(args, message):
    result = tlspec_here(*args)
    assert result.returncode == 2
    assert result.stderr == f"tlspec: error: {message}\n"


def test_results_that_are_not_measured_results_are_a_usage_error(tmp_path):
    (tmp_path / "r.json").write_text("{}")
    result = tlspec_here("tune", "--record", tmp_path / "r.json")
    assert result.returncode == 2
    assert result.stderr.startswith(f"tlspec: error: --record {tmp_path / 'r.json'}: not the "
                                    "results of python -m tlspec.tune.measure")


def test_without_a_gpu_the_bundle_must_go_to_one(monkeypatch):
    from tlspec.tune import command

    monkeypatch.setattr(command, "_gpu", lambda: False)
    result = tlspec_here("tune", "specs/transpose.tlspec.yaml")
    assert result.returncode == 2
    assert result.stderr.startswith("tlspec: error: this machine has no CUDA GPU (or no torch): "
                                    "give -o BUNDLE")


def test_the_measure_step_imports_no_compiler():
    code = ("import sys, tlspec.tune.measure, tlspec.tune.record; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'tvm', 'jsonschema', 'typer', 'yaml', 'numpy', 'rich'}))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=ROOT, check=True).stdout
    assert found == "[]\n"


def test_the_measure_step_has_a_command_line():
    found = subprocess.run([sys.executable, "-m", "tlspec.tune.measure", "--help"],
                           capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert found.startswith("usage: python -m tlspec.tune.measure [-h] [-o OUT] bundle")
