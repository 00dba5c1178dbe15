"""tests/gpu/strided/ (strided regions, run by tests/gpu/test_strided_gpu.py on the GPU) compiles
without a GPU into a package of all its kernels: strided loads element by element along a
strided contiguous dimension, the fill's bits outside a strided halo. (The vector widths are
tested at the pass: tests/compiler/passes/test_instruction_annotation_strided.py.)"""

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import (ROOT, assert_every_kernel_compiled, compiled_once, kernel_manifest,
                      kernel_source)


STRIDED = ROOT / "tests" / "gpu" / "strided"


@pytest.fixture(scope="module")
def strided(tmp_path_factory):
    yield from compiled_once(tmp_path_factory, STRIDED, "tlspec_strided_ci")


def test_every_kernel_of_strided_compiles(strided):
    assert_every_kernel_compiled(*strided, STRIDED)


def test_deinterleave_reads_every_other_element(strided):
    source = kernel_source(strided[1], "deinterleave_f32")
    assert "shared__cluster_global" not in source            # no TMA
    # one 4-byte element per access, at column bx*128 + 2 * (tid % 64) (+ 1 for the odd ones)
    assert "((uint*)A_ptr)[(((((int)blockIdx.x) * 128) + ((((int)threadIdx.x) & 63) * 2))" \
        in source


def test_a_strided_halo_stores_the_fill_bits(strided):
    assert "(uchar)157" in kernel_source(strided[1], "strided_halo_i8")      # -99 is 0x9d


def test_a_pitched_view_is_addressed_by_its_pitch_and_bounded_by_its_shape(strided):
    source = kernel_source(strided[1], "pitched_copy_f16")
    assert "(((int)threadIdx.x) >> 6)) * LD)) + (((int)threadIdx.x) & 63))]" in source
    assert "(((int)threadIdx.x) & 63)) < N)" in source and "< LD" not in source


def test_the_tensor_maps_of_pitched_views_have_their_pitches_as_row_strides(strided):
    maps = {t["argument"]: t["strides"] for t in kernel_manifest(strided[1], "pitched_tma_f16")
            ["tensormaps"]}
    assert maps == {"A": [{"op": "*", "args": [{"dim": "LD"}, 2]}],
                    "B": [{"op": "*", "args": [{"dim": "LDB"}, 2]}]}


def test_a_pitch_not_known_to_be_16_bytes_keeps_simt_and_the_wrapper_checks_strides(strided):
    m = kernel_manifest(strided[1], "pitched_copy_f32")
    assert m["tensormaps"] == []
    assert m["arguments"][0]["strides"] == [{"dim": "LD"}, 1]
    assert {"expr": {"op": "*", "args": [{"dim": "LD"}, {"dim": "M"}]}, "op": "<=",
            "bound": 2**31 - 1, "message": "A is indexed with int32: stride 0 times extent 0 "
                                           "must stay below 2**31"} in m["checks"]


def test_an_nchw_im2col_moves_one_element_per_access(strided):
    source = kernel_source(strided[1], "unfold_f16")
    assert "uint2" not in source and "uint4" not in source      # no vector loads or stores


PITCHED_STRIDED_STORE = """
tlspec: 1
name: pitched_strided_store
target: sm_80
dims:
  D1: 3
  M2: {symbolic: true, multiple_of: 2}
  M3: symbolic
  LD7: {symbolic: true, min: 48, multiple_of: 4}
buffers:
  A: {scope: global, shape: [D1, M2, M3], dtype: int32, io: in}
  B: {scope: global, shape: [D1, M2 * 7 - 6, M3], dtype: int32, io: out,
      strides: ["(M2 * 7 - 6) * LD7", LD7, 1]}
  S: {scope: shared, shape: [3, 32, 48], dtype: int32}
launch:
  grid: {bx: D1}
  threads: 256
stages:
  - for:
      var: k0
      extent: ceildiv(M3, 48)
      stages:
        - for:
            var: k1
            extent: ceildiv(M2, 32)
            stages:
              - copy: {src: "A[bx, k1*32 : +32, k0*48 : +48]", dst: "S[k0 % 3, :, :]"}
              - copy: {src: "S[k0 % 3, :, :]", dst: "B[bx, k1*32*7 + 5 : +32 : 7, k0*48 : +48]"}
"""


def test_a_pitched_view_whose_rows_are_a_quotient_of_strides_compiles():
    """The view of B has rows of ((M2 * 7 - 6) * LD7) // LD7: simplified to M2 * 7 - 6 (with
    LD7 >= 48), not left a symbolic division, which LowerSymbolicDivision made a Let in the
    buffer's shape and UnrollLoop could not copy (differential seed 33's k33_548: "variables
    (B5, ...) are used, but are not passed in as API arguments")."""
    from tlspec.compiler.driver import compile_kernel
    from tlspec.validate import validate_text
    (kernel,) = validate_text(PITCHED_STRIDED_STORE).kernels
    assert "pitched_strided_store" in compile_kernel(kernel).source
