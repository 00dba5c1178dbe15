"""Computed-index gathers and scatters with an eviction_policy on the GPU
(tests/gpu/oob_error/, compiled into build/tlspec_oob_error): the paged KV-cache read token by
token and its inverse scatter, their vectors staged through registers and moved by hinted
ld / st, compared bit-exactly with a torch reference, outputs poisoned and guarded, pages out of
range (gather the fill, scatter nothing) and ragged tiles of tokens.

Imports only the compiled package, torch and pytest (TLSPEC_OOB_ERROR: the package directory).
"""
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
