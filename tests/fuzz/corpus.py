"""The fuzzer's seeds: every spec the repository holds, valid and invalid alike.

specs/ (the examples), the fenced YAML kernels of README.md and docs/*.md,
the diagnostic catalogue (tests/catalogue/**: one defect each, so mutants start near an error
path) and the starters of `tlspec new` (their `$name` filled in). In a fixed order, so that a
mutant is the same for the same seed and index on every machine.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT
from doc_examples import fenced_blocks

STARTER_NAME = "starter_kernel"


@dataclass(frozen=True)
class Seed:
    name: str           # where it comes from: a path, or PATH:LINE for a docs block
    text: str

    @property
    def defective(self) -> bool:
        """A catalogue spec written with a defect (invalid/, multi/)."""
        return self.name.startswith(("tests/catalogue/invalid/", "tests/catalogue/multi/"))


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.tlspec.yaml"))


def seeds() -> list[Seed]:
    found = [Seed(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8"))
             for folder in ("specs", "tests/catalogue")
             for p in _files(ROOT / folder)]
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        found += [Seed(block.where, block.text) for block in fenced_blocks(doc)
                  if block.info[:1] == ["yaml"] and "tlspec:" in block.text]
    found += [Seed(p.relative_to(ROOT).as_posix(),
                   p.read_text(encoding="utf-8").replace("$name", STARTER_NAME))
              for p in _files(ROOT / "tlspec" / "starters")]
    return found
