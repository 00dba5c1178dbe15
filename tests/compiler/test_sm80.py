"""Target sm_80: tests/gpu/sm80/ (run on a GPU by tests/gpu/test_sm80_gpu.py) compiles on a
machine without a GPU into a package that carries each kernel's sm_80 cubin and compute_80 PTX,
with no Hopper instruction in either; every sm_90a-only feature is an error at the element that
uses it, the same from `tlspec validate` and `tlspec compile`; `--ptx` ships forward-compatible
compute_90 PTX beside sm_90a cubins; `--arch` requires the specs to target it."""
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT, compiled_once, kernel_manifest, tlspec

from tlspec.validate import validate_paths

SM80 = ROOT / "tests" / "gpu" / "sm80"
# PTX that needs sm_90 or later: none of it may reach an sm_80 kernel
HOPPER_PTX = re.compile(r"cp\.async\.bulk|mbarrier|fence\.proxy|setmaxnreg|elect\.sync|"
                        r"griddepcontrol|\.cluster|multimem|tensormap")


@pytest.fixture(scope="module")
def sm80(tmp_path_factory):
    yield from compiled_once(tmp_path_factory, SM80, "tlspec_sm80_ci")


def test_every_sm80_kernel_ships_an_sm80_cubin_and_compute80_ptx(sm80):
    package, out = sm80
    names = sorted(k.name for k in validate_paths([str(SM80)]).kernels)
    assert sorted(package.__all__) == names
    for name in names:
        m = kernel_manifest(out, name)
        assert (m["arch"], m["ptx"], m["ptx_arch"]) == ("sm_80", f"{name}.ptx", "compute_80")
        assert (out / f"{name}.cubin").read_bytes()[:4] == b"\x7fELF"
        ptx = (out / f"{name}.ptx").read_text()
        assert re.search(r"^\.target sm_80$", ptx, re.M), name
        assert f".entry {m['entry']}(" in ptx
        assert not HOPPER_PTX.search(ptx), f"{name}: {HOPPER_PTX.search(ptx).group(0)}"
        assert not m["tensormaps"]


@pytest.mark.parametrize("name, ptx", [("sm80_cp_async_bf16", "cp.async.cg.shared.global"),
                                       ("sm80_cp_async_f32", "cp.async.ca.shared.global")])
def test_cp_async_reaches_the_sm80_ptx(sm80, name, ptx):
    text = (sm80[1] / f"{name}.ptx").read_text()
    assert ptx in text and "cp.async.commit_group" in text and "cp.async.wait_group" in text


def test_instruction_annotation_chooses_simt_loops_on_sm80(tmp_path):
    """A global <-> shared copy that TMA would take on sm_90a is a SIMT loop on sm_80, and
    --dump-ir says why."""
    result = tlspec("compile", str(SM80 / "copy.tlspec.yaml"), "-o", str(tmp_path / "k"),
                    "--dump-ir", str(tmp_path / "ir"))
    assert result.returncode == 0, result.stdout
    ir = (tmp_path / "ir" / "sm80_copy_f16" / "01_InstructionAnnotation.py").read_text()
    assert ir.count('tlspec.why="SIMT loop (target sm_80 has no TMA)"') == 2
    assert 'tlspec.instruction="tma"' not in ir


HOPPER_ON_AMPERE = """\
tlspec: 1
name: hopper_on_ampere
target: sm_80
dims: {N: 4096}
buffers:
  A:   {scope: global, shape: [N], dtype: float32, io: in}
  B:   {scope: global, shape: [N], dtype: float32, io: out}
  A_s: {scope: shared, shape: [256], dtype: float32}
launch:
  grid: {bx: "ceildiv(N, 256)"}
  threads: 128
stages:
  - alloc_barrier: {name: bar, arrive_count: 1}
  - barrier_arrive: {barrier: bar, expect_tx: 1024}
  - tma_copy: {src: "A[bx*256 : +256]", dst: A_s, barrier: bar}
  - barrier_wait: {barrier: bar, parity: 0}
  - copy: {src: A_s, dst: "B[bx*256 : +256]", prefer_instruction: tma}
  - tma_store_wait: {}
"""
CLUSTER_ON_AMPERE = HOPPER_ON_AMPERE.split("stages:")[0].replace(
    "  threads: 128\n", "  threads: 128\n  cluster: [2]\n") + """\
stages:
  - copy: {src: "A[bx*256 : +256]", dst: A_s}
  - copy: {src: A_s, dst: "B[bx*256 : +256]"}
"""
ASYNC = "on sm_80 load tiles with async_copy, then async_wait and sync_threads"
HOPPER_ERRORS = [
    ("13:5", "alloc_barrier needs sm_90a", ASYNC),
    ("14:5", "barrier_arrive needs sm_90a", ASYNC),
    ("15:5", "tma_copy needs TMA, which sm_80 does not have", ASYNC),
    ("16:5", "barrier_wait needs sm_90a", ASYNC),
    ("17:67", "prefer_instruction tma: sm_80 has no TMA",
     "use prefer_instruction: cp_async or sync on sm_80"),
    ("18:5", "tma_store_wait needs sm_90a", ASYNC),
]


@pytest.mark.parametrize("command", ["validate", "compile"])
def test_every_hopper_feature_on_sm80_is_an_error_where_it_is_used(tmp_path, command):
    spec = tmp_path / "hopper_on_ampere.tlspec.yaml"
    spec.write_text(HOPPER_ON_AMPERE)
    args = [command, str(spec)] + (["-o", str(tmp_path / "k")] if command == "compile" else [])
    result = tlspec(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = re.findall(r"^\S+?:(\d+:\d+): error: (.*)\n  at: .*\n  hint: (.*)$", result.stdout,
                        re.M)
    assert len(errors) == len(HOPPER_ERRORS), result.stdout
    for (at, message, hint), (want_at, want_message, want_hint) in zip(errors, HOPPER_ERRORS):
        assert at == want_at and message.startswith(want_message) and hint.startswith(want_hint)
    assert not (tmp_path / "k").exists()


def test_a_cluster_launch_on_sm80_is_an_error_at_the_cluster(tmp_path):
    spec = tmp_path / "cluster_on_ampere.tlspec.yaml"
    spec.write_text(CLUSTER_ON_AMPERE)
    result = tlspec("compile", str(spec), "-o", str(tmp_path / "k"))
    assert result.returncode == 1
    assert re.search(r":12:3: error: thread block clusters need sm_90a or later; the target is "
                     r"sm_80\n  at: /launch/cluster", result.stdout), result.stdout


def test_ptx_option_ships_forward_compatible_ptx_beside_sm90a_cubins(tmp_path):
    spec = ROOT / "specs" / "copy_tiles.tlspec.yaml"
    plain, with_ptx = tmp_path / "plain", tmp_path / "with_ptx"
    assert tlspec("compile", str(spec), "-o", str(plain)).returncode == 0
    assert tlspec("compile", str(spec), "-o", str(with_ptx), "--ptx").returncode == 0
    assert not (plain / "copy_tiles.ptx").exists()
    plain_manifest = kernel_manifest(plain, "copy_tiles")
    assert (plain_manifest["ptx"], plain_manifest["ptx_arch"]) \
        == (None, None)
    m = kernel_manifest(with_ptx, "copy_tiles")
    assert (m["arch"], m["ptx"], m["ptx_arch"]) == ("sm_90a", "copy_tiles.ptx", "compute_90")
    ptx = (with_ptx / "copy_tiles.ptx").read_text()
    # compute_90, not compute_90a: the driver of a later GPU can compile it
    assert re.search(r"^\.target sm_90$", ptx, re.M) and "cp.async.bulk.tensor" in ptx
    assert (with_ptx / "copy_tiles.cubin").read_bytes() == (plain / "copy_tiles.cubin").read_bytes()


def test_arch_requires_every_spec_to_target_it(tmp_path):
    result = tlspec("compile", str(SM80 / "copy.tlspec.yaml"), "-o", str(tmp_path / "k"),
                    "--arch", "sm_90a")
    assert result.returncode == 1
    assert re.search(r"copy\.tlspec\.yaml:8:9: error: kernel 'sm80_copy_f16' targets sm_80, but "
                     r"--arch sm_90a asks for sm_90a kernels only\n  at: /target\n  hint: set "
                     r"`target: sm_90a` in the spec, or drop --arch", result.stdout), result.stdout
    assert tlspec("compile", str(SM80 / "copy.tlspec.yaml"), "-o", str(tmp_path / "k"),
                  "--arch", "sm_80").returncode == 0
    other = tlspec("compile", str(SM80), "-o", str(tmp_path / "k"), "--arch", "sm_100a")
    assert other.returncode == 1 and "targets sm_80, but --arch sm_100a" in other.stdout
    refused = tlspec("compile", str(SM80), "-o", str(tmp_path / "k"), "--arch", "sm_89")
    assert refused.returncode == 2 and "--arch sm_89: this release compiles for sm_90a, sm_80, " \
        "sm_100a" in refused.stderr + refused.stdout
