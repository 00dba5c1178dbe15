"""tests/gpu/ndgather/ (gathers and scatters with computed indices, run by
tests/gpu/test_ndgather_gpu.py on the GPU) compiles without a GPU into a package of all its
kernels, each moving 16-byte vectors of the run per row, its index values read once per vector
and checked before any access: the fill's bits for a row out of range, nothing written by a
scatter row out of range or past the tokens' end."""
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT, assert_every_kernel_compiled, compiled_once, kernel_source

NDGATHER = ROOT / "tests" / "gpu" / "ndgather"


@pytest.fixture(scope="module")
def ndgather(tmp_path_factory):
    yield from compiled_once(tmp_path_factory, NDGATHER, "tlspec_ndgather_ci")


def test_every_kernel_of_ndgather_compiles(ndgather):
    assert_every_kernel_compiled(*ndgather, NDGATHER)


@pytest.mark.parametrize("name", ["paged_f16", "paged_bf16", "paged_f32", "paged_i8",
                                  "paged_heads_f16", "page_slot_rows_f16", "paged_write_f16",
                                  "paged_write_i8"])
def test_the_run_moves_as_16_byte_vectors(ndgather, name):
    source = kernel_source(ndgather[1], name)
    assert re.search(r"\*\(uint4\*\)\(\(?\(?\w*\*?\)?\(?cache_ptr", source), name


def test_the_page_is_read_once_per_vector_and_checked_in_64_bits(ndgather):
    source = kernel_source(ndgather[1], "paged_f16")
    assert "int64_t index0 = condval;" in source
    assert "((int64_t)0 <= index0)) && (index0 < ((int64_t)NP))" in source
    # the block table is read only inside it: its column t // P below MAXP
    assert re.search(r"if \(\(\(int\)blockIdx.x\) < MAXP\) \{\s*condval = \(\(int64_t\)"
                     r"block_table_ptr", source)


def test_a_row_out_of_range_gets_the_fill_bits(ndgather):
    source = kernel_source(ndgather[1], "paged_f16")
    assert "(ushort)64512;" in source            # 0xfc00, float16's -inf


def test_a_scatter_row_past_the_tokens_writes_nothing(ndgather):
    source = kernel_source(ndgather[1], "paged_write_i8")
    guard = re.search(r"if \((.*index0 < \(\(int64_t\)NP\)\))\) \{", source).group(1)
    assert "< T)" in guard
    assert "make_int4(0, 0, 0, 0)" not in source


@pytest.mark.parametrize("name", ["paged_pitched_table_f16", "paged_write_pitched_table_i8"])
def test_a_block_table_with_declared_strides_is_read_by_its_row_stride(ndgather, name):
    """(It was read row-major, by MAXP: differential seed 26.)"""
    reads = re.findall(r"block_table_ptr\[(.*?)\]\)?;", kernel_source(ndgather[1], name))
    assert reads and all("* LD)" in r and "MAXP" not in r for r in reads), reads
