"""The CUDA driver's rules for tiled TMA descriptors (`cuTensorMapEncodeTiled`), in one place.

Every TMA copy tlspec emits is described by one tensor map; a map the driver refuses makes every
call of the kernel fail with CUDA_ERROR_INVALID_VALUE. These are the driver's rules, from the
CUDA driver API reference of cuTensorMapEncodeTiled, checked against an H200 (driver 580):

- rank (the number of dimensions) 1 to 5; 3 to 5 with an interleaved layout;
- the global address a multiple of 16 bytes (32 with the 32-byte interleave): a compiled
  kernel's run time refuses every pointer that is not 16-byte aligned;
- every global dimension in [1, 2**32];
- every global stride (bytes, for dimensions 1 .. rank-1) a multiple of 16 (32 with the 32-byte
  interleave) and below 2**40;
- every box extent in [1, 256]; without interleave the innermost box extent spans a multiple of
  16 bytes; with a swizzle it spans at most the swizzle (32, 64 or 128 bytes); the whole box at
  most 228 KiB (not in the reference: measured, 233472 bytes accepted, 234496 refused);
- every element stride in [1, 8]; without interleave the innermost one is 1 (the driver ignores
  it, and the PTX ISA's traversal stride of dimension 0 must be 1 for a non-interleaved layout);
  a box of N * s elements along a dimension of element stride s moves ceil(N * s / s) = N of
  them ("To load N elements along i-th dimension, boxDim[i] must be set to N *
  elementStrides[i]"), so that the 256 and 228 KiB limits hold for the traversed box;
- the 32-byte interleave only with the 32-byte swizzle;
- the NaN out-of-bounds fill only for floating-point data.

Three more facts of TMA that are not rules of the encoding but of the copy, also here because the
compiler must respect them:
- the innermost dimension spans a multiple of 16 bytes: on an H200, rank-1 copies of 1 and 1023
  float32 elements, through maps the driver accepted, did not copy bit-exactly inside poisoned
  guard regions, while 1024 and 5000 elements did (a tensor of higher rank has this already:
  its row stride is that multiple);
- a tensor copy's shared-memory address is a multiple of 128 bytes;
- with a swizzle, TMA lays every box row out over a whole swizzle span (a row narrower than the
  span is padded to it) and swizzles 16-byte chunks by the bits of the shared-memory *address*
  above the span, so a tile must start at a multiple of 8 spans for its pattern to start at its
  first row (measured on an H200, loads and stores, every swizzle and inner box size).

Dimensions are in the driver's order here: index 0 is the innermost. A value of None is one not
known yet (a size given only at the call): rules on it are left to whoever knows it. This module
imports nothing of tlspec or tvm: validation, the compiler and the launch runtime of a compiled
package (which ships a copy of it as `_tensormap_rules.py`) all use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import NamedTuple, Optional, Sequence

MAX_RANK = 5
MIN_INTERLEAVED_RANK = 3
MAX_DIM = 2**32                 # inclusive
MAX_STRIDE = 2**40              # exclusive
MAX_BOX = 256
MAX_BOX_BYTES = 228 * 1024
MAX_ELEMENT_STRIDE = 8
ALIGN = 16                      # global address, strides, innermost box bytes
INTERLEAVE_32B_ALIGN = 32       # global address and strides with the 32-byte interleave
SHARED_ALIGN = 128              # the shared-memory address of a tensor copy
SWIZZLE_BYTES = {"none": 0, "32B": 32, "64B": 64, "128B": 128}
INTERLEAVES = ("none", "16B", "32B")
L2_PROMOTIONS = ("none", "64B", "128B", "256B")
OOB_FILLS = ("none", "nan")

Value = Optional[int]

INNER_ELEMENT_STRIDE = ("TMA traverses the innermost (contiguous) dimension with an element stride "
                        "of 1 (the driver ignores elementStrides[0] without interleave)")


@dataclass(frozen=True)
class TensorMap:
    """The arguments of one cuTensorMapEncodeTiled call, innermost dimension first."""
    elem_bytes: int
    dims: Sequence[Value]
    strides: Sequence[Value]            # bytes, of dims 1 .. rank-1
    box: Sequence[Value]
    element_strides: Sequence[Value] = field(default=())   # () for all ones
    interleave: str = "none"
    swizzle: str = "none"
    l2_promotion: str = "none"
    oob_fill: str = "none"
    floating: bool = True               # the data type is a floating-point one

    @property
    def rank(self) -> int:
        return len(self.dims)


class Violation(NamedTuple):
    rule: str          # rank | dim | stride | box | element_stride | inner_box | swizzle | ...
    message: str       # a sentence, without the tensor's name: the caller says which map

    def __str__(self) -> str:
        return self.message


def strided_problem(element_strides: Sequence[int], store: bool) -> Optional[str]:
    """Why tlspec moves no region of these element strides (innermost first) by TMA, beyond the
    driver's rules on its map (`violations`), or None: a strided store (that a TMA store honours
    element strides is not established: it is a SIMT loop), a stride of the innermost
    dimension."""
    if all(stride == 1 for stride in element_strides):
        return None
    if store:
        return "a strided store is a SIMT loop (TMA element strides are used for loads only)"
    return INNER_ELEMENT_STRIDE if element_strides[0] != 1 else None


def violations(m: TensorMap) -> list[Violation]:
    """What the driver would refuse in `m`; [] when it accepts every known value."""
    found = []

    def add(rule: str, message: str) -> None:
        found.append(Violation(rule, message))

    stride_align = INTERLEAVE_32B_ALIGN if m.interleave == "32B" else ALIGN
    for what, value, legal in (("swizzle", m.swizzle, SWIZZLE_BYTES),
                               ("interleave", m.interleave, INTERLEAVES),
                               ("L2 promotion", m.l2_promotion, L2_PROMOTIONS),
                               ("out-of-bounds fill", m.oob_fill, OOB_FILLS)):
        if value not in legal:
            add("enum", f"the {what} {value!r} is none of {', '.join(legal)}")
    if not 1 <= m.rank <= MAX_RANK:
        add("rank", f"TMA handles tensors of 1 to {MAX_RANK} dimensions, not {m.rank}")
    elif m.interleave != "none" and m.rank < MIN_INTERLEAVED_RANK:
        add("rank", f"an interleaved tensor map has {MIN_INTERLEAVED_RANK} to {MAX_RANK} "
                    f"dimensions, not {m.rank}")
    if len(m.strides) != max(m.rank - 1, 0) or len(m.box) != m.rank or \
            len(m.element_strides) not in (0, m.rank):
        add("arrays", f"a tensor map of {m.rank} dimensions has {m.rank - 1} strides and "
                      f"{m.rank} box extents, not {len(m.strides)} and {len(m.box)}")
        return found
    for dim in m.dims:
        if dim is not None and not 1 <= dim <= MAX_DIM:
            add("dim", f"TMA needs dimensions of 1 to 2**32 elements; one has {dim}")
    for stride in m.strides:
        if stride is not None and stride % stride_align:
            add("stride", f"TMA needs strides that are multiples of {stride_align} bytes; one is "
                          f"{stride} bytes")
        if stride is not None and not 0 <= stride < MAX_STRIDE:
            add("stride", f"TMA needs strides below 2**40 bytes; one is {stride} bytes")
    if m.rank == 1 and m.dims[0] is not None and m.dims[0] * m.elem_bytes % ALIGN:
        # (at a higher rank the stride of dimension 1, that multiple, says it)
        add("inner_dim", f"TMA copies a tensor whose innermost dimension spans a multiple of "
                         f"{ALIGN} bytes; this one spans {m.dims[0] * m.elem_bytes}")
    for extent in m.box:
        if extent is not None and not 1 <= extent <= MAX_BOX:
            add("box", f"TMA boxes have 1 to {MAX_BOX} elements per dimension; this one has "
                       f"{extent}")
    if None not in m.box and prod(m.box) * m.elem_bytes > MAX_BOX_BYTES:
        add("box_bytes", f"a TMA box holds at most {MAX_BOX_BYTES} bytes; this one "
                         f"{prod(m.box) * m.elem_bytes}")
    for stride in m.element_strides:
        if stride is not None and not 1 <= stride <= MAX_ELEMENT_STRIDE:
            add("element_stride", f"TMA element strides are 1 to {MAX_ELEMENT_STRIDE}, not {stride}")
    if m.interleave == "none" and m.element_strides and m.element_strides[0] not in (None, 1):
        add("inner_element_stride", INNER_ELEMENT_STRIDE)
    inner = m.box[0] * m.elem_bytes if m.box and m.box[0] is not None else None
    span = SWIZZLE_BYTES.get(m.swizzle, 0)
    if inner is not None and m.interleave == "none" and inner % ALIGN:
        add("inner_box", f"the box's innermost extent spans {inner} bytes; TMA needs a multiple "
                         f"of {ALIGN}")
    if inner is not None and m.interleave == "none" and span and inner > span:
        add("swizzle", f"the box's innermost extent spans {inner} bytes, more than the "
                       f"{span}-byte swizzle")
    if m.interleave == "32B" and m.swizzle != "32B":
        add("interleave", "the 32-byte interleave needs the 32-byte swizzle")
    if m.oob_fill == "nan" and not m.floating:
        add("oob_fill", "the NaN out-of-bounds fill needs a floating-point data type")
    return found
