"""The README's Quick start is what CI runs, its examples do what the README says, it links
every page of docs/ and lists every command (links resolve: tests/test_docs.py)."""
import re

from tlspec.validate import validate_text

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


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


def test_documentation_links_every_doc():
    """The Documentation list links every page of docs/ (docs/dev/ holds developer notes)."""
    listed = README.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    linked = set(re.findall(r"\]\((docs/[^)#\s]+)", listed))
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, f"not linked from README.md's Documentation: {sorted(pages - linked)}"


def test_commands_table_lists_every_command():
    import typer

    from tlspec.cli import app

    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for command in typer.main.get_command(app).commands:
        assert f"| `tlspec {command}" in table, f"README.md's Commands table lacks tlspec {command}"


def test_python_example_loads_the_kernel_it_launches():
    """Run as far as a machine without a GPU can: the load, and the wrapper the launch calls."""
    (code,) = blocks("python")
    load = [line for line in code.splitlines() if "(A)" not in line]
    namespace = {}
    exec("\n".join(load).replace('"specs/', f'"{ROOT}/specs/'), namespace)
    assert "B = kernels.copy_tiles(A)" in code and callable(namespace["kernels"].copy_tiles)
