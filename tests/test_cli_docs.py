"""docs/cli.md: its example runs as shown, in text and in JSON."""
import json
import re
import subprocess
import sys

from conftest import ROOT

DOC = (ROOT / "docs" / "cli.md").read_text()


def fenced(info):
    return re.findall(rf"```{re.escape(info)}\n(.*?)```", DOC, re.S)


def run(tmp_path, *args):
    (tmp_path / "copy_rows.tlspec.yaml").write_text(fenced("yaml title=copy_rows.tlspec.yaml")[0])
    return subprocess.run([sys.executable, "-m", "tlspec", *args], capture_output=True, text=True,
                          cwd=tmp_path)


def test_text_example(tmp_path):
    shown = next(b for b in fenced("text") if b.startswith("$ tlspec validate"))
    command, *expected = shown.strip().splitlines()
    result = run(tmp_path, *command.split()[2:])
    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == expected


def test_json_example(tmp_path):
    result = run(tmp_path, "validate", "--format", "json", "copy_rows.tlspec.yaml")
    assert result.returncode == 1
    assert json.loads(result.stdout) == json.loads(fenced("json")[0])
