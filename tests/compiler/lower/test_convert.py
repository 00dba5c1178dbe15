"""The conversion expressions of a converting copy (tlspec.compiler.lower.convert), run on the
CPU: each is compiled by tvm for LLVM over an array of random bits (NaN, infinities,
subnormals, values out of range) and compared bit for bit with the interpreter's conversion
(NaNs up to their bits, which are the GPU's: checked there on every pattern), which follows
torch's: tlspec's own float32 -> float8 rounding and float -> int saturation
above all. tvm's LLVM backend has no bfloat16 or float8 casts, so the pairs here have no
bfloat16 side; float8 sources widen on their bits (no float8 cast: tvm legalizes those on sm_80
wrongly, which the differential batch of seed 24 found), so they run here too. The GPU tests
check every pair of the CUDA kernels against torch itself."""
import numpy as np
import pytest

tvm = pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from tvm import tirx

from tlspec.compiler.lower.common import BIT_TYPES
from tlspec.compiler.lower.convert import convert
from tlspec.compiler.prims import tvm_dtype
from tlspec.conversions import CONVERTIBLE
from tlspec.dtypes import DTYPE_BYTES
from tlspec.interpret.bits import bits_dtype, numpy_dtype
from tlspec.interpret.convert import convert_bits

N = 4096


def compiled(src: str, dst: str):
    """A CPU function converting N elements of `src` (given as bits) into `dst` (as bits)."""
    a = tirx.decl_buffer((N,), BIT_TYPES[DTYPE_BYTES[src]], name="a")
    b = tirx.decl_buffer((N,), BIT_TYPES[DTYPE_BYTES[dst]], name="b")
    i = tirx.Var("i", "int32")
    value = tirx.BufferLoad(a, [i])
    if str(a.dtype) != tvm_dtype(src):
        value = tirx.reinterpret(tvm_dtype(src), value)
    out = convert(value, tvm_dtype(src), tvm_dtype(dst))
    if str(b.dtype) != tvm_dtype(dst):
        out = tirx.reinterpret(str(b.dtype), out)
    body = tirx.For(i, 0, N, tirx.ForKind.SERIAL, tirx.BufferStore(b, out, [i]))
    func = tirx.PrimFunc([a, b], body).with_attr("global_symbol", "convert")
    return tvm.compile(tvm.IRModule({"convert": func}), target="llvm")["convert"]


def random_bits(dtype: str, seed: int) -> np.ndarray:
    """Random bits of `dtype`; a float type's finite values only where the other side is an
    integer (float -> int of NaN and huge values is defined, but not C's cast on the CPU)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2 ** (8 * DTYPE_BYTES[dtype]), N, dtype=np.uint64)
    if DTYPE_BYTES[dtype] == 1:
        bits[:256] = np.arange(256)             # every float8 / int8 code
    return bits.astype(bits_dtype(dtype))


PAIRS = [(s, d) for s in ("float16", "float32", "float8_e4m3", "float8_e5m2", "int8", "int32")
         for d in CONVERTIBLE
         if s != d and d != "bfloat16"]
ARRAY_TYPES = {1: np.uint8, 2: np.float16, 4: np.uint32}      # numpy twins of BIT_TYPES


@pytest.mark.parametrize("src, dst", PAIRS)
def test_the_conversion_matches_the_interpreter_bit_for_bit(src, dst):
    a = random_bits(src, seed=len(src) * 7 + len(dst))
    if dst.startswith("int") and not src.startswith("int"):
        # the CPU's float -> int32 cast is not CUDA's cvt (saturating, NaN -> 0): in range here
        f = a.view(numpy_dtype(src)).astype(np.float32)
        keep = np.isfinite(f) & (np.abs(f) < 2 ** 31 - 256)
        a = np.where(keep, a, np.zeros_like(a))
    want = convert_bits(a, src, dst)
    got = tvm.runtime.tensor(np.zeros(N, ARRAY_TYPES[DTYPE_BYTES[dst]]))
    compiled(src, dst)(tvm.runtime.tensor(a.view(ARRAY_TYPES[DTYPE_BYTES[src]])), got)
    got = got.numpy().view(want.dtype)
    # NaN bits are the GPU's (canonical NaNs, which the CPU's conversions do not make):
    # tests/gpu/test_casts_all_bits_gpu.py checks them on every pattern; here a NaN in gives a
    # NaN out, and a float16 NaN's sign may survive into float8 on the CPU
    nan_out = _is_nan(want, dst) & _is_nan(got, dst)
    nan_in = _is_nan(a, src) if src == "float16" else np.zeros(a.shape, bool)
    bad = (got != want) & ~nan_out & ~nan_in
    assert not bad.any(), (a[bad][:5], got[bad][:5], want[bad][:5])


def _is_nan(bits: np.ndarray, dtype: str) -> np.ndarray:
    if dtype.startswith("float8"):
        return (bits & 0x7F) >= (0x7F if dtype == "float8_e4m3" else 0x7D)
    if dtype not in ("float16", "bfloat16", "float32"):
        return np.zeros(bits.shape, bool)
    return np.isnan(bits.view(numpy_dtype(dtype)).astype(np.float32))
