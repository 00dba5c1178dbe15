"""The kernels of specs/ (their constant sizes made small) and of tests/gpu/matrix/ (small and
ragged sizes for their symbolic dims; example_kernels.py), interpreted and compared bit-exactly
with numpy references (references.py). Which reference applies follows from the kernel's
stages: im2col, paged_kv (a gather with computed indices), gather, scatter, transpose, or else
a copy of the one input into every output (zero-padded where an output is larger, as
cp_async_zfill_f32's is, or repeated along an output's extra leading dimension, as
repeat_multicast's is; concat_last's two inputs side by side)."""
from __future__ import annotations

import numpy as np
import pytest

import references
from example_kernels import (SIZES, SMALL, fitted, inputs, kind_of, matrix_kernels, small,
                             spec_kernels)
from interpret_support import assert_same
from tlspec.interpret import Program
from tlspec.model import Kernel


def expected_outputs(kernel: Kernel, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    kind = kind_of(kernel)
    if kind == "paged_kv":
        return {"out": references.paged_kv(arrays["cache"], arrays["block_table"],
                                           arrays["out"])}
    if kind == "gather":
        stage = next(s for s in kernel.walk() if s.kind == "gather")
        table, index, out = (stage.regions[key].name for key in ("src", "index", "dst"))
        if out not in arrays:           # gathered into a tile (gather4_rows), then stored whole
            (out,) = [b.name for b in kernel.buffers.values() if b.io == "out"]
        return {out: references.gather(arrays[table], arrays[index], arrays[out])}
    if kernel.name == "swap_pairs_dsmem":                   # pairs of blocks swap their tiles
        return {"B": references.from_sender(arrays["A"], 64, 2)}
    if kernel.name == "concat_last":                        # two inputs, side by side
        return {"out": np.concatenate((arrays["a"], arrays["b"]), axis=-1)}
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
        if buffer.io == "out" and arrays[buffer.name].ndim == source.ndim + 1:     # repeated
            outputs[buffer.name] = np.broadcast_to(source, arrays[buffer.name].shape)
        elif buffer.io == "out":
            padded = np.zeros_like(arrays[buffer.name])
            padded[tuple(slice(0, n) for n in source.shape)] = source
            outputs[buffer.name] = padded
    return outputs


def check(kernel: Kernel, dims: dict[str, int]) -> None:
    arrays = inputs(kernel, dims)
    expected = expected_outputs(kernel, arrays)
    Program(kernel).run(arrays)
    for name, value in expected.items():
        assert_same(arrays[name], value)


MATRIX_KERNELS = matrix_kernels()
CASES = [pytest.param(kernel, size, id=f"{kernel.name}-{i}") for kernel in MATRIX_KERNELS
         for i, size in enumerate(SIZES[kind_of(kernel)])]


@pytest.mark.parametrize("kernel, size", CASES)
def test_matrix_kernel(kernel, size):
    check(kernel, fitted(kernel, size))


def test_the_matrix_is_all_here():
    assert len(MATRIX_KERNELS) == 73
    assert {kind_of(k) for k in MATRIX_KERNELS} == set(SIZES)


@pytest.mark.parametrize("kernel", spec_kernels(), ids=lambda k: k.name)
def test_spec_kernel(kernel):
    check(small(kernel), SMALL[kernel.name][1])
