"""The pre-commit hook definition runs `tlspec validate` on spec files, as pre-commit would."""
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import EXAMPLE_DIRS, ROOT

HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def hook():
    (only,) = [h for h in HOOKS if h["id"] == "tlspec-validate"]
    return only


def command():
    """The hook's entry, with `tlspec` resolved as pre-commit's environment would resolve it."""
    program, *args = shlex.split(hook()["entry"])
    installed = Path(sys.executable).parent / program
    if installed.exists():
        return [str(installed), *args]
    if shutil.which(program):
        return [shutil.which(program), *args]
    return [sys.executable, "-m", program, *args]


def test_hook_definition():
    h = hook()
    assert h["entry"] == "tlspec validate"
    assert h["language"] == "python"
    assert h["files"] == r"\.tlspec\.yaml$"


def test_hook_selects_spec_files_only():
    pattern = re.compile(hook()["files"])
    assert pattern.search("specs/copy_tiles.tlspec.yaml")
    assert not pattern.search("specs/copy_tiles.yaml")
    assert not pattern.search("schemas/tlspec.schema.json")


def test_hook_passes_on_the_example_specs():
    pattern = re.compile(hook()["files"])
    files = sorted(str(p.relative_to(ROOT)) for folder in EXAMPLE_DIRS for p in folder.iterdir()
                   if pattern.search(str(p)))
    assert files
    run = subprocess.run(command() + files, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_hook_fails_on_a_bad_spec(tmp_path):
    good = (ROOT / "specs" / "copy_tiles.tlspec.yaml").read_text()
    bad = tmp_path / "bad.tlspec.yaml"
    bad.write_text(good.replace("dtype: float16", "dtype: fp16", 1))
    run = subprocess.run(command() + [str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "unknown dtype 'fp16'" in run.stdout
