"""`tlspec new`: every stage kind and form gets a starter that validates cleanly and compiles as
written; the command refuses what it should (an existing file, an unknown kind, a bad name)."""
import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from conftest import ROOT, tlspec, tlspec_here
from tlspec.compiler.support import COMPILED_KINDS
from tlspec.new import FORMS, STARTERS, kinds
from tlspec.schema import schema_path
from tlspec.stages import STAGE_KINDS
from tlspec.validate import validate_paths

KINDS = sorted(name for name, kind in STAGE_KINDS.items() if kind.alias_of is None)

# What each form's starter must show (the form is no stage key): a test on the parsed spec.
FORM_SHOWN = {
    "convert": lambda d: d["buffers"]["A"]["dtype"] != d["buffers"]["A_s"]["dtype"],
    "halo": lambda d: "- 1 :" in d["stages"][0]["copy"]["src"] and "fill" in d["stages"][0]["copy"],
    "strided": lambda d: any(s["copy"]["src"].endswith(": 2]") for s in d["stages"]),
    "pitched": lambda d: "strides" in d["buffers"]["A"],
    "paged_gather": lambda d: isinstance(d["stages"][0]["gather"]["index"], list)
                              and "each" in d["stages"][0]["gather"],
    "derived_dims": lambda d: any(isinstance(v, dict) and "expr" in v for v in d["dims"].values()),
    "im2col_rect": lambda d: isinstance(d["stages"][0]["im2col"]["kernel"], list),
    "im2col_nchw": lambda d: d["stages"][0]["im2col"]["layout"] == "nchw",
}

needs_tvm = pytest.mark.skipif(find_spec("tvm") is None, reason="tlspec compile needs apache-tvm")


def stage_keys(stages):
    for stage in stages:
        for kind, options in stage.items():
            yield kind
            if isinstance(options, dict) and "stages" in options:
                yield from stage_keys(options["stages"])


@pytest.fixture(scope="module")
def starters(tmp_path_factory):
    """`tlspec new KIND kern_KIND` for every kind and form: kind -> (path, the finished process)."""
    root = tmp_path_factory.mktemp("starters")
    written = {}
    here = os.getcwd()
    try:
        os.chdir(root)
        for kind in KINDS + list(FORMS):
            written[kind] = (root / f"kern_{kind}.tlspec.yaml", tlspec_here("new", kind,
                                                                           f"kern_{kind}"))
    finally:
        os.chdir(here)
    return root, written


def test_every_kind_has_a_starter():
    assert sorted(kinds()) == KINDS
    assert sorted(STARTERS) == KINDS
    starters = Path(__file__).resolve().parent.parent / "tlspec" / "starters"
    for starter in set(STARTERS.values()):
        assert (starters / f"{starter}.tlspec.yaml").is_file()


def test_every_form_has_a_starter_of_its_own():
    assert sorted(FORMS) == sorted(FORM_SHOWN)
    assert not set(FORMS) & set(STAGE_KINDS)
    starters = Path(__file__).resolve().parent.parent / "tlspec" / "starters"
    files = [starter for starter, _ in FORMS.values()]
    assert len(set(files)) == len(files) and not set(files) & set(STARTERS.values())
    for starter in files:
        assert (starters / f"{starter}.tlspec.yaml").is_file()


def test_every_kind_is_compiled():
    assert sorted(COMPILED_KINDS) == KINDS


@pytest.mark.parametrize("kind", KINDS + sorted(FORMS))
def test_starter_is_valid(kind, starters):
    _, written = starters
    path, result = written[kind]
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote kern_{kind}.tlspec.yaml\n" and result.stderr == ""
    assert path.is_file()

    validation = validate_paths([str(path)])
    assert not validation.diagnostics.errors, validation.diagnostics.render_text()
    assert not validation.diagnostics.warnings, validation.diagnostics.render_text()
    assert validation.documents == 1

    text = path.read_text()
    first = text.splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    uri = first[len(prefix):]
    assert uri == schema_path().as_uri()
    assert Path(unquote(urlparse(uri).path)).is_file()

    data = yaml.safe_load(text)
    assert data["name"] == f"kern_{kind}"
    if kind in FORMS:
        assert FORM_SHOWN[kind](data), kind
    else:
        assert kind in set(stage_keys(data["stages"]))
    assert "$" not in text.split("\n", 1)[1]   # no placeholder left over


@needs_tvm
def test_every_starter_compiles_as_written(starters, tmp_path):
    root, _ = starters
    out = tmp_path / "kernels"
    result = tlspec("compile", str(root), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stdout
    for kind in KINDS + list(FORMS):
        cubin = out / f"kern_{kind}.cubin"
        assert cubin.is_file(), kind
        assert cubin.read_bytes()[:4] == b"\x7fELF"


def test_new_never_imports_tvm(tmp_path):
    code = textwrap.dedent("""\
        import sys
        from tlspec.cli import app
        for kind in ("copy", "pipeline"):
            try:
                app(["new", kind, "kern_" + kind], prog_name="tlspec")
            except SystemExit as done:
                assert done.code == 0, done.code
        assert not any(m == "tvm" or m.startswith("tvm.") for m in sys.modules)
        """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, capture_output=True)


def test_default_output_and_no_overwrite(tmp_path):
    result = tlspec("new", "copy", "copy_tiles", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "copy_tiles.tlspec.yaml"
    assert path.is_file()
    assert "copy_tiles.tlspec.yaml" in result.stdout

    path.write_text("mine\n")
    result = tlspec("new", "gather", "copy_tiles", cwd=tmp_path)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_text() == "mine\n"

    result = tlspec("new", "gather", "copy_tiles", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "gather:" in path.read_text()
    assert validate_paths([str(path)]).ok


def test_unknown_kind(tmp_path):
    result = tlspec("new", "gahter", "kern_x", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown stage kind 'gahter'" in result.stderr
    assert "did you mean 'gather'?" in result.stderr
    for kind in KINDS + list(FORMS):
        assert kind in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_unknown_form_suggests_the_closest(tmp_path):
    result = tlspec("new", "paged_gahter", "kern_x", cwd=tmp_path)
    assert result.returncode == 2
    assert "did you mean 'paged_gather'?" in result.stderr


def test_deprecated_kind(tmp_path):
    result = tlspec("new", "c2d_im2col", "kern_x", cwd=tmp_path)
    assert result.returncode == 2
    assert "im2col" in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["1kernel", "my-kernel", "for", "ceildiv", "class", "", "a b"])
def test_bad_name(name, tmp_path):
    result = tlspec("new", "copy", name, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_missing_folder(tmp_path):
    result = tlspec("new", "copy", "kern_x", "-o", "nowhere/k.tlspec.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_help_has_examples_and_lists_every_kind_and_form(tmp_path):
    result = tlspec("new", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "Examples:" in result.stdout
    assert "tlspec " in result.stdout.split("Examples:")[1]
    kinds_section = result.stdout.split("Kinds:")[1].split("Forms:")[0].split()
    assert sorted(kinds_section) == KINDS
    forms_section = result.stdout.split("Forms:")[1].split("Examples:")[0].split()
    assert forms_section == list(FORMS)


@pytest.mark.parametrize("output, message", [
    ("/proc/k.tlspec.yaml", "cannot write /proc/k.tlspec.yaml: it is on a virtual file system "
                            "that takes no new files; give -o a file in a folder you can write to"),
    ("a_file/k.tlspec.yaml", "a_file is not a folder; give a file name in a folder with -o"),
    ("a_link", "cannot write a_link: it is a symbolic link to no_folder/k.tlspec.yaml, whose "
               "folder does not exist; give -o a file in a folder you can write to"),
    ("loop_a/sub/k.tlspec.yaml", "folder loop_a/sub does not exist: loop_a is a symbolic link "
                                 "loop"),
    ("dir_link/k.tlspec.yaml", "folder dir_link does not exist: dir_link is a symbolic link to "
                               "'gone', which does not exist"),
])
def test_an_output_that_cannot_be_written_is_a_usage_error(tmp_path, output, message):
    """-o under /proc was a traceback (FileNotFoundError from write_text), and a file as the
    folder was 'folder a_file does not exist'. A link into a missing folder is not /proc, and a
    folder that is a link loop or a dangling link is named as one."""
    (tmp_path / "a_file").write_text("mine")
    (tmp_path / "a_link").symlink_to("no_folder/k.tlspec.yaml")
    (tmp_path / "loop_a").symlink_to("loop_b")
    (tmp_path / "loop_b").symlink_to("loop_a")
    (tmp_path / "dir_link").symlink_to("gone")
    result = tlspec("new", "copy", "kern_x", "-o", output, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr == f"tlspec: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "a_link", "dir_link",
                                                          "loop_a", "loop_b"]
