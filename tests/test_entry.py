"""tlspec/entry.py: a plain `tlspec compile` command line runs without typer, with the output and
exit code that the typer command gives; anything else goes to typer."""
import subprocess
import sys

import pytest
import typer

from conftest import ROOT, tlspec
from tlspec.cli import app
from tlspec.entry import _COMPILE_OPTIONS, parse_compile

INVALID = ROOT / "tests" / "catalogue" / "invalid" / "001_yaml_syntax_colon_in_doc.tlspec.yaml"


def test_the_fast_parser_knows_exactly_the_compile_commands_options():
    command = typer.main.get_command(app).commands["compile"]
    typer_options = {flag: (p.name, not p.is_flag) for p in command.params
                     if p.param_type_name == "option" for flag in p.opts
                     if flag not in ("-h", "--help")}
    assert typer_options == _COMPILE_OPTIONS


def test_a_plain_compile_command_line_is_parsed():
    assert parse_compile(["compile", "a.yaml", "specs/", "-o", "out", "--format=json", "-j",
                          "2", "--ptx", "--no-cache", "--keep-going", "--arch", "sm_80",
                          "--nvcc", "nvcc", "--dump-ir", "ir"]) == {
        "paths": ["a.yaml", "specs/"], "out": "out", "output_format": "json", "jobs": 2,
        "ptx": True, "no_cache": True, "keep_going": True, "arch": "sm_80", "nvcc": "nvcc",
        "dump_ir": "ir"}


@pytest.mark.parametrize("argv", [
    [], ["validate", "specs/"], ["--version"], ["compile"], ["compile", "--help"],
    ["compile", "a.yaml", "-h"], ["compile", "a.yaml"], ["compile", "-o", "out"],
    ["compile", "a.yaml", "-o", "out", "-o", "other"], ["compile", "a.yaml", "-oout"],
    ["compile", "a.yaml", "-o=out"], ["compile", "a.yaml", "-o", "out", "-j", "0"],
    ["compile", "a.yaml", "-o", "out", "--jobs", "two"], ["compile", "a.yaml", "-o"],
    ["compile", "a.yaml", "-o", "out", "--format", "xml"], ["compile", "a.yaml", "-o", "-x"],
    ["compile", "a.yaml", "-o", "out", "--ptx=yes"], ["compile", "a.yaml", "-o", "out", "--"],
    ["compile", "a.yaml", "-o", "out", "--unknown"], ["compile", "-", "-o", "out"],
])
def test_anything_else_goes_to_typer(argv):
    assert parse_compile(argv) is None


@pytest.mark.parametrize("args", [
    [str(INVALID), "-o", "{tmp}/pkg"],                         # errors in the spec: exit 1
    [str(INVALID), "-o", "{tmp}/pkg", "--format", "json"],
    [str(INVALID), "-o", "{tmp}/pkg", "--arch", "sm_70"],      # usage error: exit 2
    ["no_such_file.tlspec.yaml", "-o", "{tmp}/pkg"],
    [str(INVALID), "-o", "{tmp}/not-an-identifier"],
])
def test_the_fast_path_prints_what_typer_prints(tmp_path, args):
    args = [a.format(tmp=tmp_path) for a in args]
    assert parse_compile(["compile", *args]) is not None
    fast = tlspec("compile", *args)
    code = ("from tlspec.cli import app\n"
            f"app(args=['compile', *{args!r}], prog_name='tlspec')\n")
    typed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=ROOT, check=False)
    assert (fast.returncode, fast.stdout, fast.stderr) == \
        (typed.returncode, typed.stdout, typed.stderr)
    assert fast.returncode in (1, 2)


def test_compile_help_still_comes_from_typer():
    done = tlspec("compile", "--help")
    assert done.returncode == 0 and "--keep-going" in done.stdout and "Usage:" in done.stdout
