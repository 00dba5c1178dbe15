"""tests/gpu/oob_error/ (the debug mode `out_of_range: error` and computed-index gathers with an
eviction_policy, run by tests/gpu/test_oob_error_gpu.py on the GPU) compiles without a GPU into
a package of all its kernels. A debug-mode kernel takes the fault record as a hidden parameter
(the manifest's `fault_record`), calls the record helper (prepended to its source) only where a
row is out of range, and its manifest lists the sites the run time words the error from; the
other kernels have none of it. The TMA gather4 form is refused in the debug mode."""
import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")

from conftest import (ROOT, assert_every_kernel_compiled, compiled_once, kernel_manifest,
                      kernel_source)
from tlspec.compiler.support import check_supported
from tlspec.diagnostics import Diagnostics
from tlspec.validate import validate_text

OOB = ROOT / "tests" / "gpu" / "oob_error"
DEBUG = ["rows_debug_f16", "rows_chunks_debug_i8", "rows_scatter_debug_f32", "paged_debug_f16",
         "paged_write_debug_bf16"]
EVICTING = ["paged_evict_f16", "paged_evict_wide_bf16", "paged_write_evict_f16"]


@pytest.fixture(scope="module")
def oob(tmp_path_factory):
    yield from compiled_once(tmp_path_factory, OOB, "tlspec_oob_error_ci")


def test_every_kernel_of_oob_error_compiles(oob):
    assert_every_kernel_compiled(*oob, OOB)


@pytest.mark.parametrize("name", DEBUG)
def test_a_debug_kernel_takes_the_record_and_calls_the_helper_where_a_row_is_out(oob, name):
    m = kernel_manifest(oob[1], name)
    assert [p for p in m["params"] if p["kind"] == "fault_record"] == [{"kind": "fault_record"}]
    assert m["out_of_range"]["record_words"] == 24
    source = (oob[1] / f"{name}.cu").read_text()
    assert "__device__ __noinline__ void tlspec_oob_record(" in source     # the helper, once
    assert kernel_source(oob[1], name).count("tlspec_oob_record(_tlspec_oob_ptr, ") >= 1


def test_the_manifest_lists_the_sites_in_the_interpreters_order(oob):
    sites = kernel_manifest(oob[1], "paged_debug_f16")["out_of_range"]
    assert sites["grid"] == ["bx", "by"]
    assert [(s["kind"], s["component"], s["expr"]) for s in sites["sites"]] == [
        ("read", 0, "block_table[by, t // P]"), ("index", 0, "block_table[by, t // P]"),
        ("index", 1, "t % P")]
    read = sites["sites"][0]
    assert read["buffer"] == 1 and read["table"] == 0 and read["rows"] == ["t"]
    assert read["pointer"] == "/stages/0/gather/index/0"
    assert read["where"].endswith("debug.tlspec.yaml:75:16")       # the index expression
    [chunks] = kernel_manifest(oob[1], "rows_chunks_debug_i8")["out_of_range"]["sites"]
    assert chunks["kind"] == "position" and chunks["loops"] == ["c"]
    assert chunks["index"] == "idx[bx*16 : +16]"


@pytest.mark.parametrize("name", EVICTING)
def test_the_other_kernels_have_no_record(oob, name):
    m = kernel_manifest(oob[1], name)
    assert "out_of_range" not in m and all(p["kind"] != "fault_record" for p in m["params"])
    assert "tlspec_oob" not in (oob[1] / f"{name}.cu").read_text()


def test_the_tma_gather4_form_is_refused_in_the_debug_mode():
    text = (ROOT / "docs" / "spec.md").read_text()
    start = text.index("name: gather4_rows")
    block = "tlspec: 1\n" + text[start:text.index("```", start)]
    result = validate_text(block.replace("barrier: bar\n", "barrier: bar\n            "
                                                           "out_of_range: error\n"), "g4.yaml")
    assert result.ok, result.diagnostics.render_text()
    diags = Diagnostics()
    check_supported(result.kernels[0], diags)
    [error] = diags.errors
    assert "out_of_range: error (the debug mode) with the TMA gather4 form is not compiled" \
        in error.message
    assert error.pointer.endswith("/gather/out_of_range")


def test_a_manifest_from_the_cache_names_the_file_and_lines_compiled_now(tmp_path):
    """The compile cache's key holds neither a spec's path nor its layout: a debug-mode kernel
    from the cache names the file compiled now, at its lines."""
    from tlspec.cache import Cache
    from tlspec.compiler.driver import compile_paths

    text = (ROOT / "docs" / "spec.md").read_text()
    start = text.index("tlspec: 1\nname: paged_debug\n")
    spec = text[start:text.index("```", start)]
    cache = Cache(tmp_path / "cache")
    wheres = []
    for name, prefix in (("first", ""), ("second", "# moved down two lines\n\n")):
        path = tmp_path / f"{name}.tlspec.yaml"
        path.write_text(prefix + spec)
        assert compile_paths([str(path)], str(tmp_path / name), cache=cache).ok
        sites = kernel_manifest(tmp_path / name, "paged_debug")["out_of_range"]["sites"]
        wheres.append(sites[1]["where"])
    assert wheres == [f"{tmp_path}/first.tlspec.yaml:22:16",
                      f"{tmp_path}/second.tlspec.yaml:24:16"]
    assert len(list((tmp_path / "cache" / "kernels").iterdir())) == 1    # compiled once
