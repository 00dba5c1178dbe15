"""Which element types a `copy` converts between, and how (docs/spec.md, "Type conversion").

Every conversion goes through float32, as torch's `.to()` does on a GPU: a float type is widened
to float32 exactly, an integer converted to float32 (rounded to nearest, ties to even); float32
then narrows to the destination, rounding to nearest even. Overflow gives infinity (float16,
bfloat16, float8_e5m2) or NaN (float8_e4m3, which has no infinity; torch's rule: a value whose
rounding leaves the format's range). Float to integer rounds toward zero and saturates (NaN
gives 0). Integer to integer keeps the low bits (two's complement, as C and torch do).
"""
from __future__ import annotations

FLOATS = ("float16", "bfloat16", "float32", "float8_e4m3", "float8_e5m2")
INTEGERS = ("int8", "int32")
CONVERTIBLE = FLOATS + INTEGERS

