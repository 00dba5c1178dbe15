"""tlspec.tensormap_rules against what cuTensorMapEncodeTiled answered on an H200 (driver 580,
CUDA 13.0): each case below is a call the driver accepted (rule None) or refused with
CUDA_ERROR_INVALID_VALUE (the rule that says why), except those marked COPY: maps the driver
encoded but whose copies did not move the tensor bit-exactly (the innermost dimension must span a
multiple of 16 bytes). Dimensions are innermost first, as the driver takes them; F16, F32 and U8
are the element sizes."""
import pytest

from tlspec.tensormap_rules import TensorMap, strided_problem, violations

F16, F32, U8 = 2, 4, 1


def rank2(box, *, dims=(64, 64), stride=128, swizzle="none", elem=F16, element_strides=(1, 1)):
    return TensorMap(elem, list(dims), [stride], list(box), list(element_strides), swizzle=swizzle)


CASES = {
    "rank 1": (TensorMap(F32, [1024], [], [256], [1]), None),
    "COPY rank 1, a length not a multiple of 16 bytes": (TensorMap(F32, [1001], [], [256], [1]),
                                                         "inner_dim"),
    "rank 1, 2**32 elements": (TensorMap(U8, [2**32], [], [256], [1]), None),
    "rank 1, 2**32 + 16 elements": (TensorMap(U8, [2**32 + 16], [], [256], [1]), "dim"),
    "rank 1, no element": (TensorMap(F32, [0], [], [256], [1]), "dim"),
    "a 16-byte inner box": (TensorMap(F32, [1000], [], [4], [1]), None),
    "an 8-byte inner box": (TensorMap(F32, [1000], [], [2], [1]), "inner_box"),
    "a box larger than the tensor": (TensorMap(F32, [4], [], [256], [1]), None),
    "rank 2": (rank2([64, 64]), None),
    "a stride of 8 bytes": (rank2([8, 8], dims=(8, 64), stride=8), "stride"),
    "a stride of 2**40 - 16 bytes": (rank2([64, 2], dims=(64, 2), stride=2**40 - 16), None),
    "a stride of 2**40 bytes": (rank2([64, 2], dims=(64, 2), stride=2**40), "stride"),
    "a padded row (stride above the row)": (rank2([32, 4], dims=(1000, 4), stride=4016,
                                                  elem=F32), None),
    "a box of 228 KiB": (rank2([256, 228], dims=(256, 256), stride=1024, elem=F32), None),
    "a box of 229 KiB": (rank2([256, 229], dims=(256, 256), stride=1024, elem=F32), "box_bytes"),
    "a box of 256": (rank2([64, 256], dims=(64, 4096)), None),
    "a box of 257": (rank2([64, 257], dims=(64, 4096)), "box"),
    "a box of 0": (rank2([64, 0], dims=(64, 4096)), "box"),
    "an 8-byte inner box, rank 2": (rank2([4, 8]), "inner_box"),
    "element strides of 8": (rank2([8, 8], element_strides=(1, 8)), None),
    "an element stride of 9": (rank2([8, 8], element_strides=(1, 9)), "element_stride"),
    "an element stride of 0": (rank2([8, 8], element_strides=(1, 0)), "element_stride"),
    "rank 5": (TensorMap(F16, [8, 2, 2, 2, 2], [16, 32, 64, 128], [8, 2, 2, 2, 2]), None),
    "rank 6": (TensorMap(F16, [8, 2, 2, 2, 2, 2], [16, 32, 64, 128, 256], [8, 2, 2, 2, 2, 2]),
               "rank"),
    "an interleaved map of rank 2": (TensorMap(F16, [64, 64], [128], [8, 8], interleave="16B"),
                                     "rank"),
    "an interleaved map of rank 3": (TensorMap(F16, [8, 64, 4], [16, 1024], [8, 8, 4],
                                               interleave="16B"), None),
    "the NaN fill of int32 data": (TensorMap(4, [64, 64], [256], [8, 8], oob_fill="nan",
                                             floating=False), "oob_fill"),
    "the NaN fill of fp16 data": (TensorMap(F16, [64, 64], [128], [8, 8], oob_fill="nan"), None),
}
# the swizzles: an inner box of 16 bytes to the span is accepted, one past it refused
for span in (32, 64, 128):
    for inner in range(16, 145, 16):
        CASES[f"a {inner}-byte inner box, {span}-byte swizzle"] = (
            rank2([inner // F16, 8], dims=(128, 64), stride=256, swizzle=f"{span}B"),
            None if inner <= span else "swizzle")


@pytest.mark.parametrize("tensor_map, rule", CASES.values(), ids=CASES.keys())
def test_the_rules_answer_as_the_driver_did(tensor_map, rule):
    assert [v.rule for v in violations(tensor_map)] == ([] if rule is None else [rule])


def test_unknown_values_are_left_to_whoever_knows_them():
    assert violations(TensorMap(F16, [None, None], [None], [64, 64])) == []


def test_a_violation_says_what_is_wrong():
    [problem] = violations(rank2([64, 257], dims=(64, 4096)))
    assert str(problem) == "TMA boxes have 1 to 256 elements per dimension; this one has 257"


def test_the_32_byte_interleave_needs_the_32_byte_swizzle():
    """The reference's rule, kept although this driver encoded such a map: tlspec never emits
    an interleaved map, and the rule errs on the side of a refusal."""
    m = TensorMap(F16, [16, 64, 4], [32, 2048], [16, 8, 4], interleave="32B")
    assert [v.rule for v in violations(m)] == ["interleave"]


def test_the_innermost_element_stride_is_one():
    """The reference's rule (the driver ignores elementStrides[0] without interleave, and the PTX
    ISA's traversal stride of dimension 0 must then be 1): a map that strides the innermost
    dimension would not move what it says, so it is refused. Outer element strides of 2 to 8
    are legal (see CASES)."""
    assert [v.rule for v in violations(rank2([8, 8], element_strides=(2, 1)))] == \
        ["inner_element_stride"]
    assert violations(rank2([64, 128], element_strides=(1, 2))) == []


def test_what_tlspec_moves_by_element_strides():
    """Loads with outer element strides only; a strided store or an innermost stride never (the
    driver would encode them, but they are not what tlspec can show moves right)."""
    assert strided_problem([1, 1], store=True) is None
    assert strided_problem([1, 2, 8], store=False) is None
    assert "innermost (contiguous) dimension" in strided_problem([2, 1], store=False)
    assert "strided store" in strided_problem([1, 2], store=True)
