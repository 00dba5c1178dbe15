"""InstructionAnnotation's choice for strided loads (`A[r : +16 : 2, c : +64]`): TMA through the
tensor map's element strides where the hardware allows it, else the SIMT loop with the reason
(`tma_blockers._stride_problems` and the driver's rules on the traversed box):

- steps on outer dimensions of 2 to 8 are TMA; the box the map traverses is count x step per
  dimension, at most 256;
- a step on the innermost dimension is not (the driver ignores elementStrides[0] without
  interleave), nor a step above 8, a traversed box above 256, a strided store, a region that may start before the tensor, nor a fill other than zero where the region
  may leave the tensor (TMA fills zeros);
- a partial tile at the tensor's end is TMA (zero fill, as the spec's default fill)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from pipeline_support import run_through, tile_ir

from tlspec.compiler import ops
from tlspec.compiler.analysis import tile_calls


def load(src: str, *, dtype="float16", tile="[16, 64]", m="2048", extra="",
         a="{scope: global, shape: [M, N], dtype: %s, io: in}", dims="",
         b="[64, 64]", store="B[0 : +16, 0 : +64]") -> dict:
    """The decision for the first stage, `copy: {src, dst: T}` into a shared tile."""
    text = f"""
tlspec: 1
name: tma_stride
target: sm_90a
dims: {{M: {m}, N: 1024{dims}}}
buffers:
  A: {a % dtype}
  B: {{scope: global, shape: {b}, dtype: {dtype}, io: out}}
  T: {{scope: shared, shape: {tile}, dtype: {dtype}}}
launch:
  grid: {{bx: 8, by: 8, bz: 2}}
  threads: 128
stages:
  - copy: {{src: "{src}", dst: T{extra}}}
  - copy: {{src: T, dst: "{store}"}}
"""
    mod = run_through(tile_ir(text), "InstructionAnnotation")
    return ops.config_of(next(tile_calls(mod["main"].body)))


def tma(decision) -> bool:
    return decision["tlspec.instruction"] == "tma"


@pytest.mark.parametrize("step", [2, 3, 4, 8])
def test_a_step_on_the_rows_is_one_tma_copy_with_element_strides(step):
    decision = load(f"A[by*{16 * step} : +16 : {step}, bx*64 : +64]")
    assert tma(decision)
    assert decision["tlspec.why"] == (
        f"global -> shared on sm_90a: one TMA bulk copy with element strides [{step}, 1] (a "
        f"{16 * step} x 64 box traversed, 16 x 64 elements loaded)")


@pytest.mark.parametrize("dtype", ["float32", "int8", "float8_e4m3", "bfloat16"])
def test_every_dtype_moves_by_element_strides(dtype):
    assert tma(load("A[by*32 : +16 : 2, bx*64 : +64]", dtype=dtype))


def test_steps_on_two_outer_dimensions_of_a_3d_tensor():
    decision = load("A[bz*4 : +2 : 2, by*24 : +8 : 3, bx*64 : +64]", tile="[2, 8, 64]",
                    a="{scope: global, shape: [8, M, N], dtype: %s, io: in}",
                    b="[2, 8, 64]", store="B[0 : +2, 0 : +8, 0 : +64]")
    assert tma(decision)
    assert "element strides [2, 3, 1] (a 4 x 24 x 64 box traversed" in decision["tlspec.why"]


def test_an_odd_start_is_a_tma_coordinate_like_any_other():
    """The odd rows (`A[1::2]`): the box starts at row 1 and steps by 2 from there."""
    assert tma(load("A[by*32 + 1 : +16 : 2, bx*64 : +64]"))


def test_a_partial_tile_at_the_end_is_tma_reading_zeros_past_it():
    assert tma(load("A[by*32 : +16 : 2, bx*64 : +64]", m="250"))


def test_a_pitched_view_whose_rows_are_16_byte_multiples_is_tma():
    decision = load("A[by*32 : +16 : 2, bx*64 : +64]", dims=", LD: 1088",
                    a="{scope: global, shape: [M, N], strides: [LD, 1], dtype: %s, io: in}")
    assert tma(decision)


NOT_TMA = {
    "a step on the contiguous dimension": (
        dict(src="A[by*16 : +16, bx*128 : +64 : 2]"),
        "'A' has step 2 in dimension 1: TMA traverses the innermost (contiguous) dimension "
        "with an element stride of 1 (the driver ignores elementStrides[0] without interleave)"),
    "a step of 9": (
        dict(src="A[by*144 : +16 : 9, bx*64 : +64]"),
        "TMA element strides are 1 to 8, not 9"),
    "a traversed box of 512 rows": (
        dict(src="A[by*512 : +64 : 8, bx*64 : +64]", tile="[64, 64]", m="4096",
             store="B[0 : +64, 0 : +64]"),
        "TMA boxes have 1 to 256 elements per dimension; this one has 512"),
    "a region that may start before the tensor": (
        dict(src="A[by*32 - 2 : +16 : 2, bx*64 : +64]"),
        "'A' has step 2 in dimension 0, and its region may start before the tensor in dimension "
        "0 (at by * 32 - 2): a strided TMA load is used only from coordinates proven not "
        "negative"),
    "a fill other than zero past the tensor's end": (
        dict(src="A[by*32 : +16 : 2, bx*64 : +64]", m="250", extra=", fill: -1"),
        "fill -1 is not zero: TMA reads zeros outside a tensor"),
}


@pytest.mark.parametrize("case", NOT_TMA)
def test_what_tma_cannot_traverse_is_a_simt_loop_saying_why(case):
    options, reason = NOT_TMA[case]
    decision = load(**options)
    assert decision["tlspec.instruction"] == "sync"
    assert reason in decision["tlspec.why"]


def test_a_strided_store_is_a_simt_loop_saying_why():
    text = """
tlspec: 1
name: strided_store
target: sm_90a
dims: {M: 2048, N: 1024}
buffers:
  A: {scope: global, shape: [M, N], dtype: float16, io: in}
  B: {scope: global, shape: [M, N], dtype: float16, io: out}
  T: {scope: shared, shape: [16, 64], dtype: float16}
launch:
  grid: {bx: 8, by: 8}
  threads: 128
stages:
  - copy: {src: "A[by*16 : +16, bx*64 : +64]", dst: T}
  - copy: {src: T, dst: "B[by*32 : +16 : 2, bx*64 : +64]"}
"""
    mod = run_through(tile_ir(text), "InstructionAnnotation")
    store = ops.config_of(list(tile_calls(mod["main"].body))[1])
    assert store["tlspec.instruction"] == "sync"
    assert "'B' has step 2 in dimension 0: a strided store is a SIMT loop (TMA element strides " \
        "are used for loads only)" in store["tlspec.why"]
