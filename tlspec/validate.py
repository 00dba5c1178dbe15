"""Validation, end to end: spec files -> YAML documents -> schema -> kernel model -> semantic rules.

This is the one place that strings the front end together; `tlspec validate` and `tlspec compile`
both start here. Nothing here imports tvm.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .build import build_kernel
from .diagnostics import Diagnostics, Location
from .model import Kernel
from .rules import check_kernel
from .schema import validate_structure
from .source import SourceDocument, load_file, load_text

SPEC_SUFFIX = ".tlspec.yaml"


class UsageError(Exception):
    """A command-line mistake (a path that does not exist, a folder without specs)."""


@dataclass
class ValidationResult:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    kernels: list[Kernel] = field(default_factory=list)   # every structurally sound kernel
    files: list[str] = field(default_factory=list)
    documents: int = 0                                     # kernel documents found

    @property
    def ok(self) -> bool:
        return not self.diagnostics.has_errors


def discover(paths: Iterable[str], diags: Diagnostics) -> list[tuple[Path, str]]:
    """Spec files named by `paths` (files, or folders searched for *.tlspec.yaml), with the path
    to show for each: as the user wrote it, so that editors and terminals can follow it. A
    subfolder that cannot be read is an error in `diags` (its specs would be missed); a path
    that does not exist, cannot be read or holds no spec is a UsageError."""
    found: list[tuple[Path, str]] = []
    for given in paths:
        path = Path(given)
        if path.is_file():
            found.append((path, given))
        elif path.is_dir():
            specs, unreadable = _specs_under(path)
            if unreadable and unreadable[0][0] == path:
                raise UsageError(f"cannot read the folder '{given}': {unreadable[0][1]}")
            for folder, reason in unreadable:
                diags.error(Location(os.path.join(given, str(folder.relative_to(path)))),
                            f"cannot read this folder: {reason}; its specs are not checked",
                            hint="make it readable, or name the folders to check")
            if not specs and not unreadable:
                raise UsageError(f"no *{SPEC_SUFFIX} files under '{given}'")
            found.extend((p, os.path.join(given, str(p.relative_to(path)))) for p in specs)
        else:
            raise UsageError(f"'{given}' does not exist")
    return found


def _specs_under(top: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The spec files under `top` (sorted; folders starting with '.' and node_modules skipped,
    symbolic links to folders not followed) and the folders that could not be read, with why."""
    specs: list[Path] = []
    unreadable: list[tuple[Path, str]] = []

    def failed(error: OSError) -> None:
        unreadable.append((Path(error.filename), error.strerror or str(error)))

    for folder, subfolders, files in os.walk(top, onerror=failed):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d != "node_modules")
        specs.extend(Path(folder, f) for f in files if f.endswith(SPEC_SUFFIX)
                     and Path(folder, f).is_file())
    return sorted(specs), sorted(unreadable)


def check_document(doc: SourceDocument, diags: Diagnostics) -> Kernel | None:
    """Validate one kernel document; its model when it is structurally sound (it may still have
    semantic errors, reported to `diags`)."""
    data = validate_structure(doc, diags)
    if data is None:
        return None  # semantic rules need a well-formed document
    kernel = build_kernel(doc, data, diags)
    check_kernel(kernel, diags)
    return kernel


def _check_unique_names(kernels: list[Kernel], diags: Diagnostics) -> None:
    first: dict[str, Kernel] = {}
    for kernel in kernels:
        other = first.setdefault(kernel.name, kernel)
        if other is not kernel:
            where = other.document.location("/name")
            place = (f"line {where.line}, column {where.column}" if where.path == kernel.path
                     else str(where))
            diags.error(kernel.document.location("/name"),
                        f"kernel name '{kernel.name}' is already used at {place}",
                        pointer="/name", hint="kernels compiled together need unique names")


def validate_documents(documents: list[SourceDocument], result: ValidationResult) -> None:
    result.documents += len(documents)
    for doc in documents:
        kernel = check_document(doc, result.diagnostics)
        if kernel is not None:
            result.kernels.append(kernel)


def validate_paths(paths: Iterable[str]) -> ValidationResult:
    """Validate every spec under `paths`; raises UsageError for paths that name no spec."""
    result = ValidationResult()
    for path, shown in discover(paths, result.diagnostics):
        result.files.append(shown)
        validate_documents(load_file(path, result.diagnostics, shown), result)
    _check_unique_names(result.kernels, result.diagnostics)
    return result


def validate_text(text: str, path: str = "<string>") -> ValidationResult:
    """Validate spec text held in memory (tests, editors)."""
    result = ValidationResult(files=[path])
    validate_documents(load_text(text, path, result.diagnostics), result)
    _check_unique_names(result.kernels, result.diagnostics)
    return result
