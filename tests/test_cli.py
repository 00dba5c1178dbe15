"""The command line: version, help with examples, exit codes, paths it cannot use."""

import os

import pytest

from tlspec import __version__
from tlspec.validate import UsageError, validate_paths

from conftest import ROOT, tlspec


def test_version():
    result = tlspec("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"tlspec {__version__}"


@pytest.mark.parametrize("command", [[], ["validate"], ["schema"]])
def test_help_has_examples(command):
    result = tlspec(*command, "--help")
    assert result.returncode == 0
    assert "Examples:" in result.stdout
    assert "tlspec " in result.stdout.split("Examples:")[1]


@pytest.mark.parametrize("folder", ["specs/"])
def test_validate_example_specs(folder):
    result = tlspec("validate", folder)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith(": valid")


def test_unknown_option_is_a_usage_error():
    result = tlspec("validate", "--frobnicate", "specs/")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


# -- paths the command line cannot use: a clear usage or located error, never a traceback -------

SPEC = ROOT / "specs" / "copy_tiles.tlspec.yaml"


def usage_error(result, message):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal compiler error" not in result.stdout
    assert result.stderr.startswith("tlspec: error: ") and message in result.stderr, result.stderr


@pytest.mark.parametrize("out, message", [
    ("/proc/kernels", "/proc/kernels cannot be written: /proc is on a virtual file system that "
                      "takes no new folders (mkdir: No such file or directory); choose a folder "
                      "you can write to"),
    ("{tmp}/loop/kernels", "cannot be used: it is, or is under, a symbolic link loop"),
    ("{tmp}/loop", "cannot be used: it is, or is under, a symbolic link loop"),
    ("{tmp}/" + "k" * 300 + "/kernels", "File name too long"),
])
def test_an_output_that_cannot_be_written_is_a_usage_error_before_compiling(tmp_path, out,
                                                                            message):
    """-o under /proc compiled every kernel, then failed in mkdtemp with a traceback (the
    permission bits said writable: tests run as root); a symbolic link loop was a traceback."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    before = sorted(p.name for p in tmp_path.iterdir())
    usage_error(tlspec("compile", str(SPEC), "-o", out.format(tmp=tmp_path)), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("dump, message", [
    ("/proc/ir", "--dump-ir /proc/ir: /proc/ir cannot be written: /proc is on a virtual file "
                 "system that takes no new folders"),
    ("{tmp}/a_file/ir", "cannot be created: {tmp}/a_file is not a directory"),
])
def test_an_unwritable_dump_ir_folder_is_a_usage_error(tmp_path, dump, message):
    """It was reported as an internal compiler error, after the first kernel was lowered."""
    (tmp_path / "a_file").write_text("mine")
    result = tlspec("compile", str(SPEC), "-o", str(tmp_path / "kernels"), "--dump-ir",
                    dump.format(tmp=tmp_path))
    usage_error(result, message.format(tmp=tmp_path))
    assert not (tmp_path / "kernels").exists()


def test_a_dump_ir_file_that_cannot_be_written_mid_compile_is_a_usage_error(tmp_path):
    (tmp_path / "ir").mkdir()
    (tmp_path / "ir" / "copy_tiles").write_text("a file where the kernel's folder goes")
    out = tmp_path / "kernels"
    result = tlspec("compile", str(SPEC), "-o", str(out), "--dump-ir", str(tmp_path / "ir"))
    usage_error(result, f"--dump-ir {tmp_path / 'ir'}: cannot write {tmp_path / 'ir'}/copy_tiles/")
    assert not out.exists()


def test_locations_in_a_file_with_cr_line_endings(tmp_path):
    """Old Mac files end lines with CR alone: YAML counts them as lines, and so does every
    location tlspec computes itself (a byte that is not UTF-8 was reported at line 1)."""
    text = SPEC.read_text(encoding="utf-8")
    line = text.splitlines().index("  threads: 256") + 1
    path = tmp_path / "mac.tlspec.yaml"
    path.write_bytes(text.replace("threads: 256", "threads: 2\xe956").replace("\n", "\r")
                     .encode("latin-1"))
    result = tlspec("validate", str(path))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}:{line}:13: error: file is not valid UTF-8 text")
    path.write_text(text.replace("  threads: 256", "\tthreads: 256").replace("\n", "\r"))
    result = tlspec("validate", str(path))
    assert result.stdout.startswith(f"{path}:{line}:1: error: tab character in indentation")


def unreadable(monkeypatch, name):
    """os.scandir fails on folders called `name`, as it does on folders without read
    permission (which root, who runs these tests here, does not lack)."""
    real = os.scandir

    def scandir(path="."):
        if os.path.basename(os.fspath(path)) == name:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_subfolder_is_an_error_not_skipped(tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    (tmp_path / "a.tlspec.yaml").write_text(SPEC.read_text())
    (tmp_path / "locked" / "b.tlspec.yaml").write_text(SPEC.read_text())
    unreadable(monkeypatch, "locked")
    result = validate_paths([str(tmp_path)])
    (error,) = result.diagnostics.errors
    assert str(error.location) == f"{tmp_path / 'locked'}:1:1"
    assert error.message == ("cannot read this folder: Permission denied; its specs are not "
                             "checked")
    assert result.files == [str(tmp_path / "a.tlspec.yaml")]


def test_an_unreadable_folder_is_a_usage_error_not_an_empty_one(tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    unreadable(monkeypatch, "locked")
    with pytest.raises(UsageError, match="cannot read the folder '.*locked': Permission denied"):
        validate_paths([str(tmp_path / "locked")])


@pytest.mark.parametrize("target, message", [
    ("nowhere", "is a symbolic link to 'nowhere', which does not exist"),
    ("link", "is a symbolic link loop"),
])
def test_a_link_that_leads_nowhere_is_named_as_such(tmp_path, target, message):
    """A dangling link or a link loop named on the command line was 'does not exist'."""
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(UsageError) as raised:
        validate_paths([str(tmp_path / "link")])
    assert str(raised.value) == f"'{tmp_path / 'link'}' {message}"


@pytest.mark.parametrize("target, message", [
    ("nowhere", "is a symbolic link to 'nowhere', which does not exist"),
    ("b.tlspec.yaml", "is a symbolic link loop"),
])
def test_a_spec_link_that_leads_nowhere_in_a_folder_is_an_error_not_skipped(tmp_path, target,
                                                                            message):
    """It was skipped without a word (a folder of such links only: 'no *.tlspec.yaml files')."""
    (tmp_path / "a.tlspec.yaml").write_text(SPEC.read_text())
    (tmp_path / "b.tlspec.yaml").symlink_to(target)
    result = validate_paths([str(tmp_path)])
    (error,) = result.diagnostics.errors
    assert str(error.location) == f"{tmp_path / 'b.tlspec.yaml'}:1:1"
    assert error.message == f"this spec file {message}; it is not checked"
    assert error.hint == "point the link at a spec file, or remove it"
    assert result.files == [str(tmp_path / "a.tlspec.yaml")]
    (tmp_path / "a.tlspec.yaml").unlink()
    assert validate_paths([str(tmp_path)]).diagnostics.errors == [error]


def test_a_spec_file_that_cannot_be_read_gets_a_hint(tmp_path, monkeypatch):
    spec = tmp_path / "a.tlspec.yaml"
    spec.write_text(SPEC.read_text())
    real = open

    def refuse(path, *args, **kwargs):
        if os.fspath(path) == str(spec):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refuse)
    (error,) = validate_paths([str(spec)]).diagnostics.errors
    assert error.message == "cannot read file: Permission denied"
    assert error.hint == f"give yourself read permission (chmod u+r {spec}), or leave it out"


def test_a_device_that_cannot_be_read_gets_a_hint():
    """/proc/self/mem opens, then fails to read: 'Input/output error', which had no hint."""
    (error,) = validate_paths(["/proc/self/mem"]).diagnostics.errors
    assert error.message == "cannot read file: Input/output error"
    assert error.hint == "copy the spec into a regular file, or leave it out"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders without read permission")
def test_cli_unreadable_folders(tmp_path):
    (tmp_path / "locked").mkdir()
    (tmp_path / "a.tlspec.yaml").write_text(SPEC.read_text())
    (tmp_path / "locked").chmod(0)
    try:
        result = tlspec("validate", str(tmp_path))
        assert result.returncode == 1 and "cannot read this folder" in result.stdout
        usage_error(tlspec("validate", str(tmp_path / "locked")), "cannot read the folder")
    finally:
        (tmp_path / "locked").chmod(0o755)
