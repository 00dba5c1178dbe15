"""Errors raised while compiling one kernel, each tied to the place in the spec it is about."""
from __future__ import annotations


class StageError(Exception):
    """A stage (or any spec element) that cannot be compiled as written.

    `pointer` is the JSON pointer of the element in the spec (a stage's options mapping, or one of
    its options), so the driver reports the error at that line and column.

    A pass runs inside tvm's pass manager, which re-raises Python exceptions as its own error
    type; so the last StageError created is also kept here, for `take_stage_error`.
    """

    last: "StageError | None" = None

    def __init__(self, pointer: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.pointer = pointer
        self.message = message
        self.hint = hint
        StageError.last = self


def take_stage_error(error: BaseException) -> StageError | None:
    """The StageError behind `error` (itself, or the one a pass raised through tvm), if any."""
    found = error if isinstance(error, StageError) else StageError.last
    StageError.last = None
    return found
