"""Issue 10's compiler defects, on the GPU: every kernel of tests/gpu/edges/, compiled by
`tlspec compile` (on any machine), run and compared bit-exactly with a torch reference on random
bits, outputs poisoned inside guard regions.

- tails: 1-D tensors whose length is not a multiple of the vector (n = 1, 5, 7, 1001, 1023,
  4100) lose no element, by SIMT loops, cp.async, global-to-global and eviction-hinted copies;
- widths: 8-lane 16-bit integer, 8- and 16-lane float8, uint8, 64-bit and bfloat16 vectors
  through shared tiles, registers, transposes and gathers;
- loops whose body is a single gather, scatter, im2col or copy;
- im2col tiles past the last tap (zero columns) and a global column matrix checked at the call;
- symbolic dims known only through `B * 64`, `D + 2`, `(K + 1) * 16`;
- fragments as the rows of a gather or a scatter, and a loop_layout wider than its copy;
- divisions by symbolic sizes: im2col over images of symbolic height (OH symbolic, OW
  constant: tvm's iter-map analysis failed on them before LowerSymbolicDivision) and a copy
  whose region divides the block index by a dim;
- vector loads aligned only through a dim's multiple_of (aligned: a table of one row, row
  strides `M2 + 16` and `K * 2`, image channels `C * 2`);
- a 3-D uint16 tensor copied row by row by two loops in 8-lane vectors, its last tile ragged
  (row_blocks: the tile IR's layout of global tensors left an 8-lane vector division);
- a global tensor written by one stage (a TMA store, a SIMT copy) and read back by the next with
  another thread layout: ThreadSync's barrier (and the store's full wait) between them;
- a kernel of 24 guarded gathers and 8 guarded copies, past UnrollBudget's code-size budget:
  its loops stay loops (many_stages);
- a TMA store of a transposed tile in a loop that is the whole body of another loop (the proxy
  fence InjectFenceProxy lost there: nested_loops).

Imports only the compiled package, torch and pytest: set TLSPEC_EDGES to the package directory
(default: build/tlspec_edges, what `tlspec compile tests/gpu/edges -o build/tlspec_edges`
writes).
"""
import pytest
from gpu_support import (DEVICE, TORCH_DTYPES, assert_guards, assert_same, bits, compiled_package,
                         guarded, im2col_reference, random_bits, torch)

kernels = compiled_package("TLSPEC_EDGES", "tlspec_edges", "tests/gpu/edges")
TAIL_SIZES = [1, 5, 7, 1001, 1023, 4100]
DTYPES = {tag: TORCH_DTYPES[name] for tag, name in (
    ("i16", "int16"), ("u16", "uint16"), ("e4m3", "float8_e4m3"), ("e5m2", "float8_e5m2"),
    ("u8", "uint8"), ("f64", "float64"), ("i64", "int64"), ("bf16", "bfloat16"))}


def run(name, *arrays):
    getattr(kernels, name)(*arrays)
    torch.cuda.synchronize()


def copy_checked(name, a):
    b = guarded(a.shape, a.dtype)
    run(name, a, b)
    assert_same(b, a)
    assert_guards(b)


# -- tails -------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", TAIL_SIZES)
@pytest.mark.parametrize("name, dtype", [
    ("tail_sync_f32", torch.float32), ("tail_sync_i8", torch.int8),
    ("tail_cp_async_f32", torch.float32), ("tail_global_f16", torch.float16),
    ("tail_evict_f16", torch.float16)])
def test_a_1d_tensor_keeps_its_last_elements(name, dtype, n):
    copy_checked(name, random_bits((n,), dtype))


def test_a_constant_length_keeps_its_last_elements():
    copy_checked("tail_const_f32", random_bits((1001,), torch.float32))


@pytest.mark.parametrize("n", [8, 1000, 4104])
def test_a_length_of_whole_vectors(n):
    copy_checked("tail_multiple_f16", random_bits((n,), torch.float16))


# -- every width -------------------------------------------------------------------------------
@pytest.mark.parametrize("m", [64, 100, 1])
@pytest.mark.parametrize("tag", DTYPES)
def test_copy_through_shared_and_registers(tag, m):
    copy_checked(f"width_{tag}", random_bits((m, 64), DTYPES[tag]))


@pytest.mark.parametrize("m, n", [(64, 64), (80, 144), (16, 16)])
@pytest.mark.parametrize("tag", DTYPES)
def test_transpose(tag, m, n):
    a = random_bits((m, n), DTYPES[tag])
    b = guarded((n, m), a.dtype)
    run(f"transpose_{tag}", a, b)
    assert_same(bits(b), bits(a).t().contiguous())
    assert_guards(b)


def gather_checked(name, table, idx):
    """out = table[idx] by kernel `name`: rows of indices outside the table are zeros."""
    out = guarded((len(idx), table.shape[1]), table.dtype)
    run(name, table, idx, out)
    inside = (idx >= 0) & (idx < len(table))
    expected = bits(table)[idx.clamp(0, len(table) - 1).long()]
    expected[~inside] = 0
    assert_same(bits(out), expected)
    assert_guards(out)


def scatter_checked(name, table, rows, index_dtype):
    """table[idx] = rows by kernel `name`, for distinct random indices."""
    expected = table.clone()
    idx = torch.randperm(len(table), device=DEVICE)[:len(rows)]
    run(name, table, idx.to(index_dtype), rows)
    expected[idx] = rows
    assert_same(table, expected)


@pytest.mark.parametrize("tag", DTYPES)
def test_gather(tag):
    idx = torch.randint(0, 300, (37,), dtype=torch.int32, device=DEVICE)
    idx[::5] = 300                                    # outside the table: a row of zeros
    idx[1] = -1
    gather_checked(f"gather_{tag}", random_bits((300, 64), DTYPES[tag]), idx)


# -- loops of one stage, fragments as rows -----------------------------------------------------
# kernel -> (dtype, columns, index dtype): a loop around one gather or scatter, or a fragment
# as its rows
GATHERS = {"loop_gather_f16": (torch.float16, 256, torch.int64),
           "fragment_gather_f16": (torch.float16, 128, torch.int32)}
SCATTERS = {"loop_scatter_bf16": (torch.bfloat16, 256, torch.int32),
            "fragment_scatter_i8": (torch.int8, 128, torch.int64)}


@pytest.mark.parametrize("rows", [16, 37])
@pytest.mark.parametrize("name", GATHERS)
def test_gather_in_a_loop_or_into_a_fragment(name, rows):
    dtype, cols, index = GATHERS[name]
    idx = torch.randint(0, 500, (rows,), dtype=index, device=DEVICE)
    gather_checked(name, random_bits((500, cols), dtype), idx)


@pytest.mark.parametrize("rows", [16, 37])
@pytest.mark.parametrize("name", SCATTERS)
def test_scatter_in_a_loop_or_from_a_fragment(name, rows):
    dtype, cols, index = SCATTERS[name]
    scatter_checked(name, random_bits((500, cols), dtype), random_bits((rows, cols), dtype), index)


@pytest.mark.parametrize("n, h, w", [(1, 5, 7), (2, 8, 8), (3, 9, 4)])
def test_loop_of_one_im2col(n, h, w):
    img = random_bits((n, h, w, 16), torch.float16).nan_to_num(1.0)   # unfold moves values
    col = guarded((n * h * w, 144), torch.float16)
    run("loop_im2col_f16", img, col)
    assert_same(col, im2col_reference(img, 3, 1, 1, 1), "col")
    assert_guards(col, "col")


@pytest.mark.parametrize("m, n", [(16, 64), (37, 100), (1, 4)])
def test_loop_of_one_copy(m, n):
    copy_checked("loop_copy_f32", random_bits((m, n), torch.float32))


# -- im2col ------------------------------------------------------------------------------------
def out_size(size, s):
    return (size + 2 - 2 - 1) // s + 1                # 3x3, pad 1, dilation 1


@pytest.mark.parametrize("n, h, w", [(2, 7, 7), (1, 8, 8), (3, 5, 6)])
def test_im2col_columns_past_the_last_tap_are_zero(n, h, w):
    img = random_bits((n, h, w, 4), torch.float16).nan_to_num(1.0)
    pixels = n * out_size(h, 1) * out_size(w, 1)
    rows = -(-pixels // 32) * 32
    out = guarded((rows, 64), torch.float16)
    run("im2col_columns_f16", img, out)
    expected = torch.zeros((rows, 64), dtype=torch.float16, device=DEVICE)
    expected[:pixels, :36] = im2col_reference(img, 3, 1, 1, 1)
    assert_same(out, expected)
    assert_guards(out)


@pytest.mark.parametrize("n, h, w", [(2, 7, 7), (1, 9, 4)])
def test_im2col_into_the_global_column_matrix(n, h, w):
    img = random_bits((n, h, w, 4), torch.float32).nan_to_num(1.0)
    col = guarded((n * out_size(h, 2) * out_size(w, 2), 36), torch.float32)
    run("im2col_columns_f32", img, col)
    assert_same(col, im2col_reference(img, 3, 2, 1, 1), "col")
    assert_guards(col, "col")


def test_a_column_matrix_of_the_wrong_rows_is_refused_at_the_call():
    img = random_bits((2, 7, 7, 4), torch.float32)
    col = guarded((2 * 7 * 7, 36), torch.float32)            # the rows of stride 1
    with pytest.raises(ValueError, match="its rows must be N\\*OH\\*OW"):
        kernels.im2col_columns_f32(img, col)


# -- symbolic dims inside shape expressions ----------------------------------------------------
@pytest.mark.parametrize("blocks, d", [(1, 0), (3, 7), (5, 1000)])
def test_dims_known_only_through_affine_extents(blocks, d):
    a = random_bits((blocks * 64, 128), torch.float16)
    x = random_bits((d + 2,), torch.float16)
    expected = x.clone()
    expected[d:] = x[:2]
    b = guarded(a.shape, a.dtype)
    run("affine_blocks_f16", a, b, x)
    assert_same(b, a)
    assert_guards(b)
    assert_same(x, expected, "x")


@pytest.mark.parametrize("k", [0, 2, 9])
def test_a_dim_solved_from_an_offset_extent(k):
    copy_checked("affine_offset_i8", random_bits(((k + 1) * 16, 32), torch.int8))


def test_an_extent_no_size_gives_is_refused_at_the_call():
    a = random_bits((100, 128), torch.float16)
    with pytest.raises(ValueError, match=r"100 is not \(B \* 64\) for any size B"):
        kernels.affine_blocks_f16(a, guarded(a.shape, a.dtype), random_bits((4,), torch.float16))


# -- a thread grid wider than the copy ---------------------------------------------------------
@pytest.mark.parametrize("m", [16, 37])
def test_a_thread_grid_wider_than_the_copy(m):
    a = random_bits((m, 2, 64), torch.bfloat16)
    b = random_bits((m, 2, 64), torch.bfloat16)
    expected = b.clone()
    expected[:, 0, :] = a[:, 1, :]
    run("wide_layout_bf16", a, b)
    assert_same(b, expected)


# -- divisions by symbolic sizes (LowerSymbolicDivision) ---------------------------------------
# kernel -> (C, dtype, kernel, stride, dilation, pad, W, N or None where N is symbolic)
SYMBOLIC_IM2COL = {
    "im2col_symbolic_h_f16": (3, torch.float16, 2, 2, 1, 2, 6, None),
    "im2col_symbolic_h_dilated_f32": (9, torch.float32, 2, 1, 2, 2, 1, None),
    "im2col_symbolic_h_fixed_n_f16": (3, torch.float16, 1, 1, 1, 1, 8, 3),
    "im2col_symbolic_nh_vector_f16": (8, torch.float16, 1, 1, 2, 1, 3, None),
}


@pytest.mark.parametrize("n, h", [(1, 1), (2, 5), (3, 8), (5, 37)])
@pytest.mark.parametrize("name", SYMBOLIC_IM2COL)
def test_im2col_of_a_symbolic_height(name, n, h):
    c, dtype, k, s, d, p, w, fixed_n = SYMBOLIC_IM2COL[name]
    n = fixed_n or n
    img = random_bits((n, h, w, c), dtype).nan_to_num(1.0)
    expected = im2col_reference(img, k, s, d, p)
    col = guarded(expected.shape, dtype)
    run(name, img, col)
    assert_same(col, expected, "col")
    assert_guards(col, "col")


@pytest.mark.parametrize("m, k", [(1, 0), (3, 5), (7, 30)])
def test_a_region_divided_by_a_symbolic_size(m, k):
    a = random_bits((m, (k + 2) * 8, 5), torch.float16)
    b = guarded((m * (k + 2), 8), torch.float16)
    run("divided_rows_f16", a, b)
    i = torch.arange(m * (k + 2), device=DEVICE)
    rows = a.view(m, k + 2, 8, 5)[i // (k + 2), i % (k + 2), :, i % 5]
    assert_same(b, rows)
    assert_guards(b)


# -- vector loads aligned only through a dim's multiple_of -------------------------------------
ONE_ROW = {"one_row_gather_e4m3": torch.float8_e4m3fn, "one_row_gather_u8": torch.uint8,
           "one_row_gather_f16": torch.float16, "one_row_gather_f32": torch.float32}


@pytest.mark.parametrize("m1, m2", [(37, 80), (1, 16), (4, 1040)])
@pytest.mark.parametrize("name", ONE_ROW)
def test_a_gather_from_a_table_of_one_row(name, m1, m2):
    idx = torch.randint(-1, 3, (m1,), dtype=torch.int32, device=DEVICE)   # row 0, or zeros
    idx[0] = 0
    gather_checked(name, random_bits((1, m2), ONE_ROW[name]), idx)


@pytest.mark.parametrize("m1, m2", [(37, 80), (1, 16), (4, 1040)])
def test_a_scatter_into_a_table_of_one_row(m1, m2):
    """Only the index position holding 0 names a row of the table: that one row is written."""
    table, rows = random_bits((1, m2), torch.int8), random_bits((m1, m2), torch.int8)
    idx = torch.full((m1,), 1, dtype=torch.int32, device=DEVICE)
    idx[::2] = -1
    idx[m1 // 2] = 0
    run("one_row_scatter_i8", table, idx, rows)
    assert_same(table, rows[m1 // 2 : m1 // 2 + 1])


@pytest.mark.parametrize("m1, m2", [(37, 80), (1, 0), (6, 1024)])
def test_rows_of_a_stride_aligned_through_multiple_of(m1, m2):
    copy_checked("offset_rows_u8", random_bits((m1, m2 + 16), torch.uint8))


@pytest.mark.parametrize("m1, k", [(37, 40), (1, 8), (6, 512)])
def test_rows_of_a_scaled_stride(m1, k):
    copy_checked("scaled_rows_u8", random_bits((m1, k * 2), torch.uint8))


@pytest.mark.parametrize("n, c", [(1, 8), (3, 24)])
def test_im2col_of_scaled_channels(n, c):
    img = random_bits((n, 4, 4, c * 2), torch.uint8)
    col = guarded((n * 16, 18 * c), torch.uint8)
    run("scaled_channels_im2col_u8", img, col)
    assert_same(col, im2col_reference(img, 3, 1, 1, 1), "col")
    assert_guards(col, "col")


# -- a 3-D tensor moved row by row (global tensors indexed by their shape alone) ----------------
@pytest.mark.parametrize("m1, m2", [(0, 32), (1, 8), (3, 72), (7, 320), (2, 1000)])
def test_a_3d_tensor_copied_row_by_row(m1, m2):
    copy_checked("row_blocks_u16", random_bits((m1 * 4 + 1, 5, m2), torch.uint16))


# -- a global tensor written by one stage and read back by the next (a barrier between them) ---
@pytest.mark.parametrize("m, n", [(64, 64), (128, 320), (640, 128)])
def test_a_tensor_read_back_after_its_tma_store(m, n):
    a = random_bits((m, n), torch.float16)
    b, c = guarded((m, n), torch.float16), guarded((m, n), torch.float16)
    run("readback_after_tma_store_f16", a, b, c)
    for label, out in (("B", b), ("C", c)):
        assert_same(out, a, label)
        assert_guards(out, label)


@pytest.mark.parametrize("m, n", [(32, 32), (96, 160), (640, 64)])
def test_a_tensor_read_back_after_a_simt_copy(m, n):
    a = random_bits((m, n), torch.float32)
    b, c = guarded((m, n), torch.float32), guarded((n, m), torch.float32)
    run("readback_after_simt_f32", a, b, c)
    assert_same(b, a, "B")
    assert_same(c, a.t().contiguous(), "C")
    assert_guards(b, "B")
    assert_guards(c, "C")


# -- a kernel past UnrollBudget's code-size budget ---------------------------------------------
@pytest.mark.parametrize("m, n, v, k", [(100, 24 * 64 - 37, 50, 500), (16, 24 * 64, 1, 512),
                                        (1, 1, 1, 1)])
def test_a_kernel_past_the_unroll_budget_runs_its_rolled_loops_right(m, n, v, k):
    """24 guarded gathers and 8 guarded copies, loops kept rolled (#pragma unroll 1): partial
    tiles in rows and columns, indices outside the table."""
    table, a = random_bits((v, n), torch.float16), random_bits((m, k), torch.float16)
    idx = torch.randint(-3, v + 3, (m,), dtype=torch.int32, device=DEVICE)
    out, b = guarded((m, n)), guarded((m, k))
    run("many_guarded_stages", table, idx, out, a, b)
    inside = (idx >= 0) & (idx < v)
    expected = bits(table)[idx.clamp(0, v - 1).long()]
    expected[~inside] = 0
    assert_same(bits(out), expected)
    assert_same(b, a)
    assert_guards(out)
    assert_guards(b)


# -- a loop nested right in a loop: the proxy fence before its TMA store ----------------------
@pytest.mark.parametrize("m, n", [(64, 64), (128, 512), (1024, 2048)])
def test_a_tma_store_in_a_loop_nested_in_a_loop_reads_what_the_threads_wrote(m, n):
    a = random_bits((m, n), torch.float16)
    b = guarded((n, m), torch.float16)
    for _ in range(5):           # the missing fence showed as a rare race: run it a few times
        run("nested_transpose_f16", a, b)
        assert_same(b, a.t().contiguous())
    assert_guards(b)
