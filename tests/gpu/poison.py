"""The bit patterns that outputs are filled with before a kernel runs, per dtype: NaN patterns for
the floating-point types (and the same bits for the integers of their size), 0x5A for the 1-byte
types. Random inputs never hold them, so an element still poisoned after a run was never written.

Plain data (no torch, no numpy): the GPU tests and the differential runner's interpreter side,
which runs without a GPU, use the same patterns.
"""
BY_SIZE = {1: 0x5A, 2: 0x7E01, 4: 0x7FC00001, 8: 0x7FF8000000000001}
DTYPE_SIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8,
              "int8": 1, "int16": 2, "int32": 4, "int64": 8,
              "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8,
              "float8_e4m3": 1, "float8_e5m2": 1}
POISON_BITS = {name: BY_SIZE[size] for name, size in DTYPE_SIZE.items()} | {"bfloat16": 0x7FC1}
GUARD_BYTES = 4096          # poison before and after every output
