"""How a shared-memory tile of each layout is stored: row pitch, size and alignment.

Validation sizes the shared-memory budget with this, and the compiler places and addresses the
tiles with it (`tlspec.compiler.layouts` adds the addressing); it imports no tvm.

- `row_major` (and `auto` before layout inference): rows one after another;
- `padded`: each row followed by 16 bytes of padding, so that a column of the tile falls into
  different banks (a pitch of 2-byte elements: cols + 8);
- `swizzle_<S>B` (S = 32, 64, 128): rows padded to a multiple of the S-byte span, whose 16-byte
  chunks are permuted by the address bits above the span: TMA's CU_TENSOR_MAP_SWIZZLE_<S>B
  pattern (see `tensormap_rules`). TMA lays a box row narrower than the span over the whole
  span, so a tile with such rows is stored the same way; the pattern repeats every 8 spans,
  which is the tile's alignment.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from .tensormap_rules import SWIZZLE_BYTES

PAD_BYTES = 16
SWIZZLES = {f"swizzle_{name}": span for name, span in SWIZZLE_BYTES.items() if span}
DEFAULT_ALIGN = 128
SWIZZLE_REPEAT = 8          # rows of the span after which a swizzle pattern repeats


def tensormap_swizzle(layout: str) -> str:
    """The swizzle a TMA descriptor of a tile of `layout` names (`tensormap_rules.SWIZZLE_BYTES`)."""
    return layout.removeprefix("swizzle_") if layout in SWIZZLES else "none"


@dataclass(frozen=True)
class TileStorage:
    kind: str                  # auto | row_major | padded | swizzle_32B | swizzle_64B | swizzle_128B
    shape: tuple[int, ...]
    elem_bytes: int

    @property
    def cols(self) -> int:
        return self.shape[-1]

    @property
    def swizzle_bytes(self) -> int:
        return SWIZZLES.get(self.kind, 0)

    @property
    def tensormap_swizzle(self) -> str:
        return tensormap_swizzle(self.kind)

    @property
    def pitch(self) -> int:
        """Elements from the start of one row to the next."""
        if self.kind == "padded":
            return self.cols + PAD_BYTES // self.elem_bytes
        span = self.swizzle_bytes // self.elem_bytes
        return -(-self.cols // span) * span if span else self.cols

    @property
    def size(self) -> int:
        """Elements of storage."""
        return prod(self.shape[:-1]) * self.pitch

    @property
    def nbytes(self) -> int:
        return self.size * self.elem_bytes

    @property
    def alignment(self) -> int:
        """Byte alignment the tile's storage needs."""
        return SWIZZLE_REPEAT * self.swizzle_bytes if self.swizzle_bytes else DEFAULT_ALIGN
