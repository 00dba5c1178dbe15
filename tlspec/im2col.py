"""The window of an im2col stage per image axis, and the column matrix it fills as expressions
of the image's extents: what validation checks a global `col` buffer against, and the launch
wrapper when a dim is symbolic.

`kernel`, `stride`, `dilation` and `pad` are each an integer (both axes) or an [h, w] pair.
`layout` is the image's: `nhwc` (default) or `nchw` (torch's F.unfold).
Row R = (n*OH + oh)*OW + ow, column Q = (kh*KW + kw)*C + c (NCHW: Q = (c*KH + kh)*KW + kw, the
order of F.unfold's rows), with
OH = (H + 2*pad_h - dilation_h*(KH - 1) - 1) // stride_h + 1 and OW likewise along W
(docs/spec.md, im2col).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .expr import BinOp, Const, Expr
from .expr_algebra import simplify

WINDOW_DEFAULTS = {"stride": 1, "dilation": 1, "pad": 0}
WINDOW_OPTIONS = ("kernel", *WINDOW_DEFAULTS)


class AxisWindow(NamedTuple):
    """The convolution window along one image axis (H or W)."""
    kernel: int
    stride: int
    dilation: int
    pad: int

    @property
    def reach(self) -> int:
        """What the padded axis gains over the dilated kernel's extent: the output has
        (size + reach) // stride + 1 positions, none when size + reach < 0."""
        return 2 * self.pad - self.dilation * (self.kernel - 1) - 1

    def output(self, size: int) -> int:
        return (size + self.reach) // self.stride + 1


def windows(options: Mapping[str, Any]) -> tuple[AxisWindow, AxisWindow]:
    """The (H, W) windows of an im2col stage's options: an integer option is both axes', an
    [h, w] pair one value per axis."""
    pairs = []
    for name in WINDOW_OPTIONS:
        value = options.get(name, WINDOW_DEFAULTS.get(name))
        pairs.append(tuple(value) if isinstance(value, (list, tuple)) else (value, value))
    return AxisWindow(*(int(p[0]) for p in pairs)), AxisWindow(*(int(p[1]) for p in pairs))


def is_nchw(options: Mapping[str, Any]) -> bool:
    """Whether the stage's image is NCHW (`layout: nchw`; NHWC by default)."""
    return options.get("layout", "nhwc") == "nchw"


def nhwc(image: Sequence, options: Mapping[str, Any]) -> tuple:
    """The image's (N, H, W, C) extents, whatever its layout."""
    n, *rest = image
    return (n, *rest[1:], rest[0]) if is_nchw(options) else tuple(image)


def output_extent(size: Expr, window: AxisWindow) -> Expr:
    """OH for an image of height `size` under the H window (OW for its width, the W window)."""
    span = BinOp("+", size, Const(window.reach))
    return simplify(BinOp("+", BinOp("//", span, Const(window.stride)), Const(1)))


def column_matrix(image: list[Expr], options: Mapping[str, Any]) -> tuple[Expr, Expr]:
    """(N*OH*OW, KH*KW*C): the extents of the column matrix of `image` (in its layout)."""
    n, h, w, c = nhwc(image, options)
    height, width = windows(options)
    rows = BinOp("*", BinOp("*", n, output_extent(h, height)), output_extent(w, width))
    return simplify(rows), simplify(BinOp("*", Const(height.kernel * width.kernel), c))
