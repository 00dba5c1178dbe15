"""Size classes: the calls a tune record's winner stands for. A kernel without symbolic dims has
one class, 'static'; otherwise each symbolic dim falls in its power-of-two bucket, the class
'M<=1024,N<=4096' holding every call with 512 < M <= 1024 and 2048 < N <= 4096. Compiled
packages apply the same rule at a call (codegen/tuned_call.py.tmpl), without tlspec."""
from __future__ import annotations

STATIC = "static"


def bucket(value: int) -> int:
    """The least power of two at or above `value` (1 for 0 and 1)."""
    return 1 << max(value - 1, 0).bit_length()


def size_class(dims: dict[str, int]) -> str:
    """The class of a call binding the symbolic dims `dims` (in the kernel's order)."""
    return ",".join(f"{name}<={bucket(value)}" for name, value in dims.items()) or STATIC
