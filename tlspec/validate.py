"""Validation, end to end: spec files -> YAML documents -> schema -> kernel model -> semantic rules.

This is the one place that strings the front end together; `tlspec validate` and `tlspec compile`
both start here. Nothing here imports tvm.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Iterable

from .build import build_kernel
from .diagnostics import Diagnostics
from .discover import SPEC_SUFFIX, UsageError, discover, read_file  # noqa: F401  (imported from here too)
from .model import Kernel
from .rules import check_kernel
from .schema import validate_structure
from .source import SourceDocument, load_bytes, load_text


@dataclass
class ValidationResult:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    kernels: list[Kernel] = field(default_factory=list)   # every structurally sound kernel
    files: list[str] = field(default_factory=list)
    documents: int = 0                                     # kernel documents found

    @property
    def ok(self) -> bool:
        return not self.diagnostics.has_errors


def check_document(doc: SourceDocument, diags: Diagnostics,
                   choice: dict[str, int | str] | None = None) -> Kernel | None:
    """Validate one kernel document, its tunable parameters set to `choice` (default: their first
    candidates); its model when it is structurally sound (it may still have semantic errors,
    reported to `diags`)."""
    data = validate_structure(doc, diags)
    if data is None:
        return None  # semantic rules need a well-formed document
    kernel = build_kernel(doc, data, diags, choice)
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
    found = discover(paths, result.diagnostics)
    return validate_sources([(shown, read_file(path, result.diagnostics, shown))
                             for path, shown in found], result)


def validate_sources(sources: list[tuple[str, bytes | None]],
                     result: ValidationResult | None = None) -> ValidationResult:
    """Validate spec files given as (path shown, bytes); None for a file that could not be read
    (its error is already in `result`)."""
    result = result if result is not None else ValidationResult()
    for shown, raw in sources:
        result.files.append(shown)
        if raw is not None:
            validate_documents(load_bytes(raw, shown, result.diagnostics), result)
    _check_unique_names(result.kernels, result.diagnostics)
    return result


def validate_text(text: str, path: str = "<string>") -> ValidationResult:
    """Validate spec text held in memory (tests, editors)."""
    result = ValidationResult(files=[path])
    validate_documents(load_text(text, path, result.diagnostics), result)
    _check_unique_names(result.kernels, result.diagnostics)
    return result


class _CallableModule(types.ModuleType):
    """Importing this module makes it the attribute `tlspec.validate`, where the Python API's
    function of that name (tlspec/api.py) is expected: calling the module calls that function."""

    def __call__(self, *specs):
        from .api import validate

        return validate(*specs)


sys.modules[__name__].__class__ = _CallableModule
