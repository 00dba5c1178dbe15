"""docs/cli.md: every shell session in it prints what it shows (run as a reader would run it, see
tests/doc_examples.py), `tlspec passes` as shown is the live pipeline, and every command and every
option of `tlspec compile` and `tlspec passes` is documented with its default."""
import re
import subprocess
import sys

import pytest
import typer

from tlspec.cli import app

from conftest import ROOT
from doc_examples import DocumentRunner, session_blocks

DOC_PATH = ROOT / "docs" / "cli.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
COMMAND = typer.main.get_command(app)


@pytest.fixture(scope="module")
def run_doc(tmp_path_factory):
    return DocumentRunner(tmp_path_factory)


@pytest.mark.parametrize("block", session_blocks(DOC_PATH), ids=lambda b: b.where)
def test_session_prints_what_the_doc_shows(run_doc, block):
    (session,) = [s for s in run_doc(DOC_PATH).sessions if s.block == block]
    if session.skipped:
        pytest.skip(session.skipped)
    problems = session.problems()
    assert not problems, "\n".join(problems)


def test_passes_as_shown_is_the_live_pipeline():
    """Also run by the session test; this one says what to do when a pass changes."""
    live = subprocess.run([sys.executable, "-m", "tlspec", "passes"], capture_output=True,
                          text=True, check=True).stdout
    (shown,) = [b for b in session_blocks(DOC_PATH) if b.text.startswith("$ tlspec passes\n")]
    assert shown.text == "$ tlspec passes\n" + live, (
        "the pipeline changed: replace the `tlspec passes` output in docs/cli.md with the live "
        "output, and update the pass table and sections of docs/compiler.md")


def section(command: str) -> str:
    """The text of the `## `tlspec COMMAND ...`` section."""
    match = re.search(rf"^## `tlspec {command}\b.*?(?=^## |\Z)", DOC, re.DOTALL | re.MULTILINE)
    assert match, f"docs/cli.md has no section for tlspec {command}"
    return match.group(0)


@pytest.mark.parametrize("command", sorted(COMMAND.commands))
def test_every_command_has_a_section(command):
    section(command)


@pytest.mark.parametrize("command", ["compile", "passes"])
def test_every_option_is_documented_with_its_default(command):
    text = section(command)
    params = COMMAND.commands[command].params
    for param in params:
        if param.name == "help":
            continue
        if param.param_type_name == "argument":
            assert f"`{param.metavar or param.name.upper()}" in text, param.name
            continue
        for opt in param.opts:
            assert f"`{opt}" in text, f"tlspec {command}: option {opt} is not documented"
        default = param.default
        if default is not None and not isinstance(default, bool):
            value = getattr(default, "value", default)
            assert f"default `{value}`" in text or f"`{param.opts[-1]} {value}` | (default)" in text, \
                f"tlspec {command}: the default of {param.opts[-1]} ({value}) is not documented"


def test_compile_synopsis_names_every_option():
    heading = section("compile").splitlines()[0]
    for param in COMMAND.commands["compile"].params:
        if param.param_type_name == "option" and param.name != "help":
            assert any(opt in heading for opt in param.opts), param.opts
