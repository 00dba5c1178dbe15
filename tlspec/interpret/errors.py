"""Errors of the interpreter: located ones (the spec's fault, or a result it leaves undefined)."""
from __future__ import annotations

from ..diagnostics import Diagnostics


class InterpretError(Exception):
    """A kernel the interpreter refuses or whose result is not defined, with located diagnostics.

    str() is the diagnostics rendered as `tlspec validate` renders them."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        super().__init__(diagnostics.render_text())
        self.diagnostics = diagnostics


class Fault(Exception):
    """Raised while a kernel runs; the machine turns it into an InterpretError located at
    `pointer` (a JSON pointer into the kernel's document), with the block it happened in."""

    def __init__(self, pointer: str, message: str, hint: str | None = None, *,
                 key: bool = False) -> None:
        super().__init__(message)
        self.pointer = pointer
        self.message = message
        self.hint = hint
        self.key = key
