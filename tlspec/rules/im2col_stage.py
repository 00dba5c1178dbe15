"""Rules of im2col: the image and the column matrix, the window (kernel, stride, dilation, pad)
and the tile of the column matrix one stage writes."""
from __future__ import annotations

from ..expr import to_source
from ..im2col import column_matrix, is_nchw, nhwc, windows
from ..model import RegionRef, Stage
from .context import Context, Scope
from .stage_options import same_dtype, scope_error


def check_im2col(ctx: Context, stage: Stage, scope: Scope) -> None:
    img, col = stage.regions.get("img"), stage.regions.get("col")
    if img is not None:
        buffer = ctx.buffer(img)
        axes = "(N, C, H, W)" if is_nchw(stage.options) else "(N, H, W, C)"
        if not buffer.is_global:
            scope_error(ctx, stage, "img", "a global tensor (the "
                                            f"{'NCHW' if is_nchw(stage.options) else 'NHWC'} image)",
                        ("global",))
        elif len(buffer.shape) != 4:
            ctx.error(img.pointer, f"im2col: the image '{buffer.name}' must be 4-D {axes}; it "
                                   f"has {len(buffer.shape)} dimensions",
                      "a single image has N = 1: give it a leading extent of 1")
        elif img.region.slices is not None:
            ctx.error(img.pointer, "im2col reads windows anywhere in the image: name the whole "
                                   f"buffer ('{buffer.name}'), not a region of it",
                      f"write 'img: {buffer.name}'; 'nhw_step' and 'c_step' choose the tile")
        else:
            _check_window_fits(ctx, stage, nhwc(buffer.shape, stage.options))
            if col is not None and col.dims and ctx.buffer(col).is_global:
                _check_column_matrix(ctx, stage, buffer.shape, col)
    if col is not None and col.dims:
        if len(col.extents) != 2:
            ctx.error(col.pointer, f"im2col: 'col' must be a 2-D tile (output pixels x kernel "
                                   f"taps*channels); it has {len(col.extents)} dimensions",
                      "declare the tile with shape [pixels, taps*channels], e.g. [64, 64]")
        if ctx.buffer(col).scope == "fragment":
            scope_error(ctx, stage, "col", "global, shared or local",
                        ("global", "shared", "shared.dyn", "local"))
    same_dtype(ctx, stage, "img", "col")


def _check_window_fits(ctx: Context, stage: Stage, image: list) -> None:
    """The output is not empty along H nor along W (constant extents; the launch wrapper checks
    symbolic ones)."""
    height, width = windows(stage.options)
    for axis, extent, window in (("H", image[1], height), ("W", image[2], width)):
        size = ctx.const(extent)
        if size is not None and size + window.reach < 0:
            ctx.error(stage.pointer + "/kernel",
                      f"im2col: a {height.kernel}x{width.kernel} kernel with dilation "
                      f"{window.dilation} and pad {window.pad} does not fit in "
                      f"{axis} = {size}",
                      f"the output would be empty: {axis} + 2*pad - dilation*(kernel - 1) - 1 "
                      "must be at least 0 (give kernel, dilation or pad per axis as [h, w])",
                      key=True)


def _check_column_matrix(ctx: Context, stage: Stage, image: list, col: RegionRef) -> None:
    """A global `col` is the whole column matrix: (N*OH*OW, KH*KW*C) for this image and these
    options. Constant extents are compared here; the launch wrapper compares symbolic ones."""
    buffer = ctx.buffer(col)
    expected = column_matrix(image, stage.options)
    rows, columns = (str(v) if (v := ctx.const(e)) is not None else to_source(e) for e in expected)
    if len(buffer.shape) != 2:
        return                          # reported as a region of the wrong rank
    for axis, have, want in zip(("rows", "columns"), buffer.shape, expected):
        a, b = ctx.const(have), ctx.const(want)
        if a is not None and b is not None and a != b:
            ctx.error(col.pointer, f"im2col: the column matrix '{buffer.name}' has {a} {axis}; "
                                   f"this image and kernel make {b} (N*OH*OW rows, KH*KW*C "
                                   "columns)",
                      f"declare '{buffer.name}' with shape [{rows}, {columns}]: "
                      "OH = (H + 2*pad - dilation*(KH - 1) - 1) // stride + 1 with the H values "
                      "of pad, dilation and stride, OW likewise with the W values")
