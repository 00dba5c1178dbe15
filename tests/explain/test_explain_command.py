"""`tlspec explain` on real specs: the compiler's records as reported, the JSON's shape, and
bad input as clean CLI errors (usage, exit 2) or located diagnostics (exit 1)."""
import json

import jsonschema
import pytest

from conftest import SPECS, tlspec_here
from test_compile_async import SERIAL_PIPELINE   # a loop that runs as written, warned about
from test_explain_collect import PIPELINED

NULLABLE_INT = {"type": ["integer", "null"]}
STAGE = {
    "type": "object",
    "required": ["pointer", "where", "kind", "spec", "instruction", "why", "vector", "threads"],
    "properties": {
        "pointer": {"type": "string"}, "where": {"type": "string"}, "kind": {"type": "string"},
        "spec": {"type": "string"},
        "instruction": {"enum": ["TMA", "cp.async.bulk", "cp.async", "SIMT", None]},
        "why": {"type": ["string", "null"]}, "vector": NULLABLE_INT,
        "threads": {"type": ["array", "null"], "items": {"type": "integer"}},
        "pipeline": {"type": "object", "required": ["loads", "why"]},
    },
    "additionalProperties": False,
}
TILE = {"type": "object", "additionalProperties": False,
        "required": ["name", "shape", "layout", "swizzle_bytes", "bytes", "offset"],
        "properties": {"name": {"type": "string"},
                       "shape": {"type": "array", "items": {"type": "integer"}},
                       "layout": {"enum": ["row_major", "padded", "swizzle_32B", "swizzle_64B",
                                           "swizzle_128B"]},
                       "swizzle_bytes": {"enum": [0, 32, 64, 128]},
                       "bytes": {"type": "integer"}, "offset": {"type": "integer"}}}
ROOFLINE = {"type": "object", "additionalProperties": False,
            "required": ["gpu", "gb_per_s", "microseconds", "measured_gb_per_s",
                         "measured_microseconds"],
            "properties": {"gpu": {"enum": ["H100", "H200", "B200"]},
                           "gb_per_s": {"type": "integer"}, "microseconds": {"type": "number"},
                           "measured_gb_per_s": NULLABLE_INT,
                           "measured_microseconds": {"type": ["number", "null"]}}}
KERNEL = {
    "type": "object",
    "required": ["kernel", "where", "target", "stages", "warnings", "shared_memory", "threads",
                 "registers", "local_memory_bytes", "spills", "occupancy", "launch"],
    "additionalProperties": False,
    "properties": {
        "kernel": {"type": "string"}, "where": {"type": "string"},
        "target": {"enum": ["sm_90a", "sm_80", "sm_100a"]},
        "tune": {"type": "object", "required": ["choice", "from"], "additionalProperties": False,
                 "properties": {"choice": {"type": "object"}, "from": {"type": "string"}}},
        "warnings": {"type": "array", "items": {"type": "object",
                                                 "required": ["path", "line", "message"]}},
        "stages": {"type": "array", "items": STAGE},
        "shared_memory": {"type": "object", "required": ["bytes", "tiles", "mbarriers"],
                          "properties": {"tiles": {"type": "array", "items": TILE}}},
        "registers": NULLABLE_INT, "local_memory_bytes": NULLABLE_INT, "spills": NULLABLE_INT, "threads": {"type": "integer"},
        "occupancy": {"type": "object", "required": ["blocks_per_sm", "limited_by", "limits",
                                                     "warps_per_sm", "max_warps_per_sm"]},
        "launch": {"type": "object", "required": ["dims", "example_dims", "blocks", "tensors",
                                                  "bytes", "roofline"],
                   "properties": {"roofline": {"type": "array", "items": ROOFLINE,
                                               "minItems": 3, "maxItems": 3}}},
    },
}
OUTPUT = {"type": "object", "required": ["kernels"], "additionalProperties": False,
          "properties": {"kernels": {"type": "array", "items": KERNEL, "minItems": 1}}}


def explain_json(*args):
    result = tlspec_here("explain", *args, "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    payload = json.loads(result.stdout)
    jsonschema.validate(payload, OUTPUT)
    return payload["kernels"]


@pytest.fixture(scope="module")
def tma_pipeline():
    (kernel,) = explain_json(str(SPECS / "tma_pipeline.tlspec.yaml"))
    return kernel


def test_stages_carry_the_annotations_and_where_they_are(tma_pipeline):
    stages = {s["pointer"]: s for s in tma_pipeline["stages"]}
    load = stages["/stages/1/pipeline/stages/1/tma_copy"]
    assert load["instruction"] == "TMA" and load["why"].startswith("tma_copy: one TMA load")
    assert load["where"].endswith("tma_pipeline.tlspec.yaml:35:13")
    assert load["spec"].startswith("{src: 'A[bx*64 : +64, k*64 : +64]'")
    loop = stages["/stages/1/pipeline"]
    assert loop["pipeline"]["loads"] == [] and "runs as written" in loop["pipeline"]["why"]
    assert loop["spec"].endswith("stages: 5 stages}")
    assert stages["/stages/0/alloc_barrier"]["instruction"] is None


def test_shared_pool_and_occupancy(tma_pipeline):
    shared = tma_pipeline["shared_memory"]
    assert shared["bytes"] == 16400
    assert shared["tiles"] == [{"name": "A_s", "shape": [2, 64, 64], "layout": "swizzle_128B",
                                "swizzle_bytes": 128, "bytes": 16384, "offset": 0}]
    assert shared["mbarriers"] == {"count": 2, "offset": 16384, "bytes": 16}
    assert tma_pipeline["registers"] > 0
    assert (tma_pipeline["local_memory_bytes"], tma_pipeline["spills"]) == (0, 0)
    assert tma_pipeline["occupancy"]["limited_by"] == ["shared memory"]
    assert tma_pipeline["occupancy"]["blocks_per_sm"] == 13


def test_constant_dims_give_the_bytes(tma_pipeline):
    launch = tma_pipeline["launch"]
    assert launch["dims"] == {"M": 8192, "N": 8192} and launch["example_dims"] == []
    assert launch["bytes"] == 2 * 8192 * 8192 * 2
    h200 = next(r for r in launch["roofline"] if r["gpu"] == "H200")
    assert h200["gb_per_s"] == 4800 and h200["microseconds"] == pytest.approx(55.924, abs=1e-3)


def test_simt_vector_and_thread_grid_and_given_dims():
    (kernel,) = explain_json(str(SPECS / "copy_symbolic.tlspec.yaml"), "--dim", "M=128",
                             "--dims", "N=256")
    first = kernel["stages"][0]
    assert (first["instruction"], first["vector"], first["threads"]) == ("SIMT", 8, [16, 16])
    assert "not global -> fragment" in first["why"]
    assert kernel["launch"]["dims"] == {"M": 128, "N": 256}
    assert kernel["launch"]["bytes"] == 2 * 128 * 256 * 2 and kernel["launch"]["blocks"] == 4


def test_padded_and_swizzled_tiles_are_placed_aligned():
    (kernel,) = explain_json(str(SPECS / "transpose.tlspec.yaml"))
    tiles = {t["name"]: t for t in kernel["shared_memory"]["tiles"]}
    assert tiles["A_s"]["layout"] == "padded" and tiles["A_s"]["bytes"] > 64 * 64 * 2
    assert tiles["At_s"]["swizzle_bytes"] == 128 and tiles["At_s"]["offset"] % 1024 == 0
    assert "is padded" in kernel["stages"][0]["why"]


def test_a_tuned_kernel_is_explained_as_compile_builds_it():
    """The tune record beside the spec applies as in `tlspec compile`: specs/transpose's static
    winner; specs/concat_last's winner for the size class of the dims given, and without every
    symbolic dim its first candidates, saying why."""
    (kernel,) = explain_json(str(SPECS / "transpose.tlspec.yaml"))
    assert kernel["tune"] == {"choice": {"TW": 128, "THREADS": 256},
                              "from": "the tune record's choice"}
    assert kernel["threads"] == 256
    (kernel,) = explain_json(str(SPECS / "concat_last.tlspec.yaml"), "--dim", "M=16384")
    assert kernel["tune"] == {"choice": {"ROWS": 1, "THREADS": 512},
                              "from": "the tune record's choice for M<=16384"}
    (kernel,) = explain_json(str(SPECS / "concat_last.tlspec.yaml"))
    assert kernel["tune"]["choice"] == {"ROWS": 4, "THREADS": 256}
    assert kernel["tune"]["from"].startswith("the first candidates: give every symbolic dim")
    (kernel,) = explain_json(str(SPECS / "copy_tiles.tlspec.yaml"))
    assert "tune" not in kernel


def test_kernel_option_and_block_to_block_bulk_copy():
    (kernel,) = explain_json(str(SPECS / "cluster_multicast.tlspec.yaml"), "--kernel",
                             "swap_pairs_dsmem")
    assert kernel["kernel"] == "swap_pairs_dsmem"
    (cluster,) = [s for s in kernel["stages"] if s["kind"] == "copy_cluster"]
    assert cluster["instruction"] == "cp.async.bulk"


def test_text_names_each_part():
    result = tlspec_here("explain", str(SPECS / "async_copy_pipeline.tlspec.yaml"))
    assert result.returncode == 0, result.stdout
    text = result.stdout
    for part in ("kernel async_copy_pipeline (sm_80)", "async_copy: cp.async, 8 elements per "
                 "access", "shared memory: 32768 bytes", "A_s 2x64x128: row_major, 32768 bytes "
                 "at offset 0", "limited by shared memory", "roofline", "H100 3350 GB/s"):
        assert part in text, part


@pytest.mark.parametrize("args, message", [
    (["nope.tlspec.yaml"], "'nope.tlspec.yaml' does not exist"),
    ([str(SPECS / "copy_symbolic.tlspec.yaml"), "--kernel", "x"], "has no kernel 'x'"),
    ([str(SPECS / "copy_symbolic.tlspec.yaml"), "--dim", "M=7"],
     "--dim M=7: M must be a multiple of 64 and >= 64"),
    ([str(SPECS / "copy_symbolic.tlspec.yaml"), "--dim", "M"], "expected NAME=VALUE"),
    ([str(SPECS / "copy_symbolic.tlspec.yaml"), "--dim", "Q=1"], "has no dim 'Q'"),
    ([str(SPECS / "cluster_multicast.tlspec.yaml"), "--dim", "B=1"], "choose the one --dim "
     "is for with --kernel NAME"),
])
def test_usage_errors(args, message):
    result = tlspec_here("explain", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("tlspec: error: ") and message in result.stderr


def test_an_invalid_spec_is_located(tmp_path):
    spec = tmp_path / "bad.tlspec.yaml"
    spec.write_text((SPECS / "copy_tiles.tlspec.yaml").read_text().replace("float16", "fp17"))
    result = tlspec_here("explain", str(spec))
    assert result.returncode == 1
    assert f"{spec}:" in result.stdout and "error: unknown dtype 'fp17'" in result.stdout
    assert result.stdout.rstrip().endswith("nothing to explain")
    result = tlspec_here("explain", str(spec), "--format", "json")
    assert result.returncode == 1 and json.loads(result.stdout)["errors"] >= 1


def test_a_kernel_the_compiler_refuses_is_located(tmp_path):
    spec = tmp_path / "refused.tlspec.yaml"
    text = (SPECS / "copy_symbolic.tlspec.yaml").read_text()
    spec.write_text(text.replace("coalesced_width: 8\n      loop_layout: {threads: [16, 16], "
                                 "vector: 8}", "coalesced_width: 16", 1))
    result = tlspec_here("explain", str(spec))
    assert result.returncode == 1, result.stdout
    assert f"{spec}:" in result.stdout and "coalesced_width" in result.stdout


def test_a_pipelined_loop_shows_its_plan(tmp_path):
    spec = tmp_path / "pipelined.tlspec.yaml"
    spec.write_text(PIPELINED)
    (kernel,) = explain_json(str(spec))
    loop = kernel["stages"][0]
    assert loop["pipeline"] == {"loads": [0], "why": "1 load(s) issued 2 iteration(s) ahead"}
    assert kernel["stages"][1]["instruction"] == "TMA" and not kernel["warnings"]
    assert kernel["shared_memory"]["tiles"][0]["shape"] == [3, 64, 64]


def test_a_slow_path_warning_is_shown_where_it_is(tmp_path):
    spec = tmp_path / "serial_pipe.tlspec.yaml"
    spec.write_text(SERIAL_PIPELINE)
    (kernel,) = explain_json(str(spec))
    (warning,) = kernel["warnings"]
    assert (warning["line"], warning["pointer"]) == (14, "/stages/0/pipeline")
    assert warning["message"].startswith("this pipeline loop runs as written")
    text = tlspec_here("explain", str(spec)).stdout
    assert f"  warning: {spec}:14:5: this pipeline loop runs as written" in text
