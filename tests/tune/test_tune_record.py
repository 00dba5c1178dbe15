"""The tune record (tlspec/tune/record.py): where it lives, what --record writes from measured
results (stable, sorted, one entry a line), and what a compile takes from it."""
import json

from tlspec.tune.classes import bucket, size_class
from tlspec.tune.record import chosen, read_record, record_path, write_record

from tuned_specs import SYMBOLIC, choices, kernel_of, transpose
from tune_results import results


def test_the_record_is_beside_the_spec():
    assert str(record_path("specs/transpose.tlspec.yaml")) == "specs/transpose.tune.json"
    assert str(record_path("a/b.yaml")) == "a/b.tune.json"


def test_size_classes_are_power_of_two_buckets():
    assert [bucket(v) for v in (0, 1, 2, 3, 1024, 1025)] == [1, 1, 2, 4, 1024, 2048]
    assert size_class({"M": 1000, "N": 4096}) == "M<=1024,N<=4096"
    assert size_class({}) == "static"


def test_the_record_holds_each_class_s_winner_and_figures(tmp_path):
    spec = tmp_path / "tt.tlspec.yaml"
    spec.write_text(transpose())
    kernel = kernel_of(transpose())
    path = write_record(results(kernel, spec, {"static": ({}, {"TW": 32, "THREADS": 64})}))
    assert path == tmp_path / "tt.tune.json"
    text = path.read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    entry = read_record(spec)["kernels"]["tt"]
    assert entry["device"] == "NVIDIA H200" and entry["tlspec"] == "0.1.0"
    assert entry["classes"]["static"] == {
        "choice": {"TW": 32, "THREADS": 64}, "us": 5.0, "first_us": 10.0, "dims": {},
        "variants": {"TW=64,THREADS=128": 10.0, "TW=32,THREADS=64": 5.0}}
    assert chosen(kernel, read_record(spec)) == ({"static": {"TW": 32, "THREADS": 64}}, None)


def test_recording_another_kernel_keeps_the_first(tmp_path):
    spec = tmp_path / "tt.tlspec.yaml"
    kernel = kernel_of(transpose())
    write_record(results(kernel, spec, {"static": ({}, {"TW": 32, "THREADS": 64})}))
    other = results(kernel, spec, {"static": ({}, {"TW": 64, "THREADS": 64})})
    other["kernels"]["tt2"] = other["kernels"].pop("tt")
    other["bundle"]["kernels"]["tt2"] = other["bundle"]["kernels"].pop("tt")
    write_record(other)
    assert sorted(read_record(spec)["kernels"]) == ["tt", "tt2"]


def test_a_record_of_another_version_of_the_spec_is_stale(tmp_path):
    spec = tmp_path / "tt.tlspec.yaml"
    write_record(results(kernel_of(transpose()), spec,
                         {"static": ({}, {"TW": 32, "THREADS": 64})}))
    changed = kernel_of(transpose().replace("name: tt", "name: tt\ndoc: changed"))
    assert chosen(changed, read_record(spec)) == ({}, "stale")
    assert chosen(kernel_of(transpose()), None) == ({}, None)


def test_a_symbolic_kernel_s_record_has_a_choice_per_class(tmp_path):
    spec = tmp_path / "tt.tlspec.yaml"
    kernel = kernel_of(transpose(SYMBOLIC, SYMBOLIC))
    write_record(results(kernel, spec, {
        "M<=256,N<=256": ({"M": 256, "N": 256}, {"TW": 32, "THREADS": 64}),
        "M<=4096,N<=4096": ({"M": 4096, "N": 4096}, {"TW": 64, "THREADS": 128})}))
    classes, problem = chosen(kernel, read_record(spec))
    assert problem is None
    assert classes == {"M<=256,N<=256": {"TW": 32, "THREADS": 64},
                       "M<=4096,N<=4096": {"TW": 64, "THREADS": 128}}



def test_instruction_choices_round_trip_through_the_record(tmp_path):
    spec = tmp_path / "tc.tlspec.yaml"
    spec.write_text(choices())
    kernel = kernel_of(choices())
    winner = {"TW": 4, "LOAD": "sync", "POLICY": "evict_first"}
    write_record(results(kernel, spec, {"static": ({}, winner)}))
    entry = json.loads((tmp_path / "tc.tune.json").read_text())["kernels"]["tc"]
    assert entry["classes"]["static"]["choice"] == winner
    assert entry["classes"]["static"]["variants"] == {
        "TW=64,LOAD=tma,POLICY=evict_normal": 10.0, "TW=4,LOAD=sync,POLICY=evict_first": 5.0}
    assert chosen(kernel, read_record(spec)) == ({"static": winner}, None)


def test_a_recorded_choice_that_is_no_candidate_any_more_is_stale(tmp_path):
    spec = tmp_path / "tc.tlspec.yaml"
    kernel = kernel_of(choices())
    write_record(results(kernel, spec, {"static": ({}, {"TW": 4, "LOAD": "cp_async",
                                                          "POLICY": "evict_first"})}))
    assert chosen(kernel, read_record(spec)) == ({}, "stale")

def test_the_gpu_test_s_hand_made_record_is_current():
    """tests/gpu/tune's record must match its spec, or the GPU test's package compiles without
    its tuned variants (regenerate its spec_hash with tlspec.tune.record.spec_hash)."""
    from tlspec.validate import validate_paths

    spec = "tests/gpu/tune/tune_transpose.tlspec.yaml"
    (kernel,) = validate_paths([spec]).kernels
    classes, problem = chosen(kernel, read_record(spec))
    assert problem is None and len(classes) == 3
