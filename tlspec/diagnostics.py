"""Diagnostics: located errors and warnings, collected as values and rendered together.

Every check in tlspec reports through a `Diagnostics` collection instead of raising, so that
all problems of a file are shown at once. A diagnostic renders as

    PATH:LINE:COL: error: MESSAGE
      at: /json/pointer
      hint: how to fix it

Lines and columns are 1-based, as editors count them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterator


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Location:
    """A point in a source file (1-based line and column)."""

    path: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    location: Location
    message: str
    pointer: str | None = None  # JSON pointer into the kernel document, when there is one
    hint: str | None = None

    def render(self) -> str:
        lines = [f"{self.location}: {self.severity.value}: {self.message}"]
        if self.pointer is not None:
            lines.append(f"  at: {self.pointer or '/'}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    __str__ = render      # exactly what the commands print for it

    def as_json(self) -> dict:
        return {
            "path": self.location.path,
            "line": self.location.line,
            "column": self.location.column,
            "severity": self.severity.value,
            "message": self.message,
            "pointer": self.pointer,
            "hint": self.hint,
        }

    @property
    def sort_key(self) -> tuple:
        return (self.location.path, self.location.line, self.location.column, self.message)


@dataclass
class Diagnostics:
    """An ordered collection of diagnostics; checks append, callers render."""

    items: list[Diagnostic] = field(default_factory=list)
    # What `items` holds, for the duplicate check: a set keeps it linear in the number of errors.
    _seen: set[Diagnostic] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._seen.update(self.items)

    def add(self, diagnostic: Diagnostic) -> None:
        """Record a diagnostic; the same one reported twice (by two rules) is kept once."""
        if diagnostic not in self._seen:
            self._seen.add(diagnostic)
            self.items.append(diagnostic)

    def error(self, location: Location, message: str, *, pointer: str | None = None,
              hint: str | None = None) -> None:
        self.add(Diagnostic(Severity.ERROR, location, message, pointer, hint))

    def warning(self, location: Location, message: str, *, pointer: str | None = None,
                hint: str | None = None) -> None:
        self.add(Diagnostic(Severity.WARNING, location, message, pointer, hint))

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        """Diagnostics in file, line, column order."""
        return sorted(self.items, key=lambda d: d.sort_key)

    def render_text(self) -> str:
        return "\n".join(d.render() for d in self.sorted())

    def render_json(self, **summary: object) -> str:
        diags = self.sorted()
        payload = {
            "diagnostics": [d.as_json() for d in diags],
            "errors": sum(d.severity is Severity.ERROR for d in diags),
            "warnings": sum(d.severity is Severity.WARNING for d in diags),
            **summary,
        }
        return json.dumps(payload, indent=2)


def abbreviated(text: str, limit: int = 40) -> str:
    """`text` as a message quotes it: at most `limit` characters, then '...'."""
    return text if len(text) <= limit else text[:limit] + "..."
