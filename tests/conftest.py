from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The example kernels: specs/ holds those this release compiles (`tlspec compile specs/`),
# docs/examples/ valid kernels of language features whose compilation comes in a later release.
SPECS = ROOT / "specs"
EXAMPLES = ROOT / "docs" / "examples"
EXAMPLE_DIRS = [SPECS, EXAMPLES]


def example_specs() -> list[Path]:
    """Every *.tlspec.yaml file of specs/ and docs/examples/."""
    return [p for folder in EXAMPLE_DIRS for p in sorted(folder.glob("*.tlspec.yaml"))]


def modeline_for(path: Path) -> str:
    """The yaml-language-server modeline an example file starts with: the schema, relative."""
    depth = len(path.parent.relative_to(ROOT).parts)
    return f"# yaml-language-server: $schema={'../' * depth}schemas/tlspec.schema.json"


@pytest.fixture
def root() -> Path:
    return ROOT
