"""LowerTileOp on copies between dtypes: each vector's bits are loaded into a register array
(one vectorized loop in src's bit type), converted element by element (an unrolled loop from
values of src's dtype to dst's), and stored from a second array (one vectorized loop in dst's
bit type); a fragment side is its registers, with no array or vector loop of its own."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from converting_copies import cast_kernel
from pipeline_support import run_through, tile_ir
from test_lower_tile_op import accessed, stages
from tvm import tirx


KINDS = {int(tirx.ForKind.VECTORIZED): "VECTORIZED", int(tirx.ForKind.UNROLLED): "UNROLLED"}


def loops(stmt) -> list[tuple[str, str]]:
    """(kind, stored buffer) of every loop over a vector's lanes, in order."""
    found = []

    def on_for(loop):
        if loop.loop_var.name == "v":
            store = loop.body
            found.append((KINDS[int(loop.kind)], store.buffer.name))

    tvm_ffi.structural_walk(stmt, (tirx.For, on_for), order="pre")
    return found


def lowered(*args, **kwargs):
    return stages(run_through(tile_ir(cast_kernel(*args, **kwargs)), "LowerTileOp")["main"])


def test_a_global_to_shared_conversion_loads_converts_and_stores_vectors():
    load, store = lowered("float32", "bfloat16", "float8_e4m3")
    assert accessed(load) == {"A": "uint32", "converted_in": "uint32",
                              "converted_out": "float16", "_flat_T": "float16"}
    assert loops(load) == [("VECTORIZED", "converted_in"), ("UNROLLED", "converted_out"),
                           ("VECTORIZED", "_flat_T")]
    assert accessed(store) == {"_flat_T": "float16", "converted_in": "float16",
                               "converted_out": "uint8", "B": "uint8"}


def test_the_conversion_reads_values_of_src_and_writes_bits_of_dst():
    load, _ = lowered("float32", "bfloat16", "float32")
    convert = []
    tvm_ffi.structural_walk(load, (tirx.For, lambda f: convert.append(f)
                                   if f.kind == tirx.ForKind.UNROLLED else None), order="pre")
    text = convert[0].script()
    assert 'T.reinterpret("float32", converted_in[' in text      # the loaded bits as values
    assert 'T.reinterpret("float16", T.Cast("bfloat16"' in text   # bf16 stored as 16 bits


def test_a_fragment_side_is_its_registers():
    load, store = lowered("int8", "float16", "int32", scope="fragment")
    assert loops(load) == [("VECTORIZED", "converted_in"), ("UNROLLED", "T")]
    assert loops(store) == [("UNROLLED", "converted_out"), ("VECTORIZED", "B")]


@pytest.mark.parametrize("src, nan", [("float8_e4m3", "2146435072"), ("float8_e5m2", "2147483647")])
def test_a_float8_nan_widens_with_its_sign_as_torch(src, nan):
    """CUDA's fp8 -> float conversion drops a NaN's sign (and makes e4m3's NaN 0x7fffffff);
    torch keeps it: the widening selects the NaN bits (0x7ff00000, 0x7fffffff) | sign."""
    load, _ = lowered(src, "float32", "float32")
    convert = []
    tvm_ffi.structural_walk(load, (tirx.For, lambda f: convert.append(f)
                                   if f.kind == tirx.ForKind.UNROLLED else None), order="pre")
    text = convert[0].script()
    assert "T.Select(" in text and f"T.uint32({nan})" in text
