"""The kernels of specs/ (their constant sizes made small) and of tests/gpu/matrix/ (small and
ragged sizes for their symbolic dims), interpreted and compared bit-exactly with numpy
references (references.py). Which reference applies follows from the kernel's stages: im2col,
gather, scatter, transpose, or else a copy of the one input into every output (zero-padded where
an output is larger, as cp_async_zfill_f32's is)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import references
from conftest import ROOT, SPECS
from interpret_support import assert_same, poisoned, random
from tlspec.expr import evaluate
from tlspec.interpret import Program
from tlspec.model import Kernel
from tlspec.validate import validate_paths, validate_text

MATRIX = ROOT / "tests" / "gpu" / "matrix"


def kind_of(kernel: Kernel) -> str:
    kinds = {stage.kind for stage in kernel.walk()}
    return next((k for k in ("im2col", "gather", "scatter", "transpose") if k in kinds), "copy")


def fitted(kernel: Kernel, wanted: dict[str, int]) -> dict[str, int]:
    """The wanted value of each symbolic dim, raised to its min and multiple_of."""
    dims = {}
    for dim in kernel.dims.values():
        if dim.symbolic:
            value = max(wanted[dim.name], dim.min or 1)
            step = dim.multiple_of or 1
            dims[dim.name] = -(-value // step) * step
    return dims


def arrays_for(kernel: Kernel, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Random inputs (indices in the table, distinct for a scatter), poisoned outputs."""
    env = {**{d.name: d.value for d in kernel.dims.values() if not d.symbolic}, **dims}
    arrays = {}
    for i, buffer in enumerate(b for b in kernel.buffers.values() if b.is_global):
        shape = tuple(evaluate(e, env) for e in buffer.shape)
        arrays[buffer.name] = (poisoned(shape, buffer.dtype) if buffer.io == "out"
                               else random(shape, buffer.dtype, seed=i))
    if "idx" in arrays:
        rows, count = arrays["table"].shape[0], arrays["idx"].size
        rng = np.random.default_rng(7)
        values = (rng.permutation(rows)[:count] if kind_of(kernel) == "scatter"
                  else rng.integers(0, rows, count))
        arrays["idx"][...] = values.astype(arrays["idx"].dtype)
    return arrays


def expected_outputs(kernel: Kernel, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    kind = kind_of(kernel)
    if kind == "gather":
        return {"out": references.gather(arrays["table"], arrays["idx"], arrays["out"])}
    if kind == "scatter":
        return {"table": references.scatter(arrays["table"], arrays["idx"], arrays["rows"])}
    if kind == "im2col":
        options = next(s for s in kernel.walk() if s.kind == "im2col").options
        return {"col": references.im2col(arrays["img"], options["kernel"],
                                         options.get("stride", 1), options.get("dilation", 1),
                                         options.get("pad", 0))}
    (source,) = [arrays[b.name] for b in kernel.buffers.values() if b.io == "in"]
    if kind == "transpose":
        source = np.swapaxes(source, -1, -2)
    outputs = {}
    for buffer in kernel.buffers.values():
        if buffer.io == "out":
            padded = np.zeros_like(arrays[buffer.name])
            padded[tuple(slice(0, n) for n in source.shape)] = source
            outputs[buffer.name] = padded
    return outputs


def check(kernel: Kernel, dims: dict[str, int]) -> None:
    arrays = arrays_for(kernel, dims)
    expected = expected_outputs(kernel, arrays)
    Program(kernel).run(arrays)
    for name, value in expected.items():
        assert_same(arrays[name], value)


# -- tests/gpu/matrix/ -----------------------------------------------------------------------------

# wanted sizes per reference kind: the first divides the matrix's tiles, the others do not
SIZES = {
    "copy": [dict(M=128, N=256, MP=128, NP=256), dict(M=1, N=1, MP=32, NP=32),
             dict(M=77, N=100, MP=96, NP=160), dict(M=130, N=300, MP=160, NP=320)],
    "transpose": [dict(M=64, N=128, BATCH=2), dict(M=13, N=40, BATCH=3),
                  dict(M=70, N=9, BATCH=1)],
    "gather": [dict(V=100, D=128, NI=32), dict(V=9, D=40, NI=37), dict(V=50, D=136, NI=1)],
    "im2col": [dict(N=1, H=7, W=9, C=64), dict(N=2, H=13, W=6, C=64)],
}
SIZES["scatter"] = [dict(size, V=max(size["V"], size["NI"])) for size in SIZES["gather"]]
MATRIX_KERNELS = validate_paths([str(MATRIX)]).kernels
CASES = [pytest.param(kernel, size, id=f"{kernel.name}-{i}") for kernel in MATRIX_KERNELS
         for i, size in enumerate(SIZES[kind_of(kernel)])]


@pytest.mark.parametrize("kernel, size", CASES)
def test_matrix_kernel(kernel, size):
    check(kernel, fitted(kernel, size))


def test_the_matrix_is_all_here():
    assert len(MATRIX_KERNELS) == 57
    assert {kind_of(k) for k in MATRIX_KERNELS} == set(SIZES)


# -- specs/ -----------------------------------------------------------------------------------------

# constant dims made small (and ragged), and values for the symbolic ones
SMALL = {
    "copy_tiles": ({"M": 200, "N": 300}, {}),
    "copy_symbolic": ({}, {"M": 128, "N": 256}),
    "gather_rows": ({"V": 300, "D": 64, "R": 37}, {}),
    "scatter_rows": ({"V": 300, "D": 64, "R": 37}, {}),
    "transpose_tma_store": ({"M": 136, "N": 200}, {}),
    "im2col_3x3": ({"N": 2, "H": 5, "W": 7, "C": 32}, {}),
    "im2col_strided": ({"H": 9, "W": 9, "C": 16, "OH": 5, "OW": 5}, {"N": 3}),
}


def small(path: Path, name: str) -> Kernel:
    """Kernel `name` of the spec at `path`, its constant dims replaced by SMALL's."""
    (document,) = [d for d in yaml.safe_load_all(path.read_text()) if d["name"] == name]
    document["dims"].update(SMALL[name][0])
    result = validate_text(yaml.safe_dump(document), f"{path.name} (small)")
    assert result.ok, result.diagnostics.render_text()
    return result.kernels[0]


SPEC_KERNELS = [(Path(k.path), k.name) for k in validate_paths([str(SPECS)]).kernels]


@pytest.mark.parametrize("path, name", SPEC_KERNELS, ids=[name for _, name in SPEC_KERNELS])
def test_spec_kernel(path, name):
    kernel = small(path, name)
    check(kernel, SMALL[name][1])
