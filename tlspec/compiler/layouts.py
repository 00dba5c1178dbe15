"""Addressing shared-memory tiles in their physical layouts (`tlspec.layouts` gives the storage
geometry: pitch, size, alignment; LayoutInference chooses the layout).

`offset` gives the element offset of an access whose innermost index is the start of a vector
of at most 16 bytes that does not cross a 16-byte chunk: lowering adds the vector lane to it, so
swizzled and padded accesses stay vector accesses. A swizzled tile's 16-byte chunks are permuted
by the byte-address bits above the span (`tensormap_rules`: TMA's own pattern, CUTLASS
Swizzle<log2(S/16), 4, 3>); offsets are from the tile's start, which is aligned to the pattern's
repeat, so the bits of the offset are those of the address.
"""
from __future__ import annotations

from tvm import tirx
from tvm.tirx.layout import ComposeLayout, S
from tvm.tirx.layout import TileLayout as TirxLayout

from ..layouts import SWIZZLE_REPEAT, TileStorage

CHUNK = 16                  # bytes a swizzle moves as one


class TileLayout(TileStorage):
    def offset(self, indices: list[tirx.PrimExpr]) -> tirx.PrimExpr:
        row = 0
        for index, extent in zip(indices[:-1], self.shape[:-1]):
            row = row * extent + index
        linear = row * self.pitch + indices[-1]
        if not self.swizzle_bytes:
            return linear
        e = self.elem_bytes
        chunks = self.swizzle_bytes // CHUNK
        byte = linear * e
        chunk = tirx.floormod(tirx.floordiv(byte, CHUNK), chunks)
        phase = tirx.floormod(tirx.floordiv(byte, CHUNK * SWIZZLE_REPEAT), chunks)
        swizzled_chunk = tirx.bitwise_xor(chunk, phase)
        return linear + (swizzled_chunk - chunk) * (CHUNK // e)

    @property
    def storage_shape(self) -> tuple[int, ...]:
        """The shape of the tile's storage: its rows at their pitch."""
        return (*self.shape[:-1], self.pitch)

    def tirx_layout(self):
        """The layout tirx's TMA dispatch reads the swizzle mode from, over the storage: tirx's
        bare swizzle (per_element: log2 of the elements per 16-byte chunk; swizzle_len: log2 of
        the chunks per span; atom_len: log2 of the rows of the repeat) on the row-major storage,
        or "default" without a swizzle."""
        if not self.swizzle_bytes:
            return "default"
        return ComposeLayout((CHUNK // self.elem_bytes).bit_length() - 1,
                             (self.swizzle_bytes // CHUNK).bit_length() - 1,
                             SWIZZLE_REPEAT.bit_length() - 1, TirxLayout(S[(self.size,)]))
