"""The compile half of `tlspec tune` (tlspec/tune/variants.py, bundle.py): every combination of
the candidates, the invalid ones skipped with their located reason, the others compiled into the
bundle's package, and the manifest the GPU machine measures from."""
import json

import pytest

from tlspec.diagnostics import Diagnostics
from tlspec.discover import UsageError
from tlspec.tune.bundle import PACKAGE, arguments, make_bundle, parse_sizes
from tlspec.tune.variants import combinations, label, variants

from tuned_specs import SYMBOLIC, choices, kernel_of, transpose

# TW = 512: a 64 x 512 tile pair is 128 KB of static shared memory, more than a block may have
WITH_INVALID = transpose().replace("TW: [64, 32]", "TW: [64, 32, 512]")


def test_combinations_are_in_declaration_order_the_first_the_default():
    kernel = kernel_of(transpose())
    assert [label(c) for c in combinations(kernel)] == [
        "TW=64,THREADS=128", "TW=64,THREADS=64", "TW=32,THREADS=128", "TW=32,THREADS=64"]


def test_an_invalid_combination_is_skipped_with_its_located_reason():
    found = variants(kernel_of(WITH_INVALID))
    assert [v.kernel.name if v.kernel else None for v in found] == [
        "tt__v0", "tt__v1", "tt__v2", "tt__v3", None, None]
    assert found[4].label == "TW=512,THREADS=128"
    assert found[4].skipped == ("11:17: the static shared-memory tiles need 131072 bytes (128.0 KB); "
                                "static shared memory is limited to 48 KB per block")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    spec = folder / "tt.tlspec.yaml"
    spec.write_text(WITH_INVALID)
    diags = Diagnostics()
    manifest = make_bundle(str(spec), str(folder / "bundle"), [], [], diags, workers=2)
    assert not diags.has_errors, diags.render_text()
    return folder, manifest


def test_the_bundle_holds_every_valid_variant_compiled(bundle):
    folder, manifest = bundle
    assert json.loads((folder / "bundle" / "bundle.json").read_text()) == manifest
    kernel = manifest["kernels"]["tt"]
    assert [v.get("name") for v in kernel["variants"]] == [
        "tt__v0", "tt__v1", "tt__v2", "tt__v3", None, None]
    assert kernel["parameters"] == {"TW": [64, 32, 512], "THREADS": [128, 64]}
    package = folder / "bundle" / PACKAGE
    names = json.loads((package / "_tlspec_package.json").read_text())["kernels"]
    assert names == ["tt__v0", "tt__v1", "tt__v2", "tt__v3"]
    assert "__launch_bounds__(64)" in (package / "tt__v3.cu").read_text()
    assert json.loads((package / "tt__v2.json").read_text())["grid"][0] == 16   # 512 / 32


def test_the_bundle_names_the_record_and_the_arguments(bundle):
    folder, manifest = bundle
    assert manifest["record"] == str(folder / "tt.tune.json")
    (size,) = manifest["kernels"]["tt"]["sizes"]
    assert size["class"] == "static" and size["dims"] == {}
    assert size["arguments"] == [
        {"name": "A", "io": "in", "dtype": "float16", "shape": [256, 512]},
        {"name": "B", "io": "out", "dtype": "float16", "shape": [512, 256]}]


def test_symbolic_kernels_are_tuned_at_the_sizes_given():
    kernel = kernel_of(transpose(SYMBOLIC, SYMBOLIC))
    assert parse_sizes(kernel, ["M=256,N=512", "N=4096,M=104"]) == [
        {"M": 256, "N": 512}, {"M": 104, "N": 4096}]
    assert arguments(kernel, {"M": 16, "N": 8})[1]["shape"] == [8, 16]


@pytest.mark.parametrize("sizes, message", [
    ([], "kernel tt has symbolic dims (M, N): give the sizes to tune at, e.g. --sizes "
         "M=1024,N=1024"),
    (["M=256"], "--sizes M=256: give N too"),
    (["M=256,N=12"], "--sizes M=256,N=12: N must be a multiple of 8"),
    (["M=256,N=512", "M=200,N=400"], "--sizes M=200,N=400 and --sizes M=256,N=512 fall in one "
                                     "size class (M<=256,N<=512): give one size per class")])
def test_sizes_that_cannot_be_tuned_at_are_usage_errors(sizes, message):
    kernel = kernel_of(transpose(SYMBOLIC, SYMBOLIC))
    with pytest.raises(UsageError) as err:
        parse_sizes(kernel, sizes)
    assert str(err.value) == message


def test_a_gather_s_index_argument_names_its_rows():
    from tlspec.validate import validate_paths

    (kernel,) = validate_paths(["specs/gather_rows.tlspec.yaml"]).kernels
    index = arguments(kernel, {})[1]
    assert index == {"name": "idx", "io": "in", "dtype": "int32", "shape": [65536],
                     "rows": 262144, "distinct": False}


def test_a_computed_index_s_tensor_names_the_rows_of_the_dim_it_indexes():
    """specs/paged_kv_gather indexes the cache's pages with block_table[b, t // P]: its values
    are pages (the cache's dim 0), at the sizes tuned."""
    from tlspec.validate import validate_paths

    kernel = validate_paths(["specs/paged_kv_gather.tlspec.yaml"]).kernels[0]
    table = arguments(kernel, {"B": 4, "T": 64, "MAXP": 4, "NP": 32})[1]
    assert table == {"name": "block_table", "io": "in", "dtype": "int32", "shape": [4, 4],
                     "rows": 32, "distinct": False}


def test_instruction_choices_combine_with_integers():
    assert [label(c) for c in combinations(kernel_of(choices()))] == [
        "TW=64,LOAD=tma,POLICY=evict_normal", "TW=64,LOAD=tma,POLICY=evict_first",
        "TW=64,LOAD=sync,POLICY=evict_normal", "TW=64,LOAD=sync,POLICY=evict_first",
        "TW=4,LOAD=tma,POLICY=evict_normal", "TW=4,LOAD=tma,POLICY=evict_first",
        "TW=4,LOAD=sync,POLICY=evict_normal", "TW=4,LOAD=sync,POLICY=evict_first"]


def choice_bundle(folder, text, sizes):
    spec = folder / "tc.tlspec.yaml"
    spec.write_text(text)
    diags = Diagnostics()
    manifest = make_bundle(str(spec), str(folder / "bundle"), sizes, [], diags, workers=2)
    assert not diags.has_errors, diags.render_text()
    return manifest["kernels"]["tc"]


def test_a_bundle_of_instruction_choices_skips_what_the_region_cannot_take(tmp_path):
    """TW = 4 with LOAD = tma: 8-byte rows are no TMA box, refused by validation, at the region."""
    kernel = choice_bundle(tmp_path, choices(policy=False), [])
    assert kernel["parameters"] == {"TW": [64, 4], "LOAD": ["tma", "sync"]}
    assert kernel["variants"] == [
        {"name": "tc__v0", "choice": {"TW": 64, "LOAD": "tma"}},
        {"name": "tc__v1", "choice": {"TW": 64, "LOAD": "sync"}},
        {"choice": {"TW": 4, "LOAD": "tma"},
         "skipped": "16:18: prefer_instruction tma: the box's innermost extent spans 8 bytes; "
                    "TMA needs a multiple of 16 (TMA box 'A[by*64 : +64, bx*TW : +TW]')"},
        {"name": "tc__v3", "choice": {"TW": 4, "LOAD": "sync"}}]
    package = tmp_path / "bundle" / PACKAGE
    assert "cp.async.bulk.tensor.2d.shared::cluster.global" in (package / "tc__v0.cu").read_text()
    assert "cp.async.bulk.tensor.2d.shared::cluster.global" not in \
        (package / "tc__v1.cu").read_text()


def test_a_choice_the_compiler_refuses_is_skipped_with_its_located_reason(tmp_path):
    """A row stride of N elements, N a multiple of 4 only, is not proven 16-byte aligned: the
    compiler, not validation, refuses TMA there; the variant is skipped all the same, located."""
    text = choices(policy=False).replace("dims: {M: 256, N: 512}", "dims: {M: 256, N: {symbolic: "
                                         "true, multiple_of: 4, min: 64}}").replace(
        "TW: [64, 4]", "TW: [64]").replace("LOAD: [tma, sync]", "LOAD: [sync, tma]")
    kernel = choice_bundle(tmp_path, text, ["N=512"])
    assert kernel["variants"] == [
        {"name": "tc__v0", "choice": {"TW": 64, "LOAD": "sync"}},
        {"choice": {"TW": 64, "LOAD": "tma"},
         "skipped": "16:78: this copy cannot use TMA: a row stride of 'A' (N elements) is not "
                    "proven to be a multiple of 16 bytes"}]
