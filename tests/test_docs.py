"""The documentation's examples are true, and the example specs cover the language.

Every ```yaml block in docs/spec.md and README.md is a complete kernel that validates with no
errors and no warnings. A ```yaml invalid block must fail, and the ```text block right after it
shows exactly the diagnostics it gets (path docs/spec.md, lines counted from the block's first
line). Every stage kind has a worked example in docs/spec.md, and the example kernels (specs/,
those this release compiles, and docs/examples/, those of features compiled later) validate
cleanly and together use every stage kind.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tlspec.stages import STAGE_KINDS
from tlspec.compiler.support import check_supported
from tlspec.diagnostics import Diagnostics
from tlspec.validate import validate_paths, validate_text

from conftest import EXAMPLE_DIRS, EXAMPLES, ROOT, SPECS, example_specs, modeline_for

SPEC_DOC = ROOT / "docs" / "spec.md"
DOCS = [SPEC_DOC, ROOT / "README.md"]
KINDS = sorted(name for name, kind in STAGE_KINDS.items() if kind.alias_of is None)
FENCE = re.compile(r"^( *)(`{3,})(.*)$")


@dataclass
class Block:
    path: str          # as shown in diagnostics: relative to the repository root
    line: int          # line of the opening fence in the markdown file
    info: list[str]    # the words after the opening fence: ['yaml'], ['yaml', 'invalid'], ...
    text: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a markdown file, in order, with its indentation removed."""
    if not path.is_file():
        return []
    shown = path.relative_to(ROOT).as_posix()
    blocks = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, ticks, info = len(opening.group(1)), opening.group(2), opening.group(3).split()
        body = []
        i += 1
        while i < len(lines):
            closing = FENCE.match(lines[i])
            if closing and closing.group(2).startswith(ticks) and not closing.group(3).strip():
                break
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        else:
            raise AssertionError(f"{shown}: a code block is never closed")
        start = i - len(body)  # 1-based line of the opening fence
        blocks.append(Block(shown, start, info, "".join(f"{line}\n" for line in body)))
        i += 1
    return blocks


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
    example = next(b for b in VALID if b.path == "docs/spec.md" and "- im2col:" in b.text)
    shown = next(b for b in blocks if b.info[:1] == ["text"] and "'c2d_im2col' is deprecated" in b.text)
    result = validate_text(example.text.replace("- im2col:", "- c2d_im2col:"), "docs/spec.md")
    assert result.ok
    assert result.diagnostics.render_text() == shown.text.rstrip("\n")


# -- specs/ and docs/examples/ -----------------------------------------------------------------

@pytest.fixture(scope="module")
def specs():
    """specs/ and docs/examples/ validated together."""
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
    kernels without any: the README's quick start compiles it; docs/examples/ the others), as
    `tlspec compile` reports it."""
    diags = Diagnostics()
    check_supported(kernel, diags)
    return {d.message for d in diags.errors}


def test_specs_hold_only_kernels_this_release_compiles():
    result = validate_paths([str(SPECS)])
    assert result.kernels
    later = {k.name: sorted(stage_features(k)) for k in result.kernels if stage_features(k)}
    assert later == {}, "move these kernels to docs/examples/"


def test_docs_examples_each_use_a_later_feature():
    result = validate_paths([str(EXAMPLES)])
    assert result.kernels
    assert [k.name for k in result.kernels if not stage_features(k)] == []


def test_examples_readme_lists_every_example():
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for path in sorted(EXAMPLES.glob("*.tlspec.yaml")):
        assert f"`{path.name}`" in readme, path.name


def test_spec_files_are_in_one_folder_only():
    names = [p.name for p in example_specs()]
    assert len(names) == len(set(names)), "a spec file is in both specs/ and docs/examples/"


def test_specs_include_a_multi_kernel_file(specs):
    per_file: dict[str, int] = {}
    for kernel in specs.kernels:
        per_file[kernel.path] = per_file.get(kernel.path, 0) + 1
    assert max(per_file.values()) >= 2
