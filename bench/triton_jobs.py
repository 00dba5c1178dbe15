"""The jobs of bench_jobs.py written in Triton the way its users write them: tl.load and
tl.store on pointer tiles with masks, one tile per program, no autotuner. Each job's CONFIGS
are the tile sizes and warp counts bench_jobs.py sweeps (best one reported), so the peer is
tuned fairly without Triton's autotuner timing behind the benchmark's back.

Imported only by bench_jobs.py on the GPU machine (Triton is not needed anywhere else).
Offsets are int32 except the gathered rows' (an index times a row stride can pass 2**31);
the launchers refuse tensors too large for that.
"""
import triton
import triton.language as tl

INT32_LIMIT = 2**31


@triton.jit
def copy_kernel(src, dst, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(dst + offs, tl.load(src + offs, mask=mask), mask=mask)


@triton.jit
def transpose_kernel(a, b, M, N, stride_a, stride_b, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """b[j, i] = a[i, j]: a BLOCK_M x BLOCK_N tile of a, transposed in registers (tl.trans),
    stored as a BLOCK_N x BLOCK_M tile of b."""
    rm = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    tile = tl.load(a + rm[:, None] * stride_a + rn[None, :],
                   mask=(rm < M)[:, None] & (rn < N)[None, :])
    tl.store(b + rn[:, None] * stride_b + rm[None, :], tl.trans(tile),
             mask=(rn < N)[:, None] & (rm < M)[None, :])


@triton.jit
def gather_kernel(table, idx, out, R, D, stride_table, stride_out,
                  BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """out[r, :] = table[idx[r], :] for BLOCK_R rows and BLOCK_D columns."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    row_ok = rows < R
    ids = tl.load(idx + rows, mask=row_ok, other=0).to(tl.int64)
    mask = row_ok[:, None] & (cols < D)[None, :]
    values = tl.load(table + ids[:, None] * stride_table + cols[None, :], mask=mask)
    tl.store(out + rows[:, None] * stride_out + cols[None, :], values, mask=mask)


@triton.jit
def paged_kv_kernel(cache, block_table, out, T, D, stride_bt, stride_page, stride_slot,
                    stride_ob, stride_ot, P: tl.constexpr, BLOCK_T: tl.constexpr,
                    BLOCK_D: tl.constexpr):
    """out[b, t, :] = cache[block_table[b, t // P], t % P, :] for BLOCK_T tokens of sequence b
    (the grid's z) and BLOCK_D columns: a paged KV cache read token by token."""
    b = tl.program_id(2)
    t = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    t_ok = t < T
    page = tl.load(block_table + b * stride_bt + t // P, mask=t_ok, other=0).to(tl.int64)
    mask = t_ok[:, None] & (d < D)[None, :]
    values = tl.load(cache + page[:, None] * stride_page + (t % P)[:, None] * stride_slot
                     + d[None, :], mask=mask)
    tl.store(out + b * stride_ob + t[:, None] * stride_ot + d[None, :], values, mask=mask)


@triton.jit
def im2col_kernel(img, col, P, H, W, C, OH, OW, num_c_blocks,
                  K: tl.constexpr, STRIDE: tl.constexpr, DILATION: tl.constexpr,
                  PAD: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """col[p, (kh*K + kw)*C + c] = img[n, oh*STRIDE - PAD + kh*DILATION, ow*STRIDE - PAD +
    kw*DILATION, c] (0 in the padding), p = (n*OH + oh)*OW + ow, img NHWC. The tap and channel
    block are the fastest grid axis, so the K*K programs reading one neighbourhood run together
    (their reads hit L2)."""
    tap = tl.program_id(0) // num_c_blocks
    kh = tap // K
    kw = tap % K
    c = (tl.program_id(0) % num_c_blocks) * BLOCK_C + tl.arange(0, BLOCK_C)
    p = tl.program_id(1) * BLOCK_P + tl.arange(0, BLOCK_P)
    n = p // (OH * OW)
    oh = (p // OW) % OH
    ow = p % OW
    ih = oh * STRIDE - PAD + kh * DILATION
    iw = ow * STRIDE - PAD + kw * DILATION
    p_ok = p < P
    inside = p_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
    c_ok = c < C
    values = tl.load(img + ((n * H + ih) * W + iw)[:, None] * C + c[None, :],
                     mask=inside[:, None] & c_ok[None, :], other=0.0)
    tl.store(col + p[:, None] * (K * K * C) + tap * C + c[None, :], values,
             mask=p_ok[:, None] & c_ok[None, :])


def _fits_int32(*tensors):
    for t in tensors:
        assert t.numel() < INT32_LIMIT, f"{tuple(t.shape)}: too large for int32 offsets"
        assert t.stride(-1) == 1, f"{tuple(t.shape)}: the last dim must be contiguous"


def copy(src, dst, BLOCK, num_warps):
    _fits_int32(src, dst)
    assert src.is_contiguous() and dst.is_contiguous() and src.numel() == dst.numel()
    n = src.numel()
    copy_kernel[(triton.cdiv(n, BLOCK),)](src, dst, n, BLOCK=BLOCK, num_warps=num_warps)


def transpose(a, b, BLOCK_M, BLOCK_N, num_warps):
    _fits_int32(a, b)
    m, n = a.shape
    assert b.shape == (n, m)
    grid = (triton.cdiv(n, BLOCK_N), triton.cdiv(m, BLOCK_M))
    transpose_kernel[grid](a, b, m, n, a.stride(0), b.stride(0),
                           BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=num_warps)


def gather(table, idx, out, BLOCK_R, BLOCK_D, num_warps):
    _fits_int32(out, idx)
    assert table.stride(-1) == 1 and idx.is_contiguous()
    r, d = out.shape
    assert idx.shape == (r,) and table.shape[1] == d
    grid = (triton.cdiv(r, BLOCK_R), triton.cdiv(d, BLOCK_D))
    gather_kernel[grid](table, idx, out, r, d, table.stride(0), out.stride(0),
                        BLOCK_R=BLOCK_R, BLOCK_D=BLOCK_D, num_warps=num_warps)


def paged_kv(cache, block_table, out, BLOCK_T, BLOCK_D, num_warps):
    _fits_int32(out, block_table)
    assert cache.stride(-1) == 1 and block_table.is_contiguous() and out.is_contiguous()
    b, t, d = out.shape
    assert cache.shape[2] == d and block_table.shape[0] == b
    grid = (triton.cdiv(t, BLOCK_T), triton.cdiv(d, BLOCK_D), b)
    paged_kv_kernel[grid](cache, block_table, out, t, d, block_table.stride(0), cache.stride(0),
                          cache.stride(1), out.stride(0), out.stride(1), P=cache.shape[1],
                          BLOCK_T=BLOCK_T, BLOCK_D=BLOCK_D, num_warps=num_warps)


def im2col(img, col, BLOCK_P, BLOCK_C, num_warps, kernel=3, stride=1, dilation=1, pad=1):
    _fits_int32(img, col)
    assert img.is_contiguous() and col.is_contiguous()
    n, h, w, c = img.shape
    oh = (h + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    p = n * oh * ow
    assert col.shape == (p, kernel * kernel * c)
    num_c_blocks = triton.cdiv(c, BLOCK_C)
    grid = (kernel * kernel * num_c_blocks, triton.cdiv(p, BLOCK_P))
    im2col_kernel[grid](img, col, p, h, w, c, oh, ow, num_c_blocks,
                        K=kernel, STRIDE=stride, DILATION=dilation, PAD=pad,
                        BLOCK_P=BLOCK_P, BLOCK_C=BLOCK_C, num_warps=num_warps)


# The sweep: each job's tile sizes and warp counts, the keyword arguments of its launcher.
CONFIGS = {
    "copy": [dict(BLOCK=b, num_warps=w) for b, w in
             ((1024, 4), (2048, 4), (4096, 8), (8192, 8), (16384, 16))],
    "transpose": [dict(BLOCK_M=m, BLOCK_N=n, num_warps=w) for m, n, w in
                  ((32, 32, 4), (64, 64, 4), (64, 64, 8), (128, 64, 8), (128, 128, 8),
                   (128, 128, 16))],
    "gather": [dict(BLOCK_R=r, BLOCK_D=d, num_warps=w) for r, d, w in
               ((2, 1024, 4), (4, 1024, 4), (8, 1024, 8), (16, 1024, 8), (16, 512, 4))],
    "paged_kv": [dict(BLOCK_T=t, BLOCK_D=d, num_warps=w) for t, d, w in
                 ((8, 1024, 4), (16, 1024, 8), (32, 1024, 8), (64, 1024, 16), (16, 512, 4))],
    "im2col": [dict(BLOCK_P=p, BLOCK_C=c, num_warps=w) for p, c, w in
               ((32, 256, 4), (64, 128, 4), (64, 256, 8), (128, 128, 8), (128, 256, 8))],
}
LAUNCHERS = {"copy": copy, "transpose": transpose, "gather": gather, "paged_kv": paged_kv,
             "im2col": im2col}


def describe(config: dict) -> str:
    """'BLOCK_M=128 BLOCK_N=128, 8 warps'."""
    tiles = " ".join(f"{k}={v}" for k, v in config.items() if k != "num_warps")
    return f"{tiles}, {config['num_warps']} warps"
