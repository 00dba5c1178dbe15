"""Run the examples of the markdown documentation: the machinery the docs tests share.

A fenced code block of a document is one of:

- a **file**: its info string has `title=NAME` (```` ```yaml title=copy_rows.tlspec.yaml ````).
  Before any command of the document runs, every such block is written to NAME in the
  document's sandbox.
- a **shell session**: its first line starts with `$ `. Each `$ COMMAND` line is run, and the
  lines after it, up to the next `$ ` line, are exactly what the command prints (stdout and
  stderr together, trailing spaces ignored). An `exit=N` word in the info string is the exit
  status of the block's last command; every other command must exit 0. `requires=PROGRAM`
  skips the block (with a reason) when PROGRAM is not on PATH.
- a **generated file**: `file=PATH` in the info string (```` ```json file=/tmp/k/copy.json ````);
  after the sessions ran, the file PATH holds exactly this (for `json`, the same JSON value).
- anything else (a synopsis, a format, a snippet run by another test) is not run here.

The sessions of one document run in order, in one sandbox directory, as a reader would type
them in a shell at the repository root: `tlspec` and `python` are this interpreter's, `specs/`
is the repository's, and `/tmp` in a command is the sandbox's own `tmp/` (it reads `/tmp` again
in the output), so examples can write to /tmp/out without touching the real /tmp. The lines of
one block run in one shell, so `cd` and variables last until the block's end.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from conftest import ROOT

FENCE = re.compile(r"^( *)(`{3,})(.*)$")
TMP = re.compile(r"(?<![\w./-])/tmp(?=/|\b)")
MARK = "@@tlspec-doc-example-status@@"
# repository folders the sessions see in their sandbox (tests/gpu/torchint: docs/torch.md's kernels)
LINKED = ("specs", "docs", "tests")


@dataclass
class Block:
    path: str          # as shown in diagnostics: relative to the repository root
    line: int          # line of the opening fence in the markdown file
    info: list[str]    # the words after the opening fence: ['yaml'], ['yaml', 'invalid'], ...
    text: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def option(self, key: str) -> str | None:
        """The value of a `key=value` word of the info string."""
        for word in self.info[1:]:
            if word.startswith(key + "="):
                return word[len(key) + 1:]
        return None

    @property
    def is_session(self) -> bool:
        return self.text.startswith("$ ")

    @property
    def title(self) -> str | None:
        return self.option("title")

    @property
    def generated(self) -> str | None:
        return self.option("file")


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


# -- shell sessions ------------------------------------------------------------------------------

@dataclass
class Step:
    command: str
    expected: list[str]
    actual: list[str] = field(default_factory=list)
    status: int | None = None


@dataclass
class SessionRun:
    block: Block
    steps: list[Step]
    expected_status: int
    skipped: str | None = None        # the reason, when the block was not run

    def problems(self) -> list[str]:
        """What differs from the document, one message per command (empty when all is as shown)."""
        found = []
        for i, step in enumerate(self.steps):
            want = self.expected_status if i == len(self.steps) - 1 else 0
            where = f"{self.block.where}: $ {step.command}"
            if step.status != want:
                found.append(f"{where}\n  exit status {step.status}, the document says {want}")
            if step.actual != step.expected:
                found.append(f"{where}\n  prints:\n" + "".join(f"    {line}\n" for line in step.actual)
                             + "  the document shows:\n"
                             + "".join(f"    {line}\n" for line in step.expected))
        return found


def parse_session(block: Block) -> list[Step]:
    steps: list[Step] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            steps.append(Step(line[2:], []))
        else:
            steps[-1].expected.append(line.rstrip())
    for step in steps:
        while step.expected and not step.expected[-1]:
            step.expected.pop()
    return steps


class Sandbox:
    """The directory a document's sessions run in (see the module docstring)."""

    def __init__(self, root: Path, blocks: list[Block]):
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        bin_dir = root / ".bin"
        bin_dir.mkdir(exist_ok=True)
        python = shlex.quote(sys.executable)
        for name, line in (("tlspec", f"exec {python} -m tlspec \"$@\""),
                           ("python", f"exec {python} \"$@\""), ("python3", f"exec {python} \"$@\"")):
            shim = bin_dir / name
            shim.write_text(f"#!/bin/sh\n{line}\n")
            shim.chmod(0o755)
        for name in LINKED:
            if not (root / name).exists():
                (root / name).symlink_to(ROOT / name)
        for block in blocks:
            if block.title:
                (root / block.title).write_text(block.text, encoding="utf-8")
        self.env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                        PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", COLUMNS="100")
        self.env.pop("PYTHONPATH", None)

    def here(self, text: str) -> str:
        """Document paths -> sandbox paths."""
        return TMP.sub(lambda _: str(self.root / "tmp"), text)

    def shown(self, text: str) -> str:
        """Sandbox paths -> document paths."""
        return text.replace(str(self.root / "tmp"), "/tmp")

    def run(self, block: Block) -> SessionRun:
        steps = parse_session(block)
        expected_status = int(block.option("exit") or 0)
        required = block.option("requires")
        if required and shutil.which(required) is None:
            return SessionRun(block, steps, expected_status, skipped=f"{required} is not on PATH")
        script = "exec 2>&1\n" + "".join(
            f"{self.here(s.command)}\n__status=$?; echo; echo \"{MARK} $__status\"\n" for s in steps)
        result = subprocess.run(["bash", "-c", script], cwd=self.root, env=self.env,
                                stdout=subprocess.PIPE, text=True, timeout=600, check=False)
        output = self.shown(result.stdout).splitlines()
        current = 0
        for line in output:
            if line.startswith(MARK) and current < len(steps):
                steps[current].status = int(line.split()[-1])
                current += 1
            elif current < len(steps):
                steps[current].actual.append(line.rstrip())
        for step in steps:
            while step.actual and not step.actual[-1]:
                step.actual.pop()
        return SessionRun(block, steps, expected_status)

    def generated_problem(self, block: Block) -> str | None:
        """How the file a `file=PATH` block shows differs from the one the sessions wrote."""
        path = Path(self.here(block.generated))
        if not path.is_absolute():
            path = self.root / path
        if not path.is_file():
            return f"{block.where}: {block.generated} was not written by the sessions before it"
        actual = path.read_text(encoding="utf-8")
        if block.info[0] == "json":
            if json.loads(actual) != json.loads(block.text):
                return (f"{block.where}: {block.generated} holds\n"
                        f"{json.dumps(json.loads(actual), indent=1)}\nnot what the document shows")
        elif [line.rstrip() for line in actual.splitlines()] != \
                [line.rstrip() for line in block.text.splitlines()]:
            return f"{block.where}: {block.generated} holds\n{actual}\nnot what the document shows"
        return None


@dataclass
class DocumentRun:
    sandbox: Sandbox
    sessions: list[SessionRun]


def run_document(path: Path, sandbox_root: Path) -> DocumentRun:
    """Write the document's files, then run its sessions in order."""
    blocks = fenced_blocks(path)
    sandbox = Sandbox(sandbox_root, blocks)
    return DocumentRun(sandbox, [sandbox.run(b) for b in blocks if b.is_session])


class DocumentRunner:
    """Runs each document once per test session, in its own sandbox (a module or session fixture
    holds one)."""

    def __init__(self, tmp_path_factory):
        self.factory = tmp_path_factory
        self.done: dict[Path, DocumentRun] = {}

    def __call__(self, path: Path) -> DocumentRun:
        if path not in self.done:
            self.done[path] = run_document(path, self.factory.mktemp(path.stem))
        return self.done[path]


def session_blocks(path: Path) -> list[Block]:
    return [b for b in fenced_blocks(path) if b.is_session]


def generated_blocks(path: Path) -> list[Block]:
    return [b for b in fenced_blocks(path) if b.generated]
