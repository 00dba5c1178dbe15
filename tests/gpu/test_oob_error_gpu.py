"""Gathers and scatters in the debug mode (`out_of_range: error`) and computed-index ones with an
eviction_policy, on the GPU (tests/gpu/oob_error/, compiled into build/tlspec_oob_error).

Debug mode (debug.tlspec.yaml): a 1-D table gather (int32 indices; int64 ones in 64-column
chunks of a loop), a table scatter, the paged KV-cache read token by token (N-D table, computed
indices) and its inverse scatter. In-range calls are bit-exact against torch with poisoned and
guarded outputs. A call with one index out of range raises IndexError (OutOfRangeError) with the
interpreter's located message (the spec's file:line:col, the index, its value, the valid range,
the hint), after moving exactly what `fill` moves: the row filled or skipped, no write outside
the outputs (their guards keep the poison). The next in-range call runs (the record was
cleared). A call under CUDA graph capture is refused before it launches.

Eviction (eviction.tlspec.yaml): the paged read and write with evict_first / evict_last, staged
through registers and moved by hinted ld / st: bit-exact, pages out of range gather the fill or
scatter nothing, ragged tiles of tokens.

Imports only the compiled package, torch and pytest (TLSPEC_OOB_ERROR: the package directory).
"""
import re

import pytest
from gpu_support import DEVICE, assert_guards, assert_same, compiled_package, guarded, \
    paged_reference, paged_scatter_reference, random, torch

kernels = compiled_package("TLSPEC_OOB_ERROR", "tlspec_oob_error", "tests/gpu/oob_error")
P = 16
# (B, T, MAXP, NP): one token; ragged tiles; a block table shorter than T; many sequences
SIZES = [(1, 1, 1, 1), (3, 37, 3, 10), (2, 100, 5, 4), (5, 300, 19, 64)]


def block_table(b, maxp, np_, dtype=torch.int32):
    """Random pages of [0, NP), the first entries replaced by pages out of range."""
    table = torch.randint(0, np_, (b, maxp), device=DEVICE, dtype=torch.int64)
    bad = [np_, -1, 2**31 - 1][:table.numel() // 2]
    table.view(-1)[:len(bad)] = torch.tensor(bad, device=DEVICE)
    return table.to(dtype)


def run(name, *args):
    getattr(kernels, name)(*args)
    torch.cuda.synchronize()


@pytest.mark.parametrize("name, dtype, d, fill, index", [
    ("paged_evict_f16", torch.float16, 72, float("-inf"), torch.int32),
    ("paged_evict_wide_bf16", torch.bfloat16, 1024, 0, torch.int64)])
@pytest.mark.parametrize("b, t, maxp, np_", SIZES)
def test_an_evicting_paged_gather(name, dtype, d, fill, index, b, t, maxp, np_):
    cache, table = random((np_, P, d), dtype), block_table(b, maxp, np_, index)
    out = guarded((b, t, d), dtype)
    run(name, cache, table, out)
    assert_same(out, paged_reference(cache, table, t, fill), "out")
    assert_guards(out, "out")


@pytest.mark.parametrize("b, t, maxp", [(1, 1, 1), (3, 37, 3), (2, 100, 5), (5, 300, 19)])
def test_an_evicting_paged_scatter_writes_only_its_slots(b, t, maxp):
    np_ = b * maxp + 3
    table = torch.randperm(np_, device=DEVICE)[:b * maxp].view(b, maxp).int()
    table.view(-1)[:2] = torch.tensor([-1, np_], device=DEVICE, dtype=torch.int32)[:b * maxp]
    tokens = random((b, t, 64))
    cache = guarded((np_, P, 64))
    cache.copy_(random((np_, P, 64)))
    want = paged_scatter_reference(cache, table, tokens)
    run("paged_write_evict_f16", cache, table, tokens)
    assert_same(cache, want, "cache")
    assert_guards(cache, "cache")


# -- the debug mode ---------------------------------------------------------------------------
HINT = "\n  hint: out_of_range: error stops here; with 'fill' the row is filled"


def raises_located(name, args, line_pattern, at, hint=HINT):
    """Kernel `name` on `args` raises IndexError whose text is the interpreter's located error:
    debug.tlspec.yaml:LINE:COL: error: LINE_PATTERN, then its pointer and hint; the match."""
    with pytest.raises(IndexError) as error:
        run(name, *args)
    text = str(error.value)
    first, pointer = text.split("\n")[:2]
    found = re.fullmatch(r".*debug\.tlspec\.yaml:\d+:\d+: error: " + line_pattern, first)
    assert found, text
    assert pointer == f"  at: {at}", text
    assert text.endswith(hint), text
    return found


def rows_reference(table, idx, fill):
    ok = (idx >= 0) & (idx < table.shape[0])
    out = torch.full((idx.numel(), table.shape[1]), fill, dtype=table.dtype, device=DEVICE)
    out[ok] = table[idx[ok].long()]
    return out


ROWS = {"rows_debug_f16": (torch.float16, torch.int32, 0, "", "/stages/0/gather/index"),
        "rows_chunks_debug_i8": (torch.int8, torch.int64, -99, ", c = 0",
                                 "/stages/0/for/stages/0/gather/index")}


@pytest.mark.parametrize("name, v, d, r, bad_value", [
    ("rows_debug_f16", 1, 8, 1, 4), ("rows_debug_f16", 50, 72, 37, 53),
    ("rows_debug_f16", 1000, 256, 300, -1), ("rows_chunks_debug_i8", 30, 192, 5, 2**40),
    ("rows_chunks_debug_i8", 30, 64, 40, -2**40)])
def test_a_debug_table_gather(name, v, d, r, bad_value):
    """int32 indices; int64 ones past the int32 range, in 64-column chunks of a loop (the error
    names its variable at the first chunk)."""
    dtype, index, fill, loop, at = ROWS[name]
    table = random((v, d), dtype)
    idx = torch.randint(0, v, (r,), device=DEVICE, dtype=index)
    out = guarded((r, d), dtype)
    run(name, table, idx, out)
    assert_same(out, rows_reference(table, idx, fill), "out")
    assert_guards(out, "out")
    bad = r // 2
    idx[bad] = bad_value
    out = guarded((r, d), dtype)
    raises_located(name, (table, idx, out),
                   rf"gather in block \(bx={bad // 16}\){loop}: index position "
                   rf"{bad % 16} of 'idx\[bx\*16 : \+16\]' holds {bad_value}, outside "
                   rf"the table's rows \[0, {v}\)", at,
                   HINT + " (gather) or not written (scatter)")
    assert_same(out, rows_reference(table, idx, fill), "out")    # filled as with 'fill'
    assert_guards(out, "out")
    idx[bad] = 0
    out = guarded((r, d), dtype)
    run(name, table, idx, out)                                  # the record was cleared
    assert_same(out, rows_reference(table, idx, fill), "out")


@pytest.mark.parametrize("v, r", [(20, 7), (300, 100)])
def test_a_debug_table_scatter_writes_only_rows_in_range(v, r):
    d = 68
    idx = torch.randperm(v, device=DEVICE)[:r].int()
    rows = random((r, d), torch.float32)
    table = guarded((v, d), torch.float32)
    table.copy_(random((v, d), torch.float32))
    want = table.clone()
    want[idx.long()] = rows
    run("rows_scatter_debug_f32", table, idx, rows)
    assert_same(table, want, "table")
    idx[0] = -1
    before = table.clone()
    raises_located("rows_scatter_debug_f32", (table, idx, rows),
                   rf"scatter in block \(bx=0\): index position 0 of "
                   rf"'idx\[bx\*16 : \+16\]' holds -1, outside the table's rows \[0, {v}\)",
                   "/stages/0/scatter/index", HINT + " (gather) or not written (scatter)")
    want = before.clone()
    want[idx[1:].long()] = rows[1:]
    assert_same(table, want, "table")                          # row 0 written nowhere
    assert_guards(table, "table")
    idx[0] = min(set(range(v)) - set(idx[1:].tolist()))         # a row no other index names
    want[idx.long()] = rows
    run("rows_scatter_debug_f32", table, idx, rows)             # the record was cleared
    assert_same(table, want, "table")


def test_a_debug_paged_gather_names_the_page_out_of_range_and_the_read_past_the_table():
    b, t, maxp, np_ = 3, 70, 5, 12
    cache = random((np_, P, 72))
    table = torch.randint(0, np_, (b, maxp), device=DEVICE, dtype=torch.int32)
    out = guarded((b, t, 72))
    run("paged_debug_f16", cache, table, out)
    assert_same(out, paged_reference(cache, table, t, float("-inf")), "out")
    assert_guards(out, "out")
    table[2, 3] = 99                                            # tokens 48..63 of sequence 2
    out = guarded((b, t, 72))
    found = raises_located("paged_debug_f16", (cache, table, out),
                           r"gather in block \(bx=3, by=2\): at row t = (\d+), index 0 "
                           rf"'block_table\[by, t // P\]' is 99, outside \[0, {np_}\) of "
                           r"dimension 0 of 'cache'", "/stages/0/gather/index/0")
    assert 48 <= int(found.group(1)) < 64
    assert_same(out, paged_reference(cache, table, t, float("-inf")), "out")
    assert_guards(out, "out")
    table[2, 3] = 1
    short = table[:, :4].contiguous()                           # tokens 64..69 have no page
    out = guarded((b, t, 72))
    found = raises_located("paged_debug_f16", (cache, short, out),
                           r"gather in block \(bx=4, by=(\d)\): at row t = (\d+), "
                           r"'block_table\[by, t // P\]' reads block_table\[(\d), 4\], "
                           r"outside 'block_table' \(shape \[3, 4\]\)",
                           "/stages/0/gather/index/0")
    assert found.group(1) == found.group(3) and 64 <= int(found.group(2)) < 70
    assert_same(out, paged_reference(cache, short, t, float("-inf")), "out")
    assert_guards(out, "out")
    out = guarded((b, t, 72))
    run("paged_debug_f16", cache, table, out)
    assert_same(out, paged_reference(cache, table, t, float("-inf")), "out")


def test_a_debug_paged_scatter_writes_only_its_slots():
    b, t, maxp = 2, 45, 3
    np_ = b * maxp + 2
    table = torch.randperm(np_, device=DEVICE)[:b * maxp].view(b, maxp)
    tokens = random((b, t, 64), torch.bfloat16)
    cache = guarded((np_, P, 64), torch.bfloat16)
    cache.copy_(random((np_, P, 64), torch.bfloat16))
    want = paged_scatter_reference(cache, table, tokens)
    run("paged_write_debug_bf16", cache, table, tokens)
    assert_same(cache, want, "cache")
    table[1, 0] = -2**33
    want = paged_scatter_reference(cache, table, tokens)
    found = raises_located("paged_write_debug_bf16", (cache, table, tokens),
                           r"scatter in block \(bx=0, by=1\): at row t = (\d+), index 0 "
                           rf"'block_table\[by, t // P\]' is {-2**33}, outside "
                           rf"\[0, {np_}\) of dimension 0 of 'cache'",
                           "/stages/0/scatter/index/0")
    assert 0 <= int(found.group(1)) < 16
    assert_same(cache, want, "cache")
    assert_guards(cache, "cache")
    table[1, 0] = min(set(range(np_)) - set(table.view(-1).tolist()))    # a page of its own
    tokens = random((b, t, 64), torch.bfloat16)
    want = paged_scatter_reference(cache, table, tokens)
    run("paged_write_debug_bf16", cache, table, tokens)         # the record was cleared
    assert_same(cache, want, "cache")


def test_a_debug_call_under_graph_capture_is_refused():
    table, idx = random((16, 64)), torch.zeros(16, device=DEVICE, dtype=torch.int32)
    out = guarded((16, 64))
    stream = torch.cuda.Stream()
    graph = torch.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="cannot run in a CUDA graph capture"):
        with torch.cuda.graph(graph, stream=stream):
            kernels.rows_debug_f16(table, idx, out)
    run("rows_debug_f16", table, idx, out)                      # outside the capture: runs
    assert_same(out, rows_reference(table, idx, 0), "out")
