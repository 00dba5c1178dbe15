"""What the GPU tests of compiled packages share: finding and importing the package, random
inputs that are never zero, poisoned outputs, bit-exact comparison and the im2col reference.

Imports only torch and pytest (and the package): these tests run on a GPU machine without tvm.
Without torch, a CUDA device or the package, the importing test module is skipped with the reason.
"""
import importlib
import json
import os
import sys
from math import prod
from pathlib import Path

import pytest
from poison import GUARD_BYTES, POISON_BITS

torch = pytest.importorskip("torch", reason="the GPU tests need torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)
F = torch.nn.functional

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "cuda"
BITS = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
# tlspec dtype -> torch dtype
TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                "float64": torch.float64, "int8": torch.int8, "int16": torch.int16,
                "int32": torch.int32, "int64": torch.int64, "uint8": torch.uint8,
                "uint16": torch.uint16, "uint32": torch.uint32, "uint64": torch.uint64,
                "float8_e4m3": torch.float8_e4m3fn, "float8_e5m2": torch.float8_e5m2}
# the patterns (poison.py) that a kernel must overwrite; random inputs never hold them
POISON = {TORCH_DTYPES[name]: bits for name, bits in POISON_BITS.items()}
BLACKWELL = torch.cuda.get_device_capability() == (10, 0)
on_blackwell = pytest.mark.skipif(not BLACKWELL, reason="an sm_100a kernel runs on a compute "
                                  "capability 10.0 GPU (B200) only; test_specs_gpu.py's "
                                  "test_sm100a_kernels_refuse_this_gpu checks the refusal here")


def compiled_package(env: str, folder: str, source: str):
    """The package `tlspec compile SOURCE -o build/FOLDER` wrote (or $ENV), imported."""
    path = Path(os.environ.get(env, ROOT / "build" / folder))
    if not (path / "_tlspec_package.json").is_file():
        pytest.skip(f"no compiled kernels at {path} (run tlspec compile {source} -o {path})",
                    allow_module_level=True)
    sys.path.insert(0, str(path.parent))
    return importlib.import_module(path.name)


def package_kernels(package) -> list[str]:
    """The names of the kernels an imported package holds (its _tlspec_package.json)."""
    manifest = Path(package.__file__).parent / "_tlspec_package.json"
    return json.loads(manifest.read_text())["kernels"]


def cases(*sizes):
    """pytest parameters of the size tuples, each named like 64x100."""
    return [pytest.param(*size, id="x".join(str(v) for v in size)) for size in sizes]


def bits(x):
    """The raw bits of x as integers of its size: a bit-exact view (NaN == NaN, -0 != +0)."""
    return x.view(BITS[x.element_size()])


def random(shape, dtype=torch.float16):
    """Random values, never zero (a kernel that writes zeros must not pass) nor the poison."""
    if not dtype.is_floating_point or dtype.itemsize == 1:     # random bits (float8: NaN too)
        return random_bits(shape, dtype)
    x = torch.randn(shape, device=DEVICE).to(dtype)
    x[x == 0] = 1
    return x


def random_bits(shape, dtype):
    """Random bit patterns of any dtype (NaN payloads and signed zeros included), never all zero
    bits nor the poison."""
    size = torch.empty((), dtype=dtype).element_size()
    x = torch.randint(-2**(8 * size - 1), 2**(8 * size - 1) - 1, shape, dtype=BITS[size],
                      device=DEVICE)
    x[(x == 0) | (x == POISON[dtype])] = 1         # the patterns are positive as signed ints
    return x.view(dtype)


def guarded(shape, dtype=torch.float16):
    """A poisoned C-contiguous tensor of `shape` inside a larger poisoned buffer (16-byte aligned,
    as the wrappers require); `assert_guards` checks that the poison around it survived."""
    numel = prod(shape)
    guard = GUARD_BYTES // torch.empty((), dtype=dtype).element_size()
    flat = torch.empty(numel + 2 * guard, dtype=dtype, device=DEVICE)
    bits(flat).fill_(POISON[dtype])
    return flat[guard:guard + numel].view(shape)


def assert_same(actual, expected, what="output"):
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)}, expected " \
                                           f"{tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    a, e = bits(actual), bits(expected)
    if torch.equal(a, e):
        return
    diff = a != e
    unwritten = int((diff & (a == POISON[actual.dtype])).sum())
    first = diff.nonzero()[:4].tolist()
    pytest.fail(f"{what}: {int(diff.sum())} of {a.numel()} elements differ ({unwritten} still "
                f"poisoned: never written); first at {first}")


def span(x) -> int:
    """Elements from the first to the last of `x`, the gaps of a strided view included."""
    return 1 + sum((n - 1) * s for n, s in zip(x.shape, x.stride())) if x.numel() else 0


def guard_damage(out) -> tuple[int, int]:
    """Elements of the buffer around `out` (made by `guarded`, or a strided view of such a
    tensor) written before and after it."""
    base = out._base
    assert base is not None and base.dim() == 1, "guard_damage needs a tensor made by guarded()"
    start, end = out.storage_offset(), out.storage_offset() + span(out)
    b = bits(base)
    poison = POISON[out.dtype]
    return int((b[:start] != poison).sum()), int((b[end:] != poison).sum())


def assert_guards(out, what="output"):
    """No element of the buffer around `out` (made by `guarded`) was written."""
    before, after = guard_damage(out)
    assert before == 0 and after == 0, \
        f"{what}: {before} elements before and {after} after the tensor were written"


def run_kernel(kernels, name, *shapes_in, outs, dtype):
    """Call kernel `name` of the package `kernels` on random inputs of `shapes_in` and guarded
    outputs of `outs`, in that order; (inputs, outputs)."""
    inputs = [random(shape, dtype) for shape in shapes_in]
    outputs = [guarded(shape, dtype) for shape in outs]
    getattr(kernels, name)(*inputs, *outputs)
    torch.cuda.synchronize()
    return inputs, outputs


def check_outputs(outputs, expected):
    """Every output bit-exact with its expected tensor, its guards untouched."""
    for i, (out, want) in enumerate(zip(outputs, expected)):
        assert_same(out, want, f"output {i}")
        assert_guards(out, f"output {i}")


def index_tensor(values, tail, dtype):
    """A 1-D index tensor holding `values`, followed in memory by `tail`: a kernel that reads or
    acts on positions past the end of the index tensor (a partial tile) sees valid indices."""
    buf = torch.empty(len(values) + len(tail), dtype=dtype, device=DEVICE)
    buf[:len(values)] = values
    buf[len(values):] = tail
    return buf[:len(values)]


def im2col_reference(img, k, s, d, p):
    """The (N*OH*OW) x (KH*KW*C) column matrix, columns in (kh, kw, c) order; each of k, s, d, p
    an integer (both axes) or an (h, w) pair. F.unfold on float32 only moves values, and float32
    holds every fp16, bf16 and int8 value exactly."""
    n, _, _, c = img.shape
    k, s, d, p = (tuple(v) if isinstance(v, (list, tuple)) else (v, v) for v in (k, s, d, p))
    cols = F.unfold(img.permute(0, 3, 1, 2).float(), k, dilation=d, padding=p, stride=s)
    length, taps = cols.shape[-1], k[0] * k[1]                # (N, C*KH*KW, L), (c, kh, kw) order
    cols = cols.view(n, c, taps, length).permute(0, 3, 2, 1).reshape(n * length, taps * c)
    return cols.to(img.dtype)


def paged_reference(cache, table, t, fill):
    """out[b, t] = cache[table[b, t // P], t % P], the fill where t // P is past the table or its
    entry is not a page of the cache."""
    b, maxp = table.shape
    slots = cache.shape[1]
    tokens = torch.arange(t, device=DEVICE)
    j = tokens // slots
    pages = torch.full((b, t), -1, dtype=torch.int64, device=DEVICE)
    pages[:, j < maxp] = table[:, j[j < maxp]].long()
    ok = (pages >= 0) & (pages < cache.shape[0])
    out = torch.full((b, t, *cache.shape[2:]), fill, dtype=cache.dtype, device=DEVICE)
    out[ok] = cache[pages[ok], (tokens % slots).expand(b, t)[ok]]
    return out


def paged_scatter_reference(cache, table, tokens):
    """cache after cache[table[b, t // P], t % P] = tokens[b, t] for every token whose page is
    in the table and in the cache (the others write nothing)."""
    b, t = tokens.shape[:2]
    maxp, slots = table.shape[1], cache.shape[1]
    steps = torch.arange(t, device=DEVICE)
    j = steps // slots
    pages = torch.full((b, t), -1, dtype=torch.int64, device=DEVICE)
    pages[:, j < maxp] = table[:, j[j < maxp]].long()
    ok = (pages >= 0) & (pages < cache.shape[0])
    want = cache.clone()
    want[pages[ok], (steps % slots).expand(b, t)[ok]] = tokens[ok]
    return want
