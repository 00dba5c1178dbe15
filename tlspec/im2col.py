"""The column matrix an im2col stage fills, as expressions of the image's extents: what
validation checks a global `col` buffer against, and the launch wrapper when a dim is symbolic.

Row R = (n*OH + oh)*OW + ow, column Q = (kh*K + kw)*C + c, with
OH = (H + 2*pad - dilation*(K - 1) - 1) // stride + 1 and OW likewise (docs/spec.md, im2col).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .expr import BinOp, Const, Expr, simplify


def output_extent(size: Expr, options: Mapping[str, Any]) -> Expr:
    """OH for an image of height `size` (OW for its width) under the stage's options."""
    kernel, stride = options["kernel"], options.get("stride", 1)
    dilation, pad = options.get("dilation", 1), options.get("pad", 0)
    span = BinOp("+", size, Const(2 * pad - dilation * (kernel - 1) - 1))
    return simplify(BinOp("+", BinOp("//", span, Const(stride)), Const(1)))


def column_matrix(image: list[Expr], options: Mapping[str, Any]) -> tuple[Expr, Expr]:
    """(N*OH*OW, K*K*C): the extents of the column matrix of the NHWC `image`."""
    n, h, w, c = image
    rows = BinOp("*", BinOp("*", n, output_extent(h, options)), output_extent(w, options))
    return simplify(rows), simplify(BinOp("*", Const(options["kernel"] ** 2), c))
