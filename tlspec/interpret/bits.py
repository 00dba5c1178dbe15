"""Elements as bits: the interpreter moves unsigned integers of each element's size, so that
every dtype is moved exactly (NaN payloads, -0.0, float8) without numpy knowing the type.

The numpy dtypes users see come from numpy, and from ml_dtypes (installed with tvm) for bfloat16
and float8; ml_dtypes is imported only when one of those is asked for.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DTYPE_BYTES

UNSIGNED = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.uint32),
            8: np.dtype(np.uint64)}
# spec dtypes whose numpy type comes from ml_dtypes, and its name there
ML_DTYPES = {"bfloat16": "bfloat16", "float8_e4m3": "float8_e4m3fn", "float8_e5m2": "float8_e5m2"}


def bits_dtype(dtype: str) -> np.dtype:
    """The unsigned integer type of a spec dtype's size."""
    return UNSIGNED[DTYPE_BYTES[dtype]]


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype of a spec dtype: float16 -> numpy.float16, bfloat16 -> ml_dtypes.bfloat16,
    float8_e4m3 -> ml_dtypes.float8_e4m3fn, ..."""
    if dtype in ML_DTYPES:
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, ML_DTYPES[dtype]))
    return np.dtype(dtype)


def as_bits(array: np.ndarray) -> np.ndarray:
    """A view of a C-contiguous array as unsigned integers of its element size."""
    return array.view(UNSIGNED[array.dtype.itemsize])


def all_ones(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """A new array of a spec dtype with every bit set: the poison of allocated outputs (a NaN for
    the float types, -1 for the signed integers, the maximum for the unsigned ones)."""
    array = np.empty(shape, numpy_dtype(dtype))
    as_bits(array).fill(np.iinfo(bits_dtype(dtype)).max)
    return array
