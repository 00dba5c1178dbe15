"""Independent numpy references for the interpreter's tests, written from docs/spec.md's
definitions (numpy slicing, np.transpose, fancy indexing, explicit im2col loops), never from
the interpreter's code. They work on the bits of the arrays."""
from __future__ import annotations

import numpy as np


def gather(table: np.ndarray, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[i] = table[idx[i]], a row of zeros where idx[i] is not a row of the table."""
    expected = out.copy()
    for i, row in enumerate(idx.astype(np.int64)):
        expected[i] = table[row] if 0 <= row < table.shape[0] else 0
    return expected


def scatter(table: np.ndarray, idx: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """table[idx[i]] = rows[i] where idx[i] is a row of the table."""
    expected = table.copy()
    for i, row in enumerate(idx.astype(np.int64)):
        if 0 <= row < table.shape[0]:
            expected[row] = rows[i]
    return expected


def paged_kv(cache: np.ndarray, block_table: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[b, t] = cache[block_table[b, t // P], t % P] (P: the cache's pages' slots), zeros
    where t // P is past the block table or its entry is not a page of the cache."""
    expected = out.copy()
    slots = cache.shape[1]
    for b in range(out.shape[0]):
        for t in range(out.shape[1]):
            j = t // slots
            page = int(block_table[b, j].astype(np.int64)) if j < block_table.shape[1] else -1
            expected[b, t] = cache[page, t % slots] if 0 <= page < cache.shape[0] else 0
    return expected


def out_size(size: int, k: int, stride: int, dilation: int, pad: int) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def per_axis(value) -> tuple[int, int]:
    """An im2col option as (h, w): an integer is both axes'."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def im2col(img: np.ndarray, k, stride=1, dilation=1, pad=0) -> np.ndarray:
    """The (N*OH*OW) x (KH*KW*C) column matrix: row (n*OH + oh)*OW + ow, columns (kh*KW + kw)*C + c
    hold img[n, oh*stride_h - pad_h + kh*dilation_h, ow*stride_w - pad_w + kw*dilation_w, c], zero
    outside. Each option is an integer (both axes) or an (h, w) pair."""
    n_, h, w, c = img.shape
    (kh_, kw_), (sh, sw), (dh, dw), (ph, pw) = map(per_axis, (k, stride, dilation, pad))
    oh_, ow_ = out_size(h, kh_, sh, dh, ph), out_size(w, kw_, sw, dw, pw)
    col = np.zeros((n_ * oh_ * ow_, kh_ * kw_ * c), img.dtype)
    for n in range(n_):
        for oh in range(oh_):
            for ow in range(ow_):
                for kh in range(kh_):
                    for kw in range(kw_):
                        ih = oh * sh - ph + kh * dh
                        iw = ow * sw - pw + kw * dw
                        if 0 <= ih < h and 0 <= iw < w:
                            row, q = (n * oh_ + oh) * ow_ + ow, (kh * kw_ + kw) * c
                            col[row, q:q + c] = img[n, ih, iw]
    return col


def from_sender(t: np.ndarray, rows: int, cluster: int, shift: int = 1) -> np.ndarray:
    """`t` with each block of `rows` rows replaced by the one `shift` ranks before it in its
    cluster of `cluster` blocks: what a ring of block-to-block copies delivers, each block
    storing the rows it received where its own are."""
    blocks = t.reshape(-1, cluster, rows, *t.shape[1:])
    return np.roll(blocks, shift, axis=1).reshape(t.shape)
