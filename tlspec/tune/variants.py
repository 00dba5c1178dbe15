"""The variants of a tuned kernel: every combination of its parameters' candidates, each the
kernel rebuilt from its document with those values (the first: every first candidate, the
kernel an untuned compile makes), or the reason it cannot be compiled."""
from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product
from typing import Iterable

from ..diagnostics import Diagnostic, Diagnostics, Severity
from ..model import Kernel

SEPARATOR = "__v"       # a variant's kernel is named <kernel>__v<number>


@dataclass
class Variant:
    number: int
    choice: dict[str, int | str]
    kernel: Kernel | None          # None when the combination is invalid
    skipped: str | None = None     # why, then

    @property
    def label(self) -> str:
        return label(self.choice)


def label(choice: dict[str, int | str]) -> str:
    """A choice as people and the record read it: 'TILE=64,LOAD=tma'."""
    return ",".join(f"{name}={value}" for name, value in choice.items())


def reason(problems: Iterable[Diagnostic]) -> str:
    """Why a variant is skipped: its errors, each at its line and column."""
    return "; ".join(f"{d.location.line}:{d.location.column}: {d.message}" for d in problems
                     if d.severity is Severity.ERROR)


def combinations(kernel: Kernel) -> list[dict[str, int | str]]:
    """Every choice of the kernel's parameters, in declaration order; the first is the default."""
    names = list(kernel.tunables)
    return [dict(zip(names, values))
            for values in product(*(kernel.tunables[n].candidates for n in names))]


def with_choice(kernel: Kernel, choice: dict[str, int | str], diags: Diagnostics,
                name: str | None = None) -> Kernel | None:
    """`kernel` rebuilt with its parameters set to `choice` (named `name`), checked as a compile
    checks it; None when that finds errors (in `diags`)."""
    from ..compiler.support import check_supported
    from ..validate import check_document

    rebuilt = check_document(kernel.document, diags, choice)
    if rebuilt is None or diags.has_errors:
        return None
    check_supported(rebuilt, diags)
    if diags.has_errors:
        return None
    return replace(rebuilt, name=name) if name else rebuilt


def variants(kernel: Kernel) -> list[Variant]:
    """The kernel's variants, each rebuilt and checked (named <kernel>__v<number>)."""
    found = []
    for number, choice in enumerate(combinations(kernel)):
        diags = Diagnostics()
        rebuilt = with_choice(kernel, choice, diags, f"{kernel.name}{SEPARATOR}{number}")
        found.append(Variant(number, choice, rebuilt,
                             None if rebuilt is not None else reason(diags)))
    return found
