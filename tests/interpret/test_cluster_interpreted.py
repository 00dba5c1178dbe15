"""copy_cluster multicasts, interpreted: every block whose rank is in the mask gets the tile
(its own copy of the one source the blocks of the mask share), the others nothing. The multicast
kernels of tests/gpu/cluster/ (pairs in four dtypes, a partial mask of a 2 x 2 cluster, a loop,
pipelines, a cluster of 16) on small ragged sizes against numpy's broadcast, with poisoned outputs;
the same kernels the GPU tests run against torch (test_cluster_gpu.py), which makes the
interpreter their second, independent reference (tests/gpu/test_interpret_gpu.py)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT
from interpret_support import assert_same, poisoned, random
from tlspec.interpret import InterpretError, Program
from tlspec.validate import validate_paths

SPECS = ROOT / "tests" / "gpu" / "cluster" / "cluster.tlspec.yaml"
KERNELS = {k.name: k for k in validate_paths([str(SPECS)]).kernels}
DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "i8": "int8"}


@pytest.mark.parametrize("tag", list(DTYPES))
@pytest.mark.parametrize("b, m, n", [(2, 1, 16), (4, 45, 208)])
def test_multicast_to_pairs(tag, b, m, n):
    w, out = random((m, n), DTYPES[tag]), poisoned((b, m, n), DTYPES[tag])
    Program(KERNELS[f"mc_pair_{tag}"]).run({"W": w, "out": out})
    assert_same(out, np.broadcast_to(w, (b, m, n)))


def test_a_partial_mask_leaves_the_other_blocks_their_own_tile():
    w, z = random((64, 64)), random((4, 4, 64, 64), seed=1)
    out = poisoned((4, 4, 64, 64))
    Program(KERNELS["mc_2x2_partial_mask_f16"]).run({"W": w, "Z": z, "out": out})
    want = z.copy()
    for by in range(4):
        for bx in range(4):
            if bx % 2 + 2 * (by % 2) in (1, 2):             # cluster_mask 0b0110
                want[by, bx] = w
    assert_same(out, want)


@pytest.mark.parametrize("name", ["mc_loop_f16", "mc_pipe_f16"])
@pytest.mark.parametrize("b, m, n", [(4, 16, 64), (8, 40, 200)])
def test_loops_of_multicasts(name, b, m, n):
    w, out = random((m, n)), poisoned((b, m, n))
    Program(KERNELS[name]).run({"W": w, "out": out})
    assert_same(out, np.broadcast_to(w, (b, m, n)))


def test_blocks_outside_the_mask_storing_the_tile_they_never_received_are_undefined():
    """mc_pipe_2x2_partial_f32 stores W_s in every block, but only ranks 1 and 2 receive it: the
    GPU test reads only their outW; the interpreter says the others' store is undefined."""
    w, z = random((32, 5, 32), "float32"), random((2, 4, 5, 32, 32), "float32", seed=1)
    out_w, out_z = poisoned((2, 4, 5, 32, 32), "float32"), poisoned((2, 4, 5, 32, 32), "float32")
    with pytest.raises(InterpretError) as err:
        Program(KERNELS["mc_pipe_2x2_partial_f32"]).run({"W": w, "Z": z, "outW": out_w,
                                                          "outZ": out_z})
    assert "copy in block (bx=0, by=0), k = 0: stores 1024 elements of 'W_s' that no stage of " \
           "this block wrote" in str(err.value)
