"""The README's Quick start is what CI runs, and its examples do what the README says."""
import re

from tlspec.validate import validate_text

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_quick_start_is_what_ci_runs():
    install, test = blocks("sh")[0].strip().splitlines()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install in ci
    assert test in ci


def test_tour_spec_is_valid():
    result = validate_text(blocks("yaml")[0], "README.md")
    assert result.ok and not result.diagnostics.warnings, result.diagnostics.render_text()


def test_tour_error_example():
    spec = blocks("yaml")[0].replace("dtype: float16, io: in}", "dtype: fp16, io: in}")
    shown = blocks("text")[0].strip().splitlines()
    assert shown[0] == "$ tlspec validate copy_tiles.tlspec.yaml"
    result = validate_text(spec, "copy_tiles.tlspec.yaml")
    assert result.diagnostics.render_text().splitlines() == shown[1:-1]
    assert shown[-1] == "1 file, 1 kernel: 1 error"
