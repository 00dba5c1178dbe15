"""tests/gpu/fill/ (fill values and halos, run by tests/gpu/test_fill_gpu.py on the GPU) compiles
without a GPU into a package of all its kernels, each moving data the way docs/spec.md says:
a zero-fill halo by one TMA load at negative coordinates, a -inf one by 16-byte SIMT vectors,
a misaligned halo element by element, and the fill's bits in the source, never a converted
number."""
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT, assert_every_kernel_compiled, compiled_once, kernel_source

FILL = ROOT / "tests" / "gpu" / "fill"


@pytest.fixture(scope="module")
def fill(tmp_path_factory):
    yield from compiled_once(tmp_path_factory, FILL, "tlspec_fill_ci")


def test_every_kernel_of_fill_compiles(fill):
    assert_every_kernel_compiled(*fill, FILL)


def test_a_zero_halo_is_one_tma_load_at_negative_coordinates(fill):
    source = kernel_source(fill[1], "halo_2d_zero_f16")
    load = re.search(r"bulk_tensor_2d_shared__cluster_global[^(]*\((.*)\);", source).group(1)
    assert "* 64) - 8)" in load and "* 16) - 1)" in load


def test_a_minus_inf_halo_is_16_byte_vectors_filled_with_its_bits(fill):
    source = kernel_source(fill[1], "halo_2d_fill_f16")
    assert "shared__cluster_global" not in source           # no TMA load
    assert "*(uint4*)(A_ptr" in source or "*(uint4*)(((half*)A_ptr)" in source
    assert "(ushort)64512" in source                     # -inf as float16 bits, 0xfc00


def test_a_misaligned_row_halo_moves_element_by_element(fill):
    source = kernel_source(fill[1], "halo_row_f32")
    assert not re.search(r"\*\((u?int|uint|float)[248]\*\)\(\(\(uint\*\)A_ptr", source)
    assert "4286578688" in source                        # -inf as float32 bits, 0xff800000


@pytest.mark.parametrize("name, bits", [("sentinel_i8", "(uchar)157"),     # -99 is 0x9d
                                        ("gather_fill_i8", "make_int4(-1650614883"),   # 16 of them
                                        ("im2col_fill_i8", "(uint)2644352413")])   # 4 of them
def test_an_int8_sentinel_is_its_bits(fill, name, bits):
    assert bits in kernel_source(fill[1], name)


def test_the_columns_past_the_last_tap_hold_the_fills_bits(fill):
    """im2col writes the fill into the columns past its last tap itself (no load to guard):
    as float16 bits too, never the number 64512 (0xfc00 read as an integer)."""
    source = kernel_source(fill[1], "im2col_fill_f16")
    assert "6.451200e+04" not in source and "(ushort)64512" in source
