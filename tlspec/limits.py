"""Bounds on the integers of the spec language, and how to print an integer of any size.

Every integer of a spec, and every value an expression takes (partial results included), is a
signed 64-bit integer: that is the arithmetic of the generated kernels and of the launch wrapper.
Sizes (dims, extents, grid extents, the bytes of a buffer) are at most 2**62, so that a start
plus an extent, or a size times an element's bytes, cannot leave the 64-bit range unseen.
"""
from __future__ import annotations

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_SIZE = 2**62
# An integer literal in a YAML file longer than this cannot be a 64-bit integer in any notation
# (0b and 64 binary digits, with a sign and '_' separators); it is refused before it is read,
# so that no work (or Python's int-str limit) depends on its length.
MAX_INT_CHARS = 100
# Stages in a kernel, loop bodies included: the CUDA compiler's time grows faster than a
# kernel's length (3000 transposes take it minutes), and no data-movement kernel needs as many.
MAX_STAGES = 1024
# The bytes one phase of an mbarrier can wait for: its pending transaction count holds
# -(2**20 - 1) .. 2**20 - 1 (the PTX ISA's mbarrier object); an expect_tx beyond it is undefined
# (the count wraps: the wait hangs or returns before the data lands), which ptxas does not catch.
MAX_TX = 2**20 - 1


def fits_int64(value: int) -> bool:
    return INT_MIN <= value <= INT_MAX


_NAMED = {MAX_SIZE: "2**62", INT_MAX: "2**63 - 1", INT_MIN: "-2**63"}


def int_text(value: int) -> str:
    """`value` as a message shows it: the bounds above by name, a long integer by its leading
    digits and its length, so that a message stays readable and never trips Python's int-str
    limit (str() of an integer of more than 4300 digits raises), whatever the value."""
    if value in _NAMED:
        return _NAMED[value]
    if value.bit_length() <= 80:
        return str(value)
    if value.bit_length() > 14_000:             # more than 4214 digits
        return f"{'-' if value < 0 else ''}a {value.bit_length()}-bit integer"
    digits = str(abs(value))
    return f"{'-' if value < 0 else ''}{digits[:8]}... ({len(digits)} digits)"
