"""Element types of the spec language and their sizes."""
from __future__ import annotations

DTYPE_BYTES = {
    "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8,
    "int8": 1, "int16": 2, "int32": 4, "int64": 8,
    "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8,
    "float8_e4m3": 1, "float8_e5m2": 1,
}
INDEX_DTYPES = ("int32", "int64")
MAX_VECTOR_BYTES = 16  # widest vector load/store per thread (ld.global.v4.b32)
