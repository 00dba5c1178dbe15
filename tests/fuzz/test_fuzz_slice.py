"""A fixed-seed slice of the bad-spec fuzzer (tests/fuzz/README.md): a few hundred mutants
through `tlspec validate` and a handful through `tlspec compile`, in this process, with no
broken promise. The large runs are tests/fuzz/fuzz_specs.py."""
import pytest

import tlspec.validate
from fuzz.corpus import seeds
from fuzz.mutants import KINDS, make
from fuzz.runner import Runner

SEED = 0
VALIDATED = 150      # 46 of the 50 mutation kinds; the large runs are fuzz_specs.py
COMPILED = 3


@pytest.fixture(scope="module")
def corpus():
    return seeds()


@pytest.fixture
def runner(tmp_path):
    return Runner(tmp_path, timeout=10, compile_timeout=60, memory_mb=1024)


def report(results) -> str:
    return "\n\n".join(f"mutant {r.index} ({r.kind} of {r.seed}): {r.outcome}\n{r.detail}"
                       for r in results)


def test_mutants_are_reproducible(corpus):
    assert [make(corpus, SEED, i) for i in range(20)] == [make(corpus, SEED, i)
                                                          for i in range(20)]
    assert make(corpus, SEED, 0) != make(corpus, SEED + 1, 0)


def test_validate_slice(corpus, runner):
    results = [runner.run(make(corpus, SEED, i), "validate") for i in range(VALIDATED)]
    assert not [r for r in results if r.failed], report([r for r in results if r.failed])
    assert {r.kind.split(":")[0] for r in results} == {"text", "structure", "semantic"}
    assert len({r.kind for r in results}) > len(KINDS) * 0.8
    assert {"valid", "invalid"} <= {r.outcome for r in results}


def test_compile_slice(corpus, runner):
    """The first mutants that validate, compiled into an -o that holds an earlier package."""
    results = []
    for i in range(VALIDATED):
        mutant = make(corpus, SEED, i)
        if runner.run(mutant, "validate").outcome == "valid":
            results.append(runner.run(mutant, "compile"))
        if len(results) == COMPILED:
            break
    assert len(results) == COMPILED
    assert not [r for r in results if r.failed], report([r for r in results if r.failed])


def test_a_traceback_is_caught_and_reported(corpus, runner, monkeypatch):
    """The oracle itself: an exception escaping validation is a failure, with its traceback."""
    def broken(paths):
        raise ZeroDivisionError("deep inside")

    monkeypatch.setattr(tlspec.validate, "validate_paths", broken)
    result = runner.run(make(corpus, SEED, 0), "validate")
    assert result.failed and result.outcome == "traceback"
    assert "ZeroDivisionError: deep inside" in result.detail


def test_an_error_without_a_hint_is_a_broken_promise(tmp_path):
    """Every error says how to fix it: the judge reports one without a hint as 'unhinted'."""
    from types import SimpleNamespace

    from fuzz.runner import judge

    path = tmp_path / "m.tlspec.yaml"
    ok = {0: "valid", 1: "invalid", 2: "usage"}
    hinted = f"{path}:3:1: error: one\n  at: /a\n  hint: fix it\n"
    bare = f"{path}:4:2: error: two\n  at: /b\n"
    for stdout, outcome in [(hinted, "invalid"), (hinted + bare, "unhinted"),
                            (bare + hinted, "unhinted"),
                            (hinted + f"{path}:5:1: warning: three\n", "invalid")]:
        result = SimpleNamespace(stdout=stdout + "1 file, 1 kernel: 2 errors\n", stderr="",
                                 exception=None, exit_code=1)
        assert judge(result, path, ok)[0] == outcome, stdout
