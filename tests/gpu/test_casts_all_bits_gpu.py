"""Converting copies on every bit pattern: each 8- and 16-bit source type's 256 or 65536
patterns (NaNs of every payload and sign, infinities, subnormals, both zeros), and a million
random float32 and int32 patterns with their special values, converted by the compiled
`cast_from_<S>` kernels of tests/gpu/casts (every direction a copy goes), by the reference
interpreter's conversion (tlspec.interpret.convert) and by torch's `.to()` on the GPU.

The kernel must equal the interpreter on every pattern (the differential batches compare them
on random bits), and torch wherever torch defines the result: everywhere but float -> integer
of a value outside the integer's range or NaN (C leaves it undefined; tlspec saturates and
gives 0 for NaN, docs/spec.md "Type conversion").

Imports the compiled package, torch, numpy and tlspec.interpret (no tvm).
"""
import pytest
from gpu_support import DEVICE, compiled_package, torch

np = pytest.importorskip("numpy", reason="the interpreter needs numpy")
pytest.importorskip("tlspec.interpret", reason="the interpreter needs tlspec importable")
from tlspec.interpret.convert import convert_bits  # noqa: E402

kernels = compiled_package("TLSPEC_CASTS", "tlspec_casts", "tests/gpu/casts")
DTYPES = {"f16": (torch.float16, "float16"), "bf16": (torch.bfloat16, "bfloat16"),
          "f32": (torch.float32, "float32"), "e4m3": (torch.float8_e4m3fn, "float8_e4m3"),
          "e5m2": (torch.float8_e5m2, "float8_e5m2"), "i8": (torch.int8, "int8"),
          "i32": (torch.int32, "int32")}
PATHS = "XYZVW"
BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32}
SPECIAL32 = [0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
             0xFFFFFFFF, 0x7FFFFFFF, 0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0x43E00000, 0x43E80000,
             0x477FF000, 0x47800000, 0xC3000000, 0x4F000000, 0xCF000000, 0x80000001]


def patterns(tag: str) -> np.ndarray:
    """Every pattern of a 1- or 2-byte type, else random 32-bit ones and SPECIAL32, as a
    (rows, 256) array of unsigned bits."""
    size = torch.empty((), dtype=DTYPES[tag][0]).element_size()
    if size < 4:
        flat = np.arange(2 ** (8 * size), dtype=np.uint64).astype(BITS[size])
    else:
        rng = np.random.default_rng(7)
        flat = rng.integers(0, 2**32, 2**20 - len(SPECIAL32), dtype=np.uint64).astype(np.uint32)
        flat = np.concatenate([np.array(SPECIAL32, np.uint32), flat])
    return flat.reshape(-1, 256)


def as_tensor(bits: np.ndarray, tag: str) -> torch.Tensor:
    """Unsigned bits as a CUDA tensor of the source type (through the signed type of the size,
    which torch has for every size)."""
    signed = {1: np.uint8, 2: np.int16, 4: np.int32}[bits.dtype.itemsize]
    return torch.from_numpy(bits.view(signed)).to(DEVICE).view(DTYPES[tag][0])


def to_bits(t: torch.Tensor) -> np.ndarray:
    size = t.element_size()
    signed = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[size]
    return t.contiguous().view(signed).cpu().numpy().view(BITS[size])


def undefined_in_torch(src_bits: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Where torch's float -> integer result is undefined: NaN, or outside dst's range."""
    if DTYPES[dst][1] not in ("int8", "int32") or DTYPES[src][1] in ("int8", "int32"):
        return np.zeros(src_bits.shape, bool)
    f = convert_bits(src_bits, DTYPES[src][1], "float32").view(np.float32)
    low, high = (-128, 127) if dst == "i8" else (-2**31, 2**31 - 1)
    with np.errstate(invalid="ignore"):
        return np.isnan(f) | (np.trunc(f) < low) | (np.trunc(f) > high)


def describe(where, a, got, want, other, names) -> str:
    idx = np.argwhere(where)[:6]
    return "; ".join(f"{a[tuple(i)]:#x} -> {names[0]} {got[tuple(i)]:#x}, {names[1]} "
                     f"{want[tuple(i)]:#x}, {names[2]} {other[tuple(i)]:#x}" for i in idx)


@pytest.mark.parametrize("src", list(DTYPES))
def test_every_pattern_converts_as_the_interpreter_and_torch(src):
    bits = patterns(src)
    a = as_tensor(bits, src)
    dsts = [d for d in DTYPES if d != src]
    outs = {f"{p}_{d}": torch.empty(bits.shape, dtype=DTYPES[d][0], device=DEVICE)
            for d in dsts for p in PATHS}
    getattr(kernels, f"cast_from_{src}")(a, *outs.values())
    torch.cuda.synchronize()
    problems = []
    for d in dsts:
        interpreted = convert_bits(bits, DTYPES[src][1], DTYPES[d][1])
        by_torch = to_bits(a.to(DTYPES[d][0]))
        undefined = undefined_in_torch(bits, src, d)
        for p in PATHS:
            got = to_bits(outs[f"{p}_{d}"])
            wrong = got != interpreted
            if wrong.any():
                problems.append(f"{src} -> {d} ({p}): {int(wrong.sum())} differ from the "
                                "interpreter: " + describe(wrong, bits, got, interpreted,
                                                           by_torch, ("kernel", "interpreter",
                                                                      "torch")))
            off = (got != by_torch) & ~undefined
            if off.any():
                problems.append(f"{src} -> {d} ({p}): {int(off.sum())} differ from torch: "
                                + describe(off, bits, got, by_torch, interpreted,
                                           ("kernel", "torch", "interpreter")))
    assert not problems, "\n".join(problems)
