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


def fits_int64(value: int) -> bool:
    return INT_MIN <= value <= INT_MAX


def int_text(value: int, digits: int = 24) -> str:
    """`value` in decimal, or, past `digits` digits, its leading digits and its length: a message
    stays readable and never trips Python's int-str limit, whatever the value."""
    if value.bit_length() <= digits * 3:  # below 10**(digits*0.9): short enough to print
        return str(value)
    magnitude = abs(value)
    length = len(str(magnitude)) if magnitude.bit_length() < 14_000 else None
    sign = "-" if value < 0 else ""
    if length is None:
        return f"{sign}a {magnitude.bit_length()}-bit integer"
    return f"{sign}{str(magnitude)[:8]}... ({length} digits)"
