"""What each data stage does to one block's memory, in numpy (docs/interpreter.md, "Semantics").

Every function reads all it needs, then writes: a stage is complete for the whole block before
the next one starts. `run` is the running block (machine._Run): it evaluates regions into boxes,
loads them (the stage's fill, zero by default, outside a global tensor) and stores them (dropping
what falls outside it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from ..fill import fill_bits
from ..im2col import is_nchw, nhwc, windows
from ..model import RegionRef, Stage
from . import computed_index
from .convert import convert_bits
from .errors import Fault
from .memory import Box, GlobalTensor, coordinates

if TYPE_CHECKING:
    from .machine import _Run

SIGNED = {4: np.dtype(np.int32), 8: np.dtype(np.int64)}


def extents(box: Box) -> list[int]:
    return [extent for _, extent in box]


def check_fits(ref: RegionRef, have: list[int], want: list[int], why: str) -> None:
    """Raise unless the region's extents `have` are `want` (they depend on symbolic dims)."""
    if have != want:
        raise Fault(ref.pointer, f"region '{ref.region.text}' has extents {have} at this call; "
                                 f"{why} {want}")


def fill(run: _Run, stage: Stage, option: str) -> int:
    """The bits of the stage's `fill` (zero without one) in the dtype of what `option` reads."""
    value = stage.options.get("fill")
    return 0 if value is None else fill_bits(value, run.memory[stage.regions[option].name]
                                             .buffer.dtype)


def copy(run: _Run, stage: Stage) -> None:
    """dst = src, the dimensions of extent 1 dropped from both, each element converted to dst's
    dtype where the dtypes differ; the fill (in src's dtype, then converted) outside a global
    src."""
    run.store(stage.regions["dst"], *moved(run, stage), stage.regions["src"].name)


def moved(run: _Run, stage: Stage) -> tuple[Box, np.ndarray, np.ndarray | None]:
    """What a copy stage writes: the dst box, its elements (read from src, as `copy` says) and
    which of them are defined (None: all)."""
    src, dst = stage.regions["src"], stage.regions["dst"]
    _, values, defined = run.load(src, fill(run, stage, "src"))
    dtypes = [run.kernel.buffers[ref.name].dtype for ref in (src, dst)]
    if dtypes[0] != dtypes[1]:
        values = convert_bits(values, *dtypes)
    box = run.box(dst)
    squeeze = [n for n in values.shape if n != 1]
    check_fits(dst, [n for n in extents(box) if n != 1], squeeze,
               f"once dimensions of extent 1 are dropped, src '{src.region.text}' has")
    shape = extents(box)
    return box, values.reshape(shape), None if defined is None else defined.reshape(shape)


def copy_cluster(run: _Run, stage: Stage) -> None:
    """The multicast form: dst = src in every block whose cluster rank is in `cluster_mask` (the
    compiler refuses a source that may differ between those blocks, so each block's own copy
    is the one tile they all receive); nothing in the others."""
    if int(stage.options["cluster_mask"]) >> run.cluster_rank() & 1:
        copy(run, stage)


def transpose(run: _Run, stage: Stage) -> None:
    """dst[..., j, i] = src[..., i, j]."""
    src, dst = stage.regions["src"], stage.regions["dst"]
    _, values, defined = run.load(src)
    box = run.box(dst)
    values = np.swapaxes(values, -1, -2)
    check_fits(dst, extents(box), list(values.shape), "the transpose of src has")
    run.store(dst, box, values, None if defined is None else np.swapaxes(defined, -1, -2), src.name)


def indices(run: _Run, ref: RegionRef) -> tuple[np.ndarray, np.ndarray]:
    """The index values of a gather or scatter as int64, and which positions lie inside the
    index tensor (a global index region may run past its end; its positions there move
    nothing)."""
    box, values, defined = run.load(ref)
    values = values.reshape(-1).view(SIGNED[values.dtype.itemsize]).astype(np.int64)
    storage = run.memory[ref.name]
    if isinstance(storage, GlobalTensor):
        inside = np.ones([extent for _, extent in box], bool)
        for axis, ((start, extent), size) in enumerate(zip(box, storage.shape)):
            position = np.arange(start, start + extent).reshape([-1 if a == axis else 1
                                                                 for a in range(len(box))])
            inside &= (position >= 0) & (position < size)
        return values, inside.reshape(-1)
    if not defined.all():
        at = np.unravel_index(int(np.argmin(defined.reshape(-1))), defined.shape)
        position = tuple(start + int(i) for (start, _), i in zip(box, at))
        raise Fault(ref.pointer, f"reads the index {coordinates(ref.name, position)}, which no "
                                 "stage of this block wrote", "write the index tile first")
    return values, np.ones(values.size, bool)


def check_in_range(stage: Stage, index: RegionRef, values: np.ndarray, outside: np.ndarray,
                   rows: int) -> None:
    """With `out_of_range: error`, a located Fault for the first index outside the table."""
    if stage.options.get("out_of_range") == "error" and outside.any():
        at = int(np.argmax(outside))
        raise Fault(index.pointer, f"index position {at} of '{index.region.text}' holds "
                                   f"{values[at]}, outside the table's rows [0, {rows})",
                    "out_of_range: error stops here; with 'fill' the row is filled (gather) or "
                    "not written (scatter)")


def table_columns(run: _Run, table: RegionRef) -> tuple[int, int, int, slice, slice]:
    """(rows, first column, width) of a table region, and its columns inside the table: as a
    slice of the table and as a slice of the region."""
    (_, rows), (first, width) = run.box(table)
    size = run.memory[table.name].shape[1]
    lo, hi = min(max(first, 0), size), min(max(first + width, 0), size)
    return rows, first, width, slice(lo, hi), slice(lo - first, hi - first)


def gather(run: _Run, stage: Stage) -> None:
    """dst[i, :] = table[index[i], cols]; the fill (zero by default) for an index outside the
    table's rows and for columns outside it; dst row i is not written for a position outside a
    global index tensor, except in the TMA gather4 form (`rows`), which gives such a position
    row -1: a row of zeros."""
    if stage.indices:
        computed_index.gather(run, stage, fill(run, stage, "src"))
        return
    table, dst, index = stage.regions["src"], stage.regions["dst"], stage.regions["index"]
    rows, _, width, columns, local = table_columns(run, table)
    values, inside = indices(run, index)
    if "rows" in stage.options:
        values, inside = np.where(inside, values, -1), np.ones_like(inside)
    box = run.box(dst)
    check_fits(dst, extents(box), [values.size, width], "'index' and the table region give")
    gathered = np.full((values.size, width), fill(run, stage, "src"),
                       run.memory[table.name].bits.dtype)
    chosen = inside & (values >= 0) & (values < rows)
    check_in_range(stage, index, values, inside & ~chosen, rows)
    if chosen.any() and columns.start < columns.stop:
        gathered[chosen, local] = run.tensor(table).read((values[chosen], columns), run.block,
                                                         table.pointer)
    written = np.nonzero(inside)[0]         # a range: the index region is 1-D
    if written.size:
        first, count = int(written[0]), written.size
        run.store(dst, [(box[0][0] + first, count), box[1]], gathered[first:first + count], None,
                  table.name)


def scatter(run: _Run, stage: Stage) -> None:
    """table[index[i], cols] = src[i, :] for the positions inside the index tensor whose index
    lies in the table's rows, the columns inside the table; in-range indices of one stage must
    be distinct."""
    if stage.indices:
        computed_index.scatter(run, stage)
        return
    src, table, index = stage.regions["src"], stage.regions["dst"], stage.regions["index"]
    _, values, defined = run.load(src)
    rows, _, width, columns, local = table_columns(run, table)
    targets, inside = indices(run, index)
    check_fits(src, list(values.shape), [targets.size, width], "'index' and the table region give")
    check_in_range(stage, index, targets, inside & ~((targets >= 0) & (targets < rows)), rows)
    chosen = np.nonzero(inside & (targets >= 0) & (targets < rows))[0]
    unique, counts = np.unique(targets[chosen], return_counts=True)
    if (counts > 1).any():
        row = unique[counts > 1][0]
        at = chosen[targets[chosen] == row][:2]
        raise Fault(index.pointer, f"writes row {row} of '{table.name}' twice: index positions "
                                   f"{at[0]} and {at[1]} hold it",
                    "the indices of a scatter must be distinct: two rows written to one table "
                    "row race")
    if columns.start < columns.stop:
        part = (chosen, local)
        run.tensor(table).write((targets[chosen], columns), values[part],
                                None if defined is None else defined[part], run.block,
                                table.pointer, src.name)


def im2col(run: _Run, stage: Stage) -> None:
    """col tile element (r, k) = img[n, oh*stride_h - pad_h + kh*dilation_h, ow*stride_w - pad_w +
    kw*dilation_w, c] for matrix row R = nhw_step * rows(col) + r = (n*OH + oh)*OW + ow and column
    Q = c_step * cols(col) + k = (kh*KW + kw)*C + c (an NCHW image: img[n, c, ih, iw] for
    Q = (c*KH + kh)*KW + kw); the fill (zero by default) outside the image and the matrix."""
    img, col = stage.regions["img"], stage.regions["col"]
    height, width = windows(stage.options)
    image = run.memory[img.name]
    n_, h, w, c = nhwc(image.shape, stage.options)
    oh_, ow_ = height.output(h), width.output(w)
    if oh_ < 1 or ow_ < 1:
        window = height if oh_ < 1 else width
        raise Fault(stage.pointer + "/kernel", f"a {height.kernel}x{width.kernel} kernel with "
                                               f"dilation {window.dilation} and pad {window.pad} "
                                               f"does not fit in the image ({h} x {w}): the "
                                               "output would be empty", key=True)
    box = run.box(col)
    rows, cols = extents(box)
    big_r = run.value(stage.exprs["nhw_step"], stage.pointer + "/nhw_step") * rows + np.arange(rows)
    big_q = run.value(stage.exprs["c_step"], stage.pointer + "/c_step") * cols + np.arange(cols)
    n, oh, ow = big_r // (oh_ * ow_), big_r // ow_ % oh_, big_r % ow_
    if is_nchw(stage.options):
        ch, kh, kw = (big_q // (height.kernel * width.kernel), big_q // width.kernel % height.kernel,
                      big_q % width.kernel)
    else:
        kh, kw, ch = big_q // (c * width.kernel), big_q // c % width.kernel, big_q % c
    ih = (oh * height.stride - height.pad)[:, None] + (kh * height.dilation)[None, :]
    iw = (ow * width.stride - width.pad)[:, None] + (kw * width.dilation)[None, :]
    # (as unsigned, a negative coordinate is past the end too)
    inside = ((big_r < n_ * oh_ * ow_)[:, None]
              & (big_q < height.kernel * width.kernel * c)[None, :]
              & (ih.view(np.uint64) < h) & (iw.view(np.uint64) < w))
    if is_nchw(stage.options):                                    # C-order positions in img
        at = ((n[:, None] * c + ch[None, :]) * h + ih) * w + iw
    else:
        at = ((n[:, None] * h + ih) * w + iw) * c + ch[None, :]
    if inside.all():
        values = image.take(at.reshape(-1), run.block, img.pointer).reshape(rows, cols)
    else:
        values = np.full((rows, cols), fill(run, stage, "img"), image.bits.dtype)
        values[inside] = image.take(at[inside], run.block, img.pointer)
    run.store(col, box, values, None, img.name)


DATA_STAGES: dict[str, Callable[[_Run, Stage], None]] = {
    "copy": copy, "transpose": transpose, "gather": gather, "scatter": scatter, "im2col": im2col,
    "copy_cluster": copy_cluster,
}
