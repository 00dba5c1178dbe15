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


def out_size(size: int, k: int, stride: int, dilation: int, pad: int) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def im2col(img: np.ndarray, k: int, stride: int = 1, dilation: int = 1,
           pad: int = 0) -> np.ndarray:
    """The (N*OH*OW) x (K*K*C) column matrix: row (n*OH + oh)*OW + ow, columns (kh*K + kw)*C + c
    hold img[n, oh*stride - pad + kh*dilation, ow*stride - pad + kw*dilation, c], zero outside."""
    n_, h, w, c = img.shape
    oh_, ow_ = out_size(h, k, stride, dilation, pad), out_size(w, k, stride, dilation, pad)
    col = np.zeros((n_ * oh_ * ow_, k * k * c), img.dtype)
    for n in range(n_):
        for oh in range(oh_):
            for ow in range(ow_):
                for kh in range(k):
                    for kw in range(k):
                        ih = oh * stride - pad + kh * dilation
                        iw = ow * stride - pad + kw * dilation
                        if 0 <= ih < h and 0 <= iw < w:
                            row, q = (n * oh_ + oh) * ow_ + ow, (kh * k + kw) * c
                            col[row, q:q + c] = img[n, ih, iw]
    return col
