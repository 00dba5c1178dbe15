"""The spec generator: reproducible, valid, and covering the language this release compiles
(counted from the specs themselves, spec_features.py)."""
from __future__ import annotations

from functools import reduce

import pytest

from spec_builder import SWIZZLE_SPAN
from spec_features import features, index_fills
from spec_generator import generate
from spec_yaml import to_yaml
from tlspec.dtypes import DTYPE_BYTES
from tlspec.validate import validate_text

SEED = 11
SAMPLE = 400
KINDS = ["copy", "transpose", "gather", "scatter", "im2col", "for", "sync_threads", "pipeline",
         "copy_cluster",
         "tma_copy", "async_copy", "alloc_barrier", "barrier_arrive", "barrier_wait",
         "async_commit", "async_wait", "tma_store_wait"]
ASYNC = ({f"pipeline:num_stages={n}" for n in range(1, 5)}
         | {f"pipeline:{x}" for x in ["nested", "extent_floor", "extent_constant", "slot",
                                      "slots>stages", "other_slot", "overwrite", "explicit"]}
         | {"tma_copy:load", "tma_copy:store", "barrier:array", "barrier:arrive_count>1",
            "barrier:parity_loop", "async_wait:pending>0", "tma_store_wait:pending>0",
            "prefetch", "target:sm_80", "target:sm_90a", "copy:shared->fragment"})
# the forms added since the first batches: strided regions, pitched views, computed indices,
# NCHW im2col and derived dims
RECENT = (
    {f"strided:{x}" for x in ["load", "store", "inner", "outer", "step=1", "step>8", "fill",
                              "tma"]}
    | {"strides:pitched", "strides:dim", "gather:computed", "scatter:computed",
       "computed:table_rank=2", "computed:table_rank=3", "computed:each=1", "computed:each=2",
       "computed:no_each", "computed:reads", "computed:arithmetic", "computed:out_of_range",
       "computed:fill", "im2col:nchw", "im2col:fill", "dim:derived"})
EXPECTED = (
    {f"stage:{k}" for k in KINDS}
    | {f"copy:{a}->{b}" for a, b in [("global", "shared"), ("shared", "global"),
                                     ("shared", "shared"), ("global", "global"),
                                     ("global", "fragment"), ("fragment", "global")]}
    | {f"dtype:{d}" for d in DTYPE_BYTES} | {f"rank:{r}" for r in range(1, 6)}
    | {f"layout:{x}" for x in ["auto", "row_major", "padded", *SWIZZLE_SPAN]}
    | {f"option:prefer_instruction={x}" for x in ["tma", "cp_async", "sync"]}
    | {f"option:eviction_policy={x}" for x in ["evict_normal", "evict_first", "evict_last"]}
    | {f"option:{x}" for x in ["disable_tma", "coalesced_width", "loop_layout", "stride",
                               "dilation", "pad"]}
    | {f"dim:{x}" for x in ["constant", "symbolic", "multiple_of", "min", "max"]}
    | {"for:nested", "for:start", "for:one_stage", "slot", "index:int32", "index:int64",
       "tile:partial", "row:not_16B", "extent:odd", "extent:expression", "scope:shared",
       "scope:shared.dyn", "scope:fragment", "im2col:per_axis", "option:fill", "region:halo",
       "copy:convert", "cluster:2", "cluster:4", "cluster:8", "pipeline:multicast",
       "copy_cluster:global->shared", "copy_cluster:shared->shared",
       "copy_cluster:remote_barrier", "names:awkward"}
    | ASYNC | RECENT)


@pytest.fixture(scope="module")
def sample():
    return [generate(SEED, i).spec for i in range(SAMPLE)]


def test_every_feature_appears_in_a_sample(sample):
    found = reduce(set.union, (features(spec) for spec in sample))
    assert EXPECTED - found == set()


def test_generated_specs_validate(sample):
    for spec in sample[:60]:
        result = validate_text(to_yaml(spec), f"{spec['name']}.tlspec.yaml")
        assert result.ok, result.diagnostics.render_text() + "\n" + to_yaml(spec)


def test_generated_asynchronous_specs_validate(sample):
    """Every spec of the sample with pipelines or explicit synchronisation (a quarter of them):
    their protocols are the generator's own constructions."""
    chosen = [spec for spec in sample if "async" in features(spec)]
    assert len(chosen) >= len(sample) // 6
    for spec in chosen:
        result = validate_text(to_yaml(spec), f"{spec['name']}.tlspec.yaml")
        assert result.ok, result.diagnostics.render_text() + "\n" + to_yaml(spec)


def test_a_spec_depends_on_its_seed_and_index_only():
    assert generate(SEED, 7).spec == generate(SEED, 7).spec
    assert generate(SEED, 7).spec != generate(SEED + 1, 7).spec
    assert generate(SEED, 7).name == f"k{SEED}_7"


def _stages(stages):
    for stage in stages:
        (kind, options), = stage.items()
        yield kind, options or {}
        if kind == "for":
            yield from _stages(options["stages"])


def _recent(sample, count: int = 1) -> dict[str, list[dict]]:
    """The first `count` specs of the sample with each recent form."""
    first: dict[str, list[dict]] = {}
    for spec in sample:
        for form in sorted(features(spec) & RECENT):
            found = first.setdefault(form, [])
            if len(found) < count:
                found.append(spec)
    return first


def test_the_recent_forms_are_a_fair_share_of_the_specs(sample):
    share = sum(1 for spec in sample if features(spec) & RECENT) / len(sample)
    assert 0.2 <= share <= 0.45, share


def test_specs_of_each_recent_form_validate(sample):
    for form, (spec,) in _recent(sample).items():
        result = validate_text(to_yaml(spec), f"{spec['name']}.tlspec.yaml")
        assert result.ok, form + "\n" + result.diagnostics.render_text() + "\n" + to_yaml(spec)


def test_specs_of_the_recent_forms_compile(sample, tmp_path):
    """Of the first three specs with a strided load, a strided store, a pitched view, a computed
    gather, a computed scatter and an NCHW im2col, each compiles or is refused (located), and
    one of each compiles."""
    pytest.importorskip("tvm", reason="compiling needs apache-tvm")
    from compile_case import compile_spec
    candidates = _recent(sample, 3)
    for form in ["strided:load", "strided:store", "strides:pitched", "gather:computed",
                 "scatter:computed", "im2col:nchw"]:
        outcomes = []
        for spec in candidates[form]:
            path = tmp_path / f"{spec['name']}.tlspec.yaml"
            path.write_text(to_yaml(spec))
            outcome = compile_spec(str(path))
            assert outcome["status"] == "compiled" or (outcome["status"] == "refused"
                                                       and "line" in outcome), outcome
            outcomes.append(outcome["status"])
            if outcome["status"] == "compiled":
                break
        assert "compiled" in outcomes, (form, outcomes)


def test_computed_indices_fill_their_index_tensors_as_table_rows(sample):
    """A computed gather's index tensors hold rows of the table dimension their expression
    indexes (`dim`), distinct for a scatter."""
    (spec,) = _recent(sample)["scatter:computed"]
    fills = index_fills(spec)
    assert fills and all(f["distinct"] and f["dim"] == 0 for f in fills.values())
    (stage,) = [o for k, o in _stages(spec["stages"]) if k == "scatter"]
    assert {f["table"] for f in fills.values()} == {stage["dst"].split("[")[0]}
