"""The example kernels run by the interpreter's tests (and compared with the GPU's results by
tests/gpu/test_interpret_gpu.py): those of tests/gpu/matrix/ at small and ragged sizes, those of
specs/ at their own sizes or made small, and their inputs: random bits (never zero), index
tensors of random rows of their table (distinct for a scatter), outputs with every bit set.

Arrays are unsigned integers of each element's size, so that nothing here needs ml_dtypes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from interpret_support import poisoned_bits, random_bits
from tlspec.diagnostics import Diagnostics
from tlspec.expr import evaluate
from tlspec.interpret.machine import refuse_unsupported
from tlspec.model import Kernel
from tlspec.validate import validate_paths, validate_text

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "tests" / "gpu" / "matrix"
ASYNC = ROOT / "tests" / "gpu" / "async"
SPECS = ROOT / "specs"


def kind_of(kernel: Kernel) -> str:
    """The reference that applies: im2col, paged_kv (the gathers with computed indices of
    specs/ read a paged KV cache), gather, scatter, transpose, or else copy."""
    if any(stage.indices for stage in kernel.walk()):
        return "paged_kv"
    kinds = {stage.kind for stage in kernel.walk()}
    return next((k for k in ("im2col", "gather", "scatter", "transpose") if k in kinds), "copy")


# wanted sizes per kind of matrix kernel: the first divides the matrix's tiles, the others not
SIZES = {
    "copy": [dict(M=128, N=256, MP=128, NP=256), dict(M=1, N=1, MP=32, NP=32),
             dict(M=77, N=100, MP=96, NP=160), dict(M=130, N=300, MP=160, NP=320)],
    "transpose": [dict(M=64, N=128, BATCH=2), dict(M=13, N=40, BATCH=3),
                  dict(M=70, N=9, BATCH=1)],
    "gather": [dict(V=100, D=128, NI=32), dict(V=9, D=40, NI=37), dict(V=50, D=136, NI=1)],
    "im2col": [dict(N=1, H=7, W=9, C=64), dict(N=2, H=13, W=6, C=64)],
}
SIZES["scatter"] = [dict(size, V=max(size["V"], size["NI"])) for size in SIZES["gather"]]


def matrix_kernels() -> list[Kernel]:
    return validate_paths([str(MATRIX)]).kernels


def async_kernels() -> list[Kernel]:
    """The kernels of tests/gpu/async/ (pipelines and explicit synchronisation; copies of M x N
    matrices, sized like the matrix's copies)."""
    return validate_paths([str(ASYNC)]).kernels


def fitted(kernel: Kernel, wanted: dict[str, int]) -> dict[str, int]:
    """The wanted value of each symbolic dim, raised to its min and multiple_of."""
    dims = {}
    for dim in kernel.dims.values():
        if dim.symbolic:
            value = max(wanted[dim.name], dim.min or 1)
            step = dim.multiple_of or 1
            dims[dim.name] = -(-value // step) * step
    return dims


def inputs(kernel: Kernel, dims: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Every global buffer's array for these symbolic dims: random inputs, poisoned outputs."""
    env = {**{d.name: d.value for d in kernel.dims.values() if not d.symbolic}, **dims}
    arrays = {}
    for i, buffer in enumerate(b for b in kernel.buffers.values() if b.is_global):
        shape = tuple(evaluate(e, env) for e in buffer.shape)
        arrays[buffer.name] = (poisoned_bits(shape, buffer.dtype) if buffer.io == "out"
                               else random_bits(shape, buffer.dtype, seed=seed + i))
    if "block_table" in arrays:            # pages of the cache, one before and one past it
        table, pages = arrays["block_table"], arrays["cache"].shape[0]
        values = np.random.default_rng(seed + 7).integers(0, pages, table.size)
        values[[0, -1]] = -1, pages
        table[...] = values.astype(table.dtype).reshape(table.shape)
    for stage in kernel.walk():
        if stage.kind in ("gather", "scatter") and not stage.indices:
            table = stage.regions["src" if stage.kind == "gather" else "dst"].name
            index = arrays[stage.regions["index"].name]
            rows, rng = arrays[table].shape[0], np.random.default_rng(seed + 7)
            values = (rng.permutation(rows)[:index.size] if stage.kind == "scatter"
                      else rng.integers(0, rows, index.size))
            index[...] = values.astype(index.dtype).reshape(index.shape)
    return arrays


# specs/: constant dims made small (and ragged) for the CPU tests, and symbolic dims' values
SMALL = {
    "copy_tiles": ({"M": 200, "N": 300}, {}),
    "copy_symbolic": ({}, {"M": 128, "N": 256}),
    "gather_rows": ({"V": 300, "D": 64, "R": 37}, {}),
    "scatter_rows": ({"V": 300, "D": 64, "R": 37}, {}),
    "transpose_tma_store": ({"M": 136, "N": 200}, {}),
    "transpose_padded_sm80": ({"M": 136, "N": 200}, {}),
    "tma_pipeline_copy": ({"M": 136, "N": 200}, {}),
    "async_copy_pipeline": ({"M": 72, "N": 264}, {}),
    "im2col_3x3": ({"N": 2, "H": 5, "W": 7, "C": 32}, {}),
    "paged_kv_gather": ({"D": 24}, {"B": 3, "T": 37, "MAXP": 4, "NP": 7}),
    "paged_kv_gather_pages": ({"D": 24}, {"B": 2, "T": 32, "MAXP": 3, "NP": 5}),
    "im2col_strided": ({"H": 9, "W": 9, "C": 16, "OH": 5, "OW": 5}, {"N": 3}),
    "repeat_multicast": ({"B": 4, "M": 100, "N": 136}, {}),
    "im2col_strided_direct": ({"N": 2, "H": 9, "W": 9, "C": 32}, {}),
    "nchw_to_nhwc": ({"N": 2, "C": 72, "HW": 136}, {}),
    "transpose_batched": ({}, {"B": 3, "M": 72, "N": 136}),
    "swap_pairs_dsmem": ({"M": 256, "N": 384}, {}),
    "embedding_lookup": ({"V": 300, "D": 64}, {"T": 37}),
    "concat_last": ({"NA": 64, "NB": 40}, {"M": 7}),
    "gather4_rows": ({"V": 40, "D": 512, "R": 24}, {}),
    "scatter4_rows": ({"V": 40, "D": 512, "R": 24}, {}),
}


def spec_kernels() -> list[Kernel]:
    """The kernels of specs/ the interpreter runs: all but those it refuses (none today)."""
    return [k for k in validate_paths([str(SPECS)]).kernels if runs(k)]


def runs(kernel: Kernel) -> bool:
    diags = Diagnostics()
    refuse_unsupported(kernel, diags)
    return not diags.has_errors


def small(kernel: Kernel) -> Kernel:
    """A kernel of specs/ with its constant dims replaced by SMALL's."""
    (document,) = [d for d in yaml.safe_load_all(Path(kernel.path).read_text())
                   if d["name"] == kernel.name]
    document["dims"].update(SMALL[kernel.name][0])
    result = validate_text(yaml.safe_dump(document), f"{Path(kernel.path).name} (small)")
    assert result.ok, result.diagnostics.render_text()
    return result.kernels[0]
