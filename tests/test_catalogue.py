"""The diagnostic catalogue: one realistic spec per defect, each with the diagnostic it must get.

Every file under tests/catalogue/invalid/ states its defect and the expected first line of the
diagnostic (without the path) in its header; see tests/catalogue/README.md. Cases marked
`# xfail:` document a known tool bug: their `expect` line is the intended output.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import tlspec_here
from tlspec.diagnostics import Severity
from tlspec.discover import MAX_FILE_BYTES
from tlspec.validate import validate_paths, validate_text

CATALOGUE = Path(__file__).resolve().parent / "catalogue"
INVALID = sorted((CATALOGUE / "invalid").glob("*.tlspec.yaml"))
VALID = sorted((CATALOGUE / "valid").glob("*.tlspec.yaml"))
MULTI = sorted((CATALOGUE / "multi").glob("*.tlspec.yaml"))
ROOT = CATALOGUE.parent.parent

# Problems of the file as a whole (before there is a document to point into): no JSON pointer.
FILE_LEVEL = re.compile(r"yaml_(syntax|tab|comment_only|unknown_tag)")


def stem(path: Path) -> str:
    return path.name.removesuffix(".tlspec.yaml")


def case_name(path: Path) -> str:
    """The stem without its number: '012_schema_unknown_top_level_key' -> 'schema_...'."""
    return stem(path).split("_", 1)[1]


def header(path: Path) -> dict[str, list[str]]:
    """The '# key: value' lines of the comment block at the top of a catalogue file."""
    fields: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        match = re.match(r"#\s*([\w-]+):\s?(.*)$", line)
        if match:
            fields.setdefault(match.group(1), []).append(match.group(2))
    return fields


def expected(path: Path, key: str = "expect") -> list[str]:
    """The header's expected diagnostics as full first lines: 'PATH:LINE:COL: ...'.
    '{path}' inside a message (one that names another place of the same file) is the path too."""
    return [f"{path}:{line.replace('{path}', str(path))}" for line in header(path).get(key, [])]


def xfail_reason(path: Path) -> str | None:
    reasons = header(path).get("xfail")
    return reasons[0] if reasons else None


def with_xfail(paths: list[Path], only_crashes: bool = False) -> list:
    params = []
    for path in paths:
        reason = xfail_reason(path)
        marks = []
        if reason and (not only_crashes or reason.startswith("BUG: crash")):
            marks.append(pytest.mark.xfail(reason=reason, strict=False))
        params.append(pytest.param(path, id=stem(path), marks=marks))
    return params


def first_line(diagnostic) -> str:
    return diagnostic.render().splitlines()[0]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tlspec", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    for stream in (result.stdout, result.stderr):
        assert "Traceback (most recent call last)" not in stream, stream[-2000:]


# -- the catalogue ------------------------------------------------------------------------------

def test_catalogue_size():
    assert len(INVALID) >= 60
    names = [case_name(p) for p in INVALID]
    assert len(names) == len(set(names)), "two catalogue files for the same case"
    numbers = [stem(p).split("_", 1)[0] for p in INVALID]
    assert len(numbers) == len(set(numbers)), "two catalogue files with the same number"


@pytest.mark.parametrize("path", [pytest.param(p, id=stem(p)) for p in INVALID])
def test_catalogue_header(path):
    fields = header(path)
    assert len(fields.get("defect", [])) == 1, "each file states its one defect"
    assert len(fields.get("expect", [])) == 1, "each file states its one expected diagnostic"
    assert re.match(r"\d+:\d+: error: \S", fields["expect"][0]), fields["expect"][0]


@pytest.mark.parametrize("path", with_xfail(INVALID))
def test_catalogue_case(path):
    fields = header(path)
    (expect,) = expected(path)
    warnings_allowed = int(fields.get("warnings", ["0"])[0])

    result = validate_paths([str(path)])
    errors = result.diagnostics.errors
    rendered = "\n".join(d.render() for d in result.diagnostics.sorted())

    assert len(errors) == 1, f"expected exactly one error, got {len(errors)}:\n{rendered}"
    assert len(result.diagnostics.warnings) <= warnings_allowed, rendered
    error = errors[0]
    assert first_line(error) == expect, rendered
    assert error.location.path == str(path)
    if not FILE_LEVEL.match(case_name(path)):
        assert error.pointer is not None, f"no 'at:' pointer:\n{rendered}"
        assert "\n  at: " in error.render()


@pytest.mark.parametrize("path", [pytest.param(p, id=stem(p)) for p in VALID])
def test_valid_specs(path):
    result = validate_paths([str(path)])
    assert result.ok, result.diagnostics.render_text()
    assert [first_line(d) for d in result.diagnostics.sorted()] == expected(path, "expect-warning")


def test_deprecated_c2d_im2col_is_a_warning_with_exit_0():
    path = CATALOGUE / "valid" / "c2d_im2col_deprecated.tlspec.yaml"
    result = validate_paths([str(path)])
    assert not result.diagnostics.errors
    (warning,) = result.diagnostics.warnings
    assert warning.severity is Severity.WARNING
    assert (warning.location.line, warning.location.column) == (20, 5)  # the key c2d_im2col
    assert warning.pointer == "/stages/0/c2d_im2col"
    assert "im2col" in (warning.hint or "")
    cli = run_cli("validate", str(path))
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert f"{path}:20:5: warning: 'c2d_im2col' is deprecated" in cli.stdout
    assert cli.stdout.strip().endswith("valid, 1 warning")


@pytest.mark.parametrize("path", [pytest.param(p, id=stem(p)) for p in MULTI])
def test_every_defect_of_a_file_is_reported_in_line_order(path):
    expect = expected(path)
    assert len(expect) >= 2
    result = validate_paths([str(path)])
    shown = result.diagnostics.sorted()
    assert [first_line(d) for d in shown] == expect
    assert len(result.diagnostics.errors) == len(expect)
    lines = [d.location.line for d in shown]
    assert lines == sorted(lines)
    cli = run_cli("validate", str(path))
    assert cli.returncode == 1
    assert [l for l in cli.stdout.splitlines() if ": error: " in l] == expect
    assert cli.stdout.strip().endswith(f"{len(expect)} errors")


# -- files generated here: too large, not UTF-8, empty ------------------------------------------

BASE = (CATALOGUE / "valid" / "x_extensions.tlspec.yaml").read_text(encoding="utf-8")


def test_oversized_file(tmp_path):
    path = tmp_path / "huge.tlspec.yaml"
    padding = "".join(f"  {i:06d} {'y' * 90}\n" for i in range(11_000))
    path.write_text(BASE + "x-padding: |\n" + padding, encoding="utf-8")
    size = path.stat().st_size
    assert size > MAX_FILE_BYTES
    start = time.process_time()
    result = validate_paths([str(path)])
    assert time.process_time() - start < 5
    (error,) = result.diagnostics.errors
    assert first_line(error) == (f"{path}:1:1: error: file is {size} bytes; spec files are "
                                 f"limited to {MAX_FILE_BYTES} bytes")
    assert error.pointer is None


def test_the_densest_file_under_the_limit_validates_in_bounded_time(tmp_path):
    """Stages in flow style are the most work per byte (the fuzzer's repeated lines: 580 KB of
    them took over 10 s under load when the limit was 1 MiB). The bound is on this process's CPU
    time, which other processes' load does not stretch (wall time reached 12 s beside a busy
    parallel suite)."""
    stage = '  - gather: {src: "table[:, c*256 : +256]", dst: G_s, index: "idx[bx*4 : +4]"}\n'
    path = tmp_path / "dense.tlspec.yaml"
    text = BASE + stage * ((MAX_FILE_BYTES - len(BASE)) // len(stage))
    path.write_text(text, encoding="utf-8")
    start = time.process_time()
    result = validate_paths([str(path)])
    elapsed = time.process_time() - start
    assert result.diagnostics.errors
    assert elapsed < 5.0, f"{elapsed:.1f} s"


def test_file_of_exactly_the_limit_is_read(tmp_path):
    path = tmp_path / "big.tlspec.yaml"
    text = BASE + "x-padding: |\n"
    text += "  " + "y" * (MAX_FILE_BYTES - len(text.encode()) - 3) + "\n"
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size == MAX_FILE_BYTES
    result = validate_paths([str(path)])
    assert result.ok, result.diagnostics.render_text()


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.tlspec.yaml"
    # 'doc: Copie de la matrice A (café) ...' saved as Latin-1: the é is the single byte 0xE9.
    text = BASE.replace("doc: Copy", "doc: Copie (caf\u00e9): copy")
    path.write_bytes(text.encode("latin-1"))
    line_no = next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("doc:"))
    column = text.splitlines()[line_no - 1].index("\u00e9") + 1
    result = validate_paths([str(path)])
    (error,) = result.diagnostics.errors
    assert first_line(error) == f"{path}:{line_no}:{column}: error: file is not valid UTF-8 text"
    assert error.pointer is None


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.tlspec.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode("utf-8"))
    result = validate_paths([str(path)])
    assert result.ok, result.diagnostics.render_text()


@pytest.mark.parametrize("text", ["", "\n\n   \n"], ids=["zero_bytes", "blank_lines"])
def test_empty_file(tmp_path, text):
    path = tmp_path / "empty.tlspec.yaml"
    path.write_text(text, encoding="utf-8")
    result = validate_paths([str(path)])
    (error,) = result.diagnostics.errors
    assert first_line(error) == f"{path}:1:1: error: empty file: expected at least one kernel document"
    assert error.pointer is None


def test_empty_file_hint_names_only_existing_commands(tmp_path):
    path = tmp_path / "empty.tlspec.yaml"
    path.write_text("", encoding="utf-8")
    (error,) = validate_paths([str(path)]).diagnostics.errors
    for command in re.findall(r"`tlspec (\w+)", error.hint or ""):
        assert run_cli(command, "--help").returncode == 0, f"'tlspec {command}' does not exist"


# -- hostile YAML: it must fail fast, never hang or overflow the stack --------------------------

def _alias_bomb(levels: int) -> str:
    lines = ["x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"x-l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return BASE + "\n".join(lines) + "\n"


def test_alias_bomb_fails_fast():
    path = next(p for p in INVALID if case_name(p) == "yaml_alias_bomb")
    start = time.process_time()
    result = validate_paths([str(path)])
    elapsed = time.process_time() - start
    assert elapsed < 2.0, f"the alias bomb took {elapsed:.1f} s"
    assert len(result.diagnostics.errors) == 1


def test_bigger_alias_bomb_fails_fast():
    start = time.process_time()
    result = validate_text(_alias_bomb(30), "bomb.tlspec.yaml")  # 10**30 values when expanded
    elapsed = time.process_time() - start
    assert elapsed < 2.0, f"the alias bomb took {elapsed:.1f} s"
    (error,) = result.diagnostics.errors
    assert "expands to more than" in error.message


@pytest.mark.parametrize("where", ["document", "value"])
def test_deeply_nested_flow_list_is_an_error_not_a_recursion_error(where):
    nested = "[" * 10_000 + "]" * 10_000
    text = nested + "\n" if where == "document" else BASE + f"x-deep: {nested}\n"
    result = validate_text(text, "deep.tlspec.yaml")
    assert len(result.diagnostics.errors) == 1


def test_nesting_just_past_the_depth_limit_is_an_error():
    result = validate_text(BASE + "x-deep: " + "[" * 100 + "]" * 100 + "\n", "deep.tlspec.yaml")
    (error,) = result.diagnostics.errors
    assert "nests deeper than" in error.message


def test_cli_deeply_nested_file_has_no_traceback(tmp_path):
    path = tmp_path / "deep.tlspec.yaml"
    path.write_text("[" * 10_000 + "]" * 10_000 + "\n", encoding="utf-8")
    result = run_cli("validate", str(path))
    assert_no_traceback(result)
    assert result.returncode == 1


# -- cases that need two defects to show (hence not in the one-defect catalogue) ------------

def test_loop_variable_shadowing_does_not_forget_the_block_index():
    text = (CATALOGUE / "invalid").joinpath(
        next(p.name for p in INVALID if case_name(p) == "names_loop_var_and_grid")).read_text()
    # on sm_90a, where mbarriers exist (the case targets sm_80)
    text = text.replace("target: sm_80", "target: sm_90a") + "  - alloc_barrier: {name: bx}\n"
    result = validate_text(text, "shadow.tlspec.yaml")
    messages = [d.message for d in result.diagnostics.sorted()]
    assert len(messages) == 2, messages
    assert messages[1].startswith("'bx' is already defined as a block index"), messages


def test_error_count_matches_the_errors_shown(tmp_path):
    """n missing required keys are n errors, each reported once (the raw list once held n*n),
    and the summary line counts what it shows."""
    path = tmp_path / "missing.tlspec.yaml"
    path.write_text(BASE.replace(
        "  B:   {scope: global, shape: [M, N], dtype: float16, io: out}",
        "  B:   {scope: global, io: out}"), encoding="utf-8")
    result = validate_paths([str(path)])
    assert len(result.diagnostics.errors) == len(result.diagnostics.sorted()) == 2
    cli = run_cli("validate", str(path))
    assert cli.stdout.strip().endswith(": 2 errors"), cli.stdout


# -- the command line ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", with_xfail(INVALID, only_crashes=True))
def test_cli_json_for_each_invalid_spec(path):
    """In this process (tlspec_here): a process per case took 45 s of the suite (the process
    around the command is tested by the other test_cli_* tests)."""
    result = tlspec_here("validate", "--format", "json", path)
    assert result.returncode == 1, result.stdout + result.stderr
    payload = json.loads(result.stdout)
    assert payload["errors"] >= 1
    assert payload["diagnostics"], payload
    for diagnostic in payload["diagnostics"]:
        for key in ("path", "line", "column", "message", "pointer", "hint"):
            assert key in diagnostic, (key, diagnostic)
        assert diagnostic["path"] == str(path)
        assert isinstance(diagnostic["line"], int) and diagnostic["line"] >= 1
        assert isinstance(diagnostic["column"], int) and diagnostic["column"] >= 1
        assert isinstance(diagnostic["message"], str) and diagnostic["message"]
        assert diagnostic["pointer"] is None or diagnostic["pointer"] == "" \
            or diagnostic["pointer"].startswith("/")
        assert diagnostic["hint"] is None or isinstance(diagnostic["hint"], str)
    if not xfail_reason(path):
        first = payload["diagnostics"][0]
        line = f"{first['path']}:{first['line']}:{first['column']}: {first['severity']}: "
        assert line + first["message"] == expected(path)[0]


def test_cli_text_for_an_invalid_spec():
    path = next(p for p in INVALID if case_name(p) == "io_missing_on_global")
    result = run_cli("validate", str(path))
    assert_no_traceback(result)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == expected(path)[0]
    assert lines[1] == "  at: /buffers/B"
    assert lines[2].startswith("  hint: ")
    assert lines[-1] == "1 file, 1 kernel: 1 error"


def test_cli_valid_specs_exit_0():
    for target in ("specs/", str(CATALOGUE / "valid")):
        result = run_cli("validate", target)
        assert_no_traceback(result)
        assert result.returncode == 0, result.stdout + result.stderr
        assert " error" not in result.stdout


@pytest.mark.parametrize("folder", ["specs/"])
def test_cli_valid_specs_json(folder):
    result = run_cli("validate", "--format", "json", folder)
    assert result.returncode == 0
    payload = json.loads(result.stdout)
    assert payload["errors"] == 0
    assert payload["kernels"] >= 1


@pytest.mark.parametrize("args", [
    pytest.param(["validate", "no/such/spec.tlspec.yaml"], id="missing_path"),
    pytest.param(["validate"], id="no_arguments"),
    pytest.param(["validate", "--format", "json", "no/such/dir"], id="missing_path_json"),
])
def test_cli_usage_errors_exit_2(args):
    result = run_cli(*args)
    assert_no_traceback(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip(), "a usage error says what is wrong"


def test_cli_folder_without_specs_exits_2(tmp_path):
    result = run_cli("validate", str(tmp_path))
    assert_no_traceback(result)
    assert result.returncode == 2


def test_a_spec_given_through_a_pipe_is_read(tmp_path):
    """A path that exists but is no regular file (a FIFO, /dev/stdin, bash's <(...)) is read
    as a spec file (it was 'does not exist'), its size bounded as it is read."""
    import os
    import threading
    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=(BASE,))
    writer.start()
    result = validate_paths([str(fifo)])
    writer.join()
    assert result.ok and len(result.kernels) == 1, result.diagnostics.render_text()
    big = tmp_path / "big.fifo"
    os.mkfifo(big)

    def write_too_much():
        try:
            big.write_bytes(b"#" * (MAX_FILE_BYTES + 10))
        except BrokenPipeError:           # the reader stopped at the limit and closed it
            pass

    writer = threading.Thread(target=write_too_much)
    writer.start()
    result = validate_paths([str(big)])
    writer.join()
    (error,) = result.diagnostics.errors
    assert first_line(error) == (f"{big}:1:1: error: file is more than {MAX_FILE_BYTES} bytes; "
                                 f"spec files are limited to {MAX_FILE_BYTES} bytes")
