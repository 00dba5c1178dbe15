"""bench/triton_jobs.py, the Triton peer of bench_jobs.py: its sweep is well formed, and every
config compiles for sm_90 with 16-byte global loads and stores (no GPU needed: Triton compiles
for a named target). Skipped where Triton is not installed; nothing else in tests/ needs it."""
import importlib.util
import inspect
import re

import pytest

from conftest import ROOT

triton = pytest.importorskip("triton")

JOBS = ("copy", "transpose", "gather", "im2col")


@pytest.fixture(scope="module")
def jobs():
    spec = importlib.util.spec_from_file_location("triton_jobs", ROOT / "bench" / "triton_jobs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
