"""What the interpreter's tests share: kernels from spec text, random inputs of any dtype (random
bits, never zero nor all ones), bit-exact comparison. References live in references.py."""
from __future__ import annotations

import textwrap

import numpy as np

from tlspec.dtypes import DTYPE_BYTES
from tlspec.interpret import load
from tlspec.interpret.bits import numpy_dtype

DTYPES = list(DTYPE_BYTES)
UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def kernel(text: str):
    """The one kernel of a spec written as text (its `tlspec: 1` line added)."""
    module = load("tlspec: 1\n" + textwrap.dedent(text).strip() + "\n")
    (name,) = module.__all__
    return getattr(module, name)


def through_tile(src: str, dst: str | None = None, tile: str | None = None,
                 scope: str = "shared"):
    """The kernel B = A (M x N, dtypes `src` and `dst`) through a 16 x 32 tile of `scope` and
    dtype `tile` per block: a copy in, a copy out (each converting where the dtypes differ)."""
    dst, tile = dst or src, tile or dst or src
    return kernel(f"""
        name: through_tile
        dims: {{M: symbolic, N: symbolic}}
        buffers:
          A: {{scope: global, shape: [M, N], dtype: {src}, io: in}}
          B: {{scope: global, shape: [M, N], dtype: {dst}, io: out}}
          T: {{scope: {scope}, shape: [16, 32], dtype: {tile}}}
        launch:
          grid: {{bx: "ceildiv(N, 32)", by: "ceildiv(M, 16)"}}
          threads: 128
        stages:
          - copy: {{src: "A[by*16 : +16, bx*32 : +32]", dst: T}}
          - copy: {{src: T, dst: "B[by*16 : +16, bx*32 : +32]"}}
        """)


def spec(name: str, buffers: str, stages: str, dims: str = "", grid: str = "{bx: 1}",
         threads: int = 32) -> str:
    """Spec text (without its `tlspec: 1` line) from its parts; the launch on one line, after
    the buffers, then the stages."""
    parts = [f"name: {name}"] + ([f"dims: {dims}"] if dims else [])
    parts += ["buffers:", textwrap.indent(textwrap.dedent(buffers).strip(), "  "),
              f"launch: {{grid: {grid}, threads: {threads}}}", "stages:",
              textwrap.indent(textwrap.dedent(stages).strip(), "  ")]
    return "\n".join(parts)


def bits(array: np.ndarray) -> np.ndarray:
    return array.view(UNSIGNED[array.dtype.itemsize])


def random_bits(shape, dtype: str = "float16", seed: int = 0) -> np.ndarray:
    """Random elements of a spec dtype as unsigned integers of its size, never zero and never
    all ones (the poison)."""
    size = DTYPE_BYTES[dtype]
    return np.random.default_rng(seed).integers(1, 2 ** (8 * size) - 1, size=shape,
                                                dtype=UNSIGNED[size])


def poisoned_bits(shape, dtype: str = "float16") -> np.ndarray:
    """Every bit set, as unsigned integers of the dtype's size: allocated outputs' poison."""
    return np.full(shape, np.iinfo(UNSIGNED[DTYPE_BYTES[dtype]]).max, UNSIGNED[DTYPE_BYTES[dtype]])


def random(shape, dtype: str = "float16", seed: int = 0) -> np.ndarray:
    """random_bits() in the dtype's numpy type."""
    return random_bits(shape, dtype, seed).view(numpy_dtype(dtype))


def poisoned(shape, dtype: str = "float16") -> np.ndarray:
    return poisoned_bits(shape, dtype).view(numpy_dtype(dtype))


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    a, e = bits(actual), bits(expected)
    if not np.array_equal(a, e):
        diff = np.argwhere(a != e)
        raise AssertionError(f"{len(diff)} of {a.size} elements differ, the first at "
                             f"{tuple(int(i) for i in diff[0])}: {a[tuple(diff[0])]:#x}, expected "
                             f"{e[tuple(diff[0])]:#x}")
