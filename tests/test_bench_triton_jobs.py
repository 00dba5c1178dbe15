"""bench/triton_jobs.py, the Triton peer of bench_jobs.py: its sweep is well formed, every
config compiles for sm_90 with 16-byte global loads and stores (no GPU needed: Triton compiles
for a named target), and every config's output is bit for bit a numpy reference's under
Triton's interpreter, on sizes that leave partial tiles. Skipped where Triton is not installed;
nothing else in tests/ needs it."""
import importlib.util
import inspect
import re

import pytest

from conftest import ROOT

triton = pytest.importorskip("triton")

JOBS = ("copy", "transpose", "gather", "paged_kv", "im2col")


def load_jobs(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "triton_jobs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def jobs():
    return load_jobs("triton_jobs")


def power_of_two(n):
    return isinstance(n, int) and n > 0 and n & (n - 1) == 0


@pytest.mark.parametrize("job", JOBS)
def test_sweep_is_well_formed(jobs, job):
    assert set(jobs.CONFIGS) == set(jobs.LAUNCHERS) == set(JOBS)
    configs = jobs.CONFIGS[job]
    assert 3 <= len(configs) <= 8
    names = [jobs.describe(c) for c in configs]
    assert len(set(names)) == len(names), f"{job}: a config is swept twice"
    tunables = {name for name in inspect.signature(jobs.LAUNCHERS[job]).parameters
                if name.isupper() or name == "num_warps"}
    for config in configs:
        assert set(config) == tunables, f"{job}: {config} does not name {sorted(tunables)}"
        assert all(power_of_two(v) for v in config.values()), config
        assert config["num_warps"] <= 32
        tile = 1
        for key, value in config.items():
            tile *= value if key != "num_warps" else 1
        assert tile <= 2**16, f"{job}: {config}: a tile of {tile} elements"


# Each kernel's pointer arguments and the ints Triton finds divisible by 16 at the benchmark's
# sizes (it specializes on that at launch, and the vector widths depend on it).
KERNELS = {
    "copy": ({"src": "*fp16", "dst": "*fp16"}, {"n"}, {}),
    "transpose": ({"a": "*fp16", "b": "*fp16"}, {"M", "N", "stride_a", "stride_b"}, {}),
    "gather": ({"table": "*fp16", "idx": "*i32", "out": "*fp16"},
               {"R", "D", "stride_table", "stride_out"}, {}),
    "paged_kv": ({"cache": "*fp16", "block_table": "*i32", "out": "*fp16"},
                 {"T", "D", "stride_bt", "stride_page", "stride_slot", "stride_ob", "stride_ot"},
                 {"P": 16}),
    "im2col": ({"img": "*fp16", "col": "*fp16"}, {"P", "C"},
               {"K": 3, "STRIDE": 1, "DILATION": 1, "PAD": 1}),
}


@pytest.mark.parametrize("job", JOBS)
def test_every_config_compiles_to_16_byte_accesses(jobs, job):
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    kernel = getattr(jobs, f"{job}_kernel")
    pointers, aligned, fixed = KERNELS[job]
    names = kernel.arg_names
    signature = {p.name: "constexpr" if p.is_constexpr else pointers.get(p.name, "i32")
                 for p in kernel.params}
    attrs = {(names.index(n),): [["tt.divisibility", 16]] for n in [*pointers, *aligned]}
    for config in jobs.CONFIGS[job]:
        constants = {**fixed, **{k: v for k, v in config.items() if k != "num_warps"}}
        source = ASTSource(kernel, signature=signature, constexprs=constants, attrs=attrs)
        ptx = triton.compile(source, target=GPUTarget("cuda", 90, 32),
                             options={"num_warps": config["num_warps"]}).asm["ptx"]
        stores = set(re.findall(r"st\.global[.\w]*", ptx))
        assert stores == {"st.global.v4.b32"}, f"{job} {config}: {stores}"
        assert "ld.global.v4.b32" in ptx, f"{job} {config}: no 16-byte loads"


class HostArray:
    """A numpy array as Triton's interpreter takes a tensor (its data pointer and a torch-named
    dtype), and as triton_jobs' launchers read one, so the kernels run here without torch."""

    dtypes = {}     # one object per dtype, kept: Triton caches a dtype's type by the object

    def __init__(self, array):
        self.a, self.shape = array, array.shape
        name = f"torch.{array.dtype.name}"
        self.dtype = self.dtypes.setdefault(name, type("dtype", (), {"__str__": lambda _: name})())

    def data_ptr(self):
        return self.a.ctypes.data

    def numel(self):
        return self.a.size

    def stride(self, dim):
        return self.a.strides[dim] // self.a.itemsize

    def is_contiguous(self):
        return self.a.flags.c_contiguous


def im2col_reference(np, img, stride, dilation, pad):
    """The 3x3 column matrix, columns in (kh, kw, c) order: strided windows of the padded image."""
    n, h, w, c = img.shape
    oh = (h + 2 * pad - 2 * dilation - 1) // stride + 1
    ow = (w + 2 * pad - 2 * dilation - 1) // stride + 1
    padded = np.pad(img, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    taps = [padded[:, kh * dilation::stride, kw * dilation::stride, :][:, :oh, :ow]
            for kh in range(3) for kw in range(3)]
    return np.stack(taps, 3).reshape(n * oh * ow, 9 * c)


def test_every_config_matches_numpy_under_the_interpreter(monkeypatch):
    np = pytest.importorskip("numpy")
    from triton.runtime import interpreter
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    # The arrays are host memory already: no copies to and from a device.
    monkeypatch.setattr(interpreter.GridExecutor, "_init_args_hst", lambda _, a, k: (a, k))
    monkeypatch.setattr(interpreter.GridExecutor, "_restore_args_dev", lambda *_: None)
    interpreted = load_jobs("triton_jobs_interpreted")
    rng = np.random.default_rng(14)
    a = rng.standard_normal((300, 136)).astype(np.float16)
    table = rng.standard_normal((500, 72)).astype(np.float16)
    idx = rng.integers(0, 500, 37).astype(np.int32)
    img = rng.standard_normal((2, 5, 7, 24)).astype(np.float16)
    cache = rng.standard_normal((9, 16, 40)).astype(np.float16)      # 9 pages of 16 slots
    block_table = rng.permutation(9)[:6].reshape(2, 3).astype(np.int32)
    t = np.arange(37)                                                # a partial last page
    paged = cache[block_table[:, t // 16], t % 16]
    cases = [("copy", a, (a,), {}), ("transpose", a.T.copy(), (a,), {}),
             ("gather", table[idx], (table, idx), {}),
             ("paged_kv", paged, (cache, block_table), {}),
             ("im2col", im2col_reference(np, img, 1, 1, 1), (img,), {}),
             ("im2col", im2col_reference(np, img, 2, 2, 2), (img,),
              {"stride": 2, "dilation": 2, "pad": 2})]
    for job, want, inputs, options in cases:
        for config in interpreted.CONFIGS[job]:
            out = np.full_like(want, np.nan)
            interpreted.LAUNCHERS[job](*map(HostArray, (*inputs, out)), **config, **options)
            assert np.array_equal(out.view(np.int16), want.view(np.int16)), f"{job} {config}"
