"""Physical layouts of shared-memory tiles, as LayoutInference chooses them.

A tile keeps its logical shape in the IR; its storage is one of
- `row_major`: rows one after another;
- `padded`: each row followed by 16 bytes of padding, so that a column of the tile falls into
  different banks (a pitch of 2-byte elements: cols + 8);
- `swizzle_<S>B` (S = 32, 64, 128): row-major bytes whose 16-byte chunk index is XORed with the
  row bits above the S-byte span, the pattern TMA's CU_TENSOR_MAP_SWIZZLE_<S>B writes and reads
  (CUTLASS Swizzle<log2(S/16), 4, 3>).

`offset` gives the element offset of an access whose innermost index is the start of a vector
of at most 16 bytes that does not cross a 16-byte chunk: lowering adds the vector lane to it, so
swizzled and padded accesses stay vector accesses.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from tvm import tirx

PAD_BYTES = 16
SWIZZLES = {"swizzle_32B": 32, "swizzle_64B": 64, "swizzle_128B": 128}


@dataclass(frozen=True)
class TileLayout:
    kind: str                  # row_major | padded | swizzle_32B | swizzle_64B | swizzle_128B
    shape: tuple[int, ...]
    elem_bytes: int

    @property
    def pitch(self) -> int:
        """Elements from the start of one row to the next."""
        cols = self.shape[-1]
        return cols + PAD_BYTES // self.elem_bytes if self.kind == "padded" else cols

    @property
    def size(self) -> int:
        """Elements of storage."""
        return prod(self.shape[:-1]) * self.pitch

    @property
    def swizzle_bytes(self) -> int:
        return SWIZZLES.get(self.kind, 0)

    @property
    def alignment(self) -> int:
        """Byte alignment the tile's storage needs (TMA swizzle atoms repeat every 8 rows)."""
        return 8 * self.swizzle_bytes if self.swizzle_bytes else 128

    def offset(self, indices: list[tirx.PrimExpr]) -> tirx.PrimExpr:
        row = 0
        for index, extent in zip(indices[:-1], self.shape[:-1]):
            row = row * extent + index
        linear = row * self.pitch + indices[-1]
        if not self.swizzle_bytes:
            return linear
        e = self.elem_bytes
        chunks = self.swizzle_bytes // 16
        byte = linear * e
        chunk = tirx.floormod(tirx.floordiv(byte, 16), chunks)
        phase = tirx.floormod(tirx.floordiv(byte, 128), chunks)
        swizzled_chunk = tirx.bitwise_xor(chunk, phase)
        return linear + (swizzled_chunk - chunk) * (16 // e)
