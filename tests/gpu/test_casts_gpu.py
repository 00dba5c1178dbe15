"""Copies that convert their elements on the GPU (tests/gpu/casts/casts.tlspec.yaml, written by
its generate.py, compiled into build/tlspec_casts): every ordered pair of float16, bfloat16,
float32, float8_e4m3, float8_e5m2, int8 and int32, each by every direction a copy goes (global
-> shared, shared -> global, shared -> fragment, fragment -> global, global -> global), M and N
ragged (partial tiles at both edges); N of any length (single-element vectors); float32 beyond
the narrow float types' range (infinity, float8_e4m3's NaN). Every output compared bit-exactly
with torch's `.to(dtype)` of the input, outputs poisoned and guarded; and a converting copy
with eviction hints (hinted vector loads and stores).

Inputs are random, non-zero and of every magnitude a dtype holds up to 100 (so that float ->
int8 stays in range, rounded to any source type: torch leaves out-of-range float -> int
undefined, as C does; tlspec saturates, which only the CPU tests check); int32 inputs reach
2**30 (wrapping into int8, rounding twice into bfloat16 as torch does through float32).

Imports only the compiled package, torch and pytest (TLSPEC_CASTS: the package directory).
"""
import pytest
from gpu_support import DEVICE, assert_guards, assert_same, cases, compiled_package, guarded, \
    random, torch

kernels = compiled_package("TLSPEC_CASTS", "tlspec_casts", "tests/gpu/casts")
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32,
          "e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2, "i8": torch.int8,
          "i32": torch.int32}
PATHS = "XYZVW"     # global -> shared, shared -> global, -> fragment, fragment ->, global -> global
SIZES = cases((1, 16), (16, 64), (17, 80), (45, 208), (100, 1024))


def values(shape, dtype):
    """Random non-zero values of `dtype` in [-100, 100]: tiny ones (float8 subnormals) and every
    magnitude above (ties and rounding to every narrower type); int8: any."""
    if dtype == torch.int8:
        return random(shape, dtype)
    if dtype == torch.int32:
        x = torch.randint(-2**30, 2**30, shape, dtype=torch.int32, device=DEVICE)
        small = torch.rand(shape, device=DEVICE) < 0.5
        x[small] = x[small] % 255 - 127
        x[x == 0] = 1
        return x
    scale = torch.exp2(torch.randint(-18, 7, shape, device=DEVICE).float())
    x = (torch.rand(shape, device=DEVICE) * 2 - 1) * scale
    x = x.clamp(-100, 100).to(dtype).float()    # torch has no masked fill for float8
    x[x == 0] = 1
    return x.to(dtype)


def run(name, src, dsts, m, n, inputs=None):
    a = values((m, n), DTYPES[src]) if inputs is None else inputs
    outs = {f"{path}_{d}": guarded((m, n), DTYPES[d]) for d in dsts for path in PATHS}
    getattr(kernels, name)(a, *outs.values())
    torch.cuda.synchronize()
    for key, out in outs.items():
        want = a.to(DTYPES[key.split("_", 1)[1]])
        assert_same(out, want, f"{name}: {key} ({src} -> {key.split('_', 1)[1]})")
        assert_guards(out, key)


@pytest.mark.parametrize("m, n", SIZES)
@pytest.mark.parametrize("src", list(DTYPES))
def test_every_pair_by_every_direction(src, m, n):
    run(f"cast_from_{src}", src, [d for d in DTYPES if d != src], m, n)


@pytest.mark.parametrize("m, n", cases((1, 1), (3, 7), (17, 65), (33, 131)))
def test_n_of_any_length(m, n):
    run("cast_ragged", "f32", ["e4m3", "bf16", "i8"], m, n)


@pytest.mark.parametrize("m, n", cases((16, 64), (31, 144)))
def test_float32_out_of_range_becomes_infinity_or_nan_as_in_torch(m, n):
    """Magnitudes up to 2**20, ties of float8 at its top (464: 448; 61440: infinity) and
    infinities: float16, bfloat16 and float8_e5m2 overflow to infinity, float8_e4m3 to NaN."""
    a = torch.randn((m, n), device=DEVICE) * torch.exp2(
        torch.randint(0, 21, (m, n), device=DEVICE).float())
    a.view(-1)[:6] = torch.tensor([464.0, -464.0, 61440.0, 448.0, float("inf"), -float("inf")])
    a[a == 0] = 1
    run("cast_overflow", "f32", ["f16", "bf16", "e4m3", "e5m2"], m, n, inputs=a)


@pytest.mark.parametrize("m, n", cases((16, 64), (45, 208)))
def test_hinted_converting_copies(m, n):
    a = values((m, n), torch.float32)
    b = guarded((m, n), torch.float8_e4m3fn)
    kernels.cast_hinted(a, b)
    torch.cuda.synchronize()
    assert_same(b, a.to(torch.bfloat16).to(torch.float8_e4m3fn), "B")
    assert_guards(b, "B")
