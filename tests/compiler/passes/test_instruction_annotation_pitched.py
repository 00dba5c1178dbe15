"""InstructionAnnotation on global tensors with declared strides: the tensor map's row stride is
the pitch, so a copy stays one TMA copy where the pitch is a multiple of 16 bytes (a constant, or
a dim's multiple_of) and is a SIMT loop that says why otherwise; the vectors of a SIMT loop are
bounded by the pitch as by a row's length."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from test_instruction_annotation_strided import load_decision


def pitched_copy(pitch: str, dims: str = "") -> str:
    return f"""
tlspec: 1
name: pitched
target: sm_90a
dims: {{M: 1024, N: 1000{dims}}}
buffers:
  A: {{scope: global, shape: [M, N], strides: [{pitch}, 1], dtype: float16, io: in}}
  B: {{scope: global, shape: [M, 1024], dtype: float16, io: out}}
  T: {{scope: shared, shape: [16, 64], dtype: float16}}
launch:
  grid: {{bx: 16, by: 64}}
  threads: 128
stages:
  - copy: {{src: "A[by*16 : +16, bx*64 : +64]", dst: T}}
  - copy: {{src: T, dst: "B[by*16 : +16, bx*64 : +64]"}}
"""


@pytest.mark.parametrize("pitch, dims", [("1024", ""), ("LD", ", LD: {symbolic: true, multiple_of: 8}")])
def test_a_pitch_of_whole_16_bytes_keeps_tma(pitch, dims):
    assert load_decision(pitched_copy(pitch, dims))["tlspec.instruction"] == "tma"


def test_a_symbolic_pitch_without_multiple_of_is_simt_and_says_why():
    load = load_decision(pitched_copy("LD", ", LD: symbolic"))
    assert (load["tlspec.instruction"], load["tlspec.vector"]) == ("sync", 1)
    assert "a row stride of 'A' (LD elements) is not proven to be a multiple of 16 bytes" \
        in load["tlspec.why"]


def test_an_odd_constant_pitch_is_simt_with_single_elements():
    load = load_decision(pitched_copy("1001"))
    assert (load["tlspec.instruction"], load["tlspec.vector"]) == ("sync", 1)
    assert "2002" in load["tlspec.why"]            # the stride in bytes, not a multiple of 16


def pitched_store(width: int, pitch: int, dtype: str = "float32") -> str:
    return f"""
tlspec: 1
name: pitched_store
target: sm_90a
dims: {{M: 7, N: {width}}}
buffers:
  B: {{scope: global, shape: [M, N], strides: [{pitch}, 1], dtype: {dtype}, io: out}}
  T: {{scope: shared, shape: [2, 32], dtype: {dtype}}}
launch:
  grid: {{bx: "ceildiv(M, 2)"}}
  threads: 128
stages:
  - copy: {{src: T, dst: "B[bx*2 : +2, 0 : +32]"}}
"""


def test_a_pitched_row_not_spanning_whole_16_bytes_is_no_tma_copy():
    """TMA bounds a row at 16-byte units: on the H200 a TMA store to rows of 19 float32 (76
    bytes) with a pitch of 20 wrote the 20th element, the gap, of every row (differential seed
    26). The pitch being a multiple of 16 bytes is not enough."""
    store = load_decision(pitched_store(19, 20))
    assert store["tlspec.instruction"] != "tma"
    assert "the length of 'B' (19 elements) is not proven to span a multiple of 16 bytes" \
        in store["tlspec.why"]
    assert load_decision(pitched_store(20, 24))["tlspec.instruction"] == "tma"


def batched_pitched_store(width: str) -> str:
    return f"""
tlspec: 1
name: batched_pitched_store
target: sm_90a
dims:
  M: symbolic
  N: {{symbolic: true, max: 216{width}}}
  LD: {{symbolic: true, min: 216, multiple_of: 4}}
buffers:
  B: {{scope: global, shape: [16, M, N], strides: [M * LD, LD, 1], dtype: int32, io: out}}
  T: {{scope: shared, shape: [8, 24], dtype: int32}}
launch:
  grid: {{bx: "ceildiv(M, 8)", by: 16}}
  threads: 128
stages:
  - copy: {{src: T, dst: "B[by, bx*8 : +8, 0 : +24]"}}
"""


def test_a_batch_of_pitched_rows_of_a_symbolic_width_is_tma_only_for_whole_16_bytes():
    """Differential seed 26's k26_912: rows of M2 int32 (67, 59, 1), LD11 apart, stored by TMA,
    got the rest of their last 16-byte unit written; the row's length is the innermost dim,
    whatever the tensor's rank."""
    store = load_decision(batched_pitched_store(""))
    assert store["tlspec.instruction"] != "tma"
    assert "the length of 'B' (N elements) is not proven to span a multiple of 16 bytes" \
        in store["tlspec.why"]
    assert load_decision(batched_pitched_store(", multiple_of: 4"))["tlspec.instruction"] == "tma"
