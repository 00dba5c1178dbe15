"""The shrinker on synthetic predicates (no compiler): it keeps every candidate valid, keeps the
failure, and ends at a spec with nothing left to remove."""
from __future__ import annotations

import json

import shrink
from shrinking import candidates, cost, shrink as shrink_spec, valid
from spec_features import features
from spec_generator import generate
from spec_yaml import to_yaml


def _first(predicate, seed=3):
    return next(g.spec for g in (generate(seed, i) for i in range(500)) if predicate(g.spec))


def test_a_transpose_shrinks_to_the_transpose_alone():
    spec = _first(lambda s: "stage:transpose" in features(s) and "stage:for" in features(s))
    seen = []

    def fails(candidate):
        seen.append(candidate)
        return "stage:transpose" in features(candidate)

    smallest = shrink_spec(spec, fails)
    assert all(valid(c) for c in seen)
    assert fails(smallest) and valid(smallest)
    assert cost(smallest) < cost(spec)
    assert [next(iter(s)) for s in smallest["stages"]] == ["transpose"]
    assert len(smallest["buffers"]) == 2 and not smallest.get("dims")
    assert all(e == 1 for b in smallest["buffers"].values() for e in b["shape"])
    assert not any(fails(c) for c in candidates(smallest))


def test_a_symbolic_dim_becomes_the_size_of_the_failing_call():
    # (not a pipeline: a constant trip count below its num_stages would be invalid)
    spec = _first(lambda s: any(not isinstance(v, int) for v in (s.get("dims") or {}).values())
                  and "stage:pipeline" not in features(s))
    name = next(n for n, v in spec["dims"].items() if not isinstance(v, int))
    made_constant = [c for c in candidates(spec, {name: 5}) if c["dims"].get(name) == 5]
    assert made_constant and all(valid(c) for c in made_constant)


def test_pick_takes_the_smallest_failing_candidate(tmp_path):
    spec = _first(lambda s: len(s["stages"]) >= 2)
    (tmp_path / "specs").mkdir()
    small = next(candidates(spec))
    for name, s in (("c0", spec), ("c1", small)):
        (tmp_path / "specs" / f"{name}.tlspec.yaml").write_text(to_yaml(dict(s, name=name)))
    (tmp_path / "costs.json").write_text(json.dumps({"c0": cost(spec), "c1": cost(small)}))
    results = [{"kernel": "c0", "status": "mismatch"}, {"kernel": "c1", "status": "crash"}]
    (tmp_path / "results.json").write_text(json.dumps({"results": results}))
    assert shrink.pick(tmp_path).read_text() == to_yaml(dict(small, name="c1"))
    results[1]["status"] = "interpreter error"          # not a GPU failure: c0 stays
    (tmp_path / "results.json").write_text(json.dumps({"results": results}))
    assert shrink.pick(tmp_path).read_text() == to_yaml(dict(spec, name="c0"))


def test_a_pipeline_shrinks_to_a_for_loop_and_to_its_body():
    spec = _first(lambda s: "pipeline:slot" in features(s) and len(s["stages"]) == 1
                  and "pipeline" in s["stages"][0])
    kinds = [[next(iter(s)) for s in c["stages"]] for c in candidates(spec) if valid(c)]
    assert ["for"] in kinds
    assert any("pipeline" not in k and "for" not in k for k in kinds)
