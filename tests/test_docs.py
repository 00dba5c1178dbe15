"""The documentation's examples are true, and the example specs cover the language.

Every ```yaml block in docs/spec.md and README.md is a complete kernel that validates with no
errors and no warnings. A ```yaml invalid block must fail, and the ```text block right after it
shows exactly the diagnostics it gets (path docs/spec.md, lines counted from the block's first
line). Every stage kind has a worked example in docs/spec.md, and the example kernels (specs/,
which this release compiles) validate cleanly and together use every stage kind.

docs/compiler.md, docs/artifacts.md and docs/interpreter.md are run as a reader would run them
(tests/doc_examples.py says how): every shell session prints what the document shows, and every
generated file it shows is the one the sessions wrote. docs/compiler.md describes the pipeline
that `tlspec.compiler.pipeline.PASSES` is, in its order. Every example block of the documents
that tlspec compile and the interpreter brought (cli.md, compiler.md, artifacts.md,
interpreter.md) is run by some test, and every link between the documents leads somewhere.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tlspec.stages import STAGE_KINDS
from tlspec.compiler.support import check_supported
from tlspec.diagnostics import Diagnostics
from tlspec.validate import validate_paths, validate_text

from conftest import EXAMPLE_DIRS, ROOT, SPECS, example_specs, modeline_for
from doc_examples import (Block, DocumentRunner, fenced_blocks, generated_blocks,
                          session_blocks)

SPEC_DOC = ROOT / "docs" / "spec.md"
DOCS = [SPEC_DOC, ROOT / "README.md"]
KINDS = sorted(name for name, kind in STAGE_KINDS.items() if kind.alias_of is None)


def is_yaml(block: Block) -> bool:
    return bool(block.info) and block.info[0] == "yaml"


def is_invalid(block: Block) -> bool:
    return is_yaml(block) and "invalid" in block.info[1:]


ALL_BLOCKS = [block for doc in DOCS for block in fenced_blocks(doc)]
VALID = [b for b in ALL_BLOCKS if is_yaml(b) and not is_invalid(b)]
INVALID = [b for b in ALL_BLOCKS if is_invalid(b)]


def stage_kinds_used(stages) -> set[str]:
    """Stage kinds in a list of stages as parsed from YAML, loop bodies included."""
    used = set()
    for stage in stages or []:
        if not isinstance(stage, dict):
            continue
        for kind, options in stage.items():
            used.add(kind)
            if isinstance(options, dict):
                used |= stage_kinds_used(options.get("stages"))
    return used


# -- docs --------------------------------------------------------------------------------------

def test_spec_reference_has_examples():
    assert SPEC_DOC.is_file()
    assert any(b.path == "docs/spec.md" for b in VALID)
    assert any(b.path == "docs/spec.md" for b in INVALID)


@pytest.mark.parametrize("block", VALID, ids=lambda b: b.where)
def test_yaml_block_is_a_valid_kernel(block):
    result = validate_text(block.text, block.path)
    assert result.ok, f"{block.where}:\n{result.diagnostics.render_text()}"
    assert not result.diagnostics.warnings, f"{block.where}:\n{result.diagnostics.render_text()}"
    assert result.kernels, f"{block.where}: no kernel in the block"


@pytest.mark.parametrize("block", INVALID, ids=lambda b: b.where)
def test_invalid_yaml_block_shows_its_diagnostics(block):
    blocks = fenced_blocks(ROOT / block.path)
    following = blocks[blocks.index(block) + 1] if blocks.index(block) + 1 < len(blocks) else None
    assert following is not None and following.info[:1] == ["text"], (
        f"{block.where}: a ```yaml invalid block must be followed by a ```text block with its "
        "diagnostics")
    result = validate_text(block.text, block.path)
    assert not result.ok, f"{block.where}: the block is marked invalid but validates"
    assert result.diagnostics.render_text() == following.text.rstrip("\n")


@pytest.mark.parametrize("kind", KINDS)
def test_every_stage_kind_has_a_worked_example(kind):
    documented = [b for b in VALID if b.path == "docs/spec.md"
                  and any(kind in stage_kinds_used((doc or {}).get("stages"))
                          for doc in yaml.safe_load_all(b.text) if isinstance(doc, dict))]
    assert documented, f"docs/spec.md has no ```yaml example using '{kind}'"
    assert f"### {kind}\n" in SPEC_DOC.read_text(encoding="utf-8"), f"no section for '{kind}'"


def test_deprecated_alias_warning_is_as_documented():
    """The c2d_im2col warning shown in docs/spec.md is what the im2col example gets renamed."""
    blocks = fenced_blocks(SPEC_DOC)
    example = next(b for b in VALID if b.path == "docs/spec.md" and "name: im2col_3x3" in b.text)
    shown = next(b for b in blocks if b.info[:1] == ["text"] and "'c2d_im2col' is deprecated" in b.text)
    result = validate_text(example.text.replace("- im2col:", "- c2d_im2col:"), "docs/spec.md")
    assert result.ok
    assert result.diagnostics.render_text() == shown.text.rstrip("\n")


# -- specs/ ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def specs():
    """specs/ validated."""
    return validate_paths([str(folder) for folder in EXAMPLE_DIRS])


def test_specs_validate_cleanly(specs):
    assert specs.ok, specs.diagnostics.render_text()
    assert not specs.diagnostics.warnings, specs.diagnostics.render_text()
    assert len(specs.diagnostics) == 0, specs.diagnostics.render_text()


@pytest.mark.parametrize("folder", EXAMPLE_DIRS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_example_folder_validates_cleanly(folder):
    result = validate_paths([str(folder)])
    assert result.ok and len(result.diagnostics) == 0, result.diagnostics.render_text()
    assert result.kernels


def test_specs_have_modelines(specs):
    for path in example_specs():
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == modeline_for(path), path.relative_to(ROOT)


def test_specs_use_every_stage_kind(specs):
    used = {stage.written_kind for kernel in specs.kernels for stage in kernel.walk()}
    assert sorted(set(KINDS) - used) == []
    assert not {k for k in used if STAGE_KINDS[k].alias_of}, "examples use a deprecated stage kind"


def stage_features(kernel) -> set[str]:
    """What of the language a kernel uses beyond this release's compile (specs/ holds only
    kernels without any: the README's quick start compiles it), as `tlspec compile` reports
    it."""
    diags = Diagnostics()
    check_supported(kernel, diags)
    return {d.message for d in diags.errors}


def test_specs_hold_only_kernels_this_release_compiles():
    result = validate_paths([str(SPECS)])
    assert result.kernels
    later = {k.name: sorted(stage_features(k)) for k in result.kernels if stage_features(k)}
    assert later == {}, "specs/ holds kernels this release compiles"


def test_specs_include_a_multi_kernel_file(specs):
    per_file: dict[str, int] = {}
    for kernel in specs.kernels:
        per_file[kernel.path] = per_file.get(kernel.path, 0) + 1
    assert max(per_file.values()) >= 2


# -- docs/compiler.md and docs/artifacts.md: their examples run ---------------------------------

COMPILER_DOC = ROOT / "docs" / "compiler.md"
ARTIFACTS_DOC = ROOT / "docs" / "artifacts.md"
CLI_DOC = ROOT / "docs" / "cli.md"
INTERPRETER_DOC = ROOT / "docs" / "interpreter.md"
PYTHON_DOC = ROOT / "docs" / "python.md"
TORCH_DOC = ROOT / "docs" / "torch.md"
TUNE_DOC = ROOT / "docs" / "tune.md"
# docs/cli.md: tests/test_cli_docs.py
RUN_DOCS = [COMPILER_DOC, ARTIFACTS_DOC, INTERPRETER_DOC, PYTHON_DOC, TORCH_DOC, TUNE_DOC]


@pytest.fixture(scope="module")
def run_doc(tmp_path_factory):
    """Each document's sessions, run once for the module (see tests/doc_examples.py)."""
    return DocumentRunner(tmp_path_factory)


@pytest.mark.parametrize("block", [b for doc in RUN_DOCS for b in session_blocks(doc)],
                         ids=lambda b: b.where)
def test_session_prints_what_the_doc_shows(run_doc, block):
    (session,) = [s for s in run_doc(ROOT / block.path).sessions if s.block == block]
    if session.skipped:
        pytest.skip(session.skipped)
    problems = session.problems()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("block", [b for doc in RUN_DOCS for b in generated_blocks(doc)],
                         ids=lambda b: b.where)
def test_generated_file_is_what_the_doc_shows(run_doc, block):
    problem = run_doc(ROOT / block.path).sandbox.generated_problem(block)
    assert problem is None, problem


def pipeline_table() -> list[tuple[int, str, str]]:
    """(NN, pass, from) of the table of docs/compiler.md's pipeline section."""
    text = COMPILER_DOC.read_text(encoding="utf-8").split("## 3. The pipeline", 1)[1]
    return [(int(m.group(1)), m.group(2), m.group(3).strip())
            for m in re.finditer(r"^\| (\d+) \| (\w+) \| (.+?) \|$", text, re.MULTILINE)]


def test_compiler_doc_lists_the_pipeline_in_order():
    from tlspec.compiler.pipeline import PASSES

    table = pipeline_table()
    assert [(nn, name) for nn, name, _ in table] == \
        [(i, p.name) for i, p in enumerate(PASSES, start=1)], \
        "docs/compiler.md's pipeline table is not `tlspec passes`: update it"
    for (_, name, origin), info in zip(table, PASSES):
        if info.owner == "tlspec":
            module = origin.strip("`")
            assert (ROOT / module).is_file(), (name, origin)
            assert f"def {name}" in (ROOT / module).read_text() or \
                f"class {name}" in (ROOT / module).read_text(), (name, origin)
        else:
            assert origin.startswith("tvm: "), (name, origin)


def test_compiler_doc_explains_every_tlspec_pass_in_order():
    from tlspec.compiler.pipeline import PASSES

    headings = re.findall(r"^### (\w+)$", COMPILER_DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert headings == [p.name for p in PASSES if p.owner == "tlspec"]


def test_compiler_doc_shows_every_no_slow_path_error(run_doc):
    """The section shows, run for real, the errors of the four checks that keep a kernel from
    silently becoming slower than its spec asks."""
    shown = "\n".join(line for s in run_doc(COMPILER_DOC).sessions for step in s.steps
                      for line in step.actual)
    for message in ("this copy cannot use TMA", "cannot move 8 elements per access",
                    "the loop of this stage did not vectorize to 8 elements per access",
                    "tirx would lower this copy to its scalar single-thread fallback"):
        assert f"error: {message}" in shown, message


# -- every example is run ------------------------------------------------------------------------

def is_checked_elsewhere(block: Block) -> bool:
    """Blocks of docs/artifacts.md that tests/test_package.py runs (the hand-written manifest and
    the ```python examples without a GPU) and tests/gpu/test_runtime_gpu.py runs (with torch),
    and the ```python blocks of docs/torch.md (tests/gpu/test_torch_integration_gpu.py)."""
    return ((block.path == "docs/artifacts.md" and block.info in (["json", "manifest"], ["python"]))
            or (block.path == "docs/torch.md" and block.info == ["python"]))


@pytest.mark.parametrize("doc", [CLI_DOC, COMPILER_DOC, ARTIFACTS_DOC, INTERPRETER_DOC, PYTHON_DOC,
                                 TORCH_DOC],
                         ids=lambda p: p.name)
def test_every_example_block_is_run(doc):
    """Each block is a session, a file sessions use, a generated file, or run by another test;
    the rest are ```text blocks that show a form (a synopsis, a diagnostic's layout), not a run."""
    blocks = fenced_blocks(doc)
    commands = "\n".join(b.text for b in blocks if b.is_session or (b.title and b.info[0] == "python"))
    for block in blocks:
        if block.title:
            assert block.title in commands, f"{block.where}: no example uses {block.title}"
        elif not (block.is_session or block.generated or is_checked_elsewhere(block)):
            assert block.info[:1] == ["text"], (
                f"{block.where}: a ```{' '.join(block.info)} block that no test runs")


# -- links -----------------------------------------------------------------------------------------

LINKED_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found, seen = set(), {}
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            base = slug(line.lstrip("#"))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("doc", LINKED_DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_lead_somewhere(doc):
    for target in links(doc):
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        assert path.exists(), f"{doc.relative_to(ROOT)}: link to {target}: no such file"
        if anchor:
            assert path.suffix == ".md" and anchor in anchors(path), \
                f"{doc.relative_to(ROOT)}: link to {target}: no such heading"
