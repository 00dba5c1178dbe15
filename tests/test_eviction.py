"""eviction_policy: the L2 cache hint of TMA copies and of the global accesses of SIMT stages
(ApplyEvictionHints), checked on the generated CUDA and PTX; the located errors where it cannot
apply. tests/gpu/test_matrix_gpu.py runs the kernels of tests/gpu/matrix/eviction.tlspec.yaml."""
import re
import shutil
import subprocess

import pytest
from conftest import ROOT, compile_here, tlspec

MATRIX = ROOT / "tests" / "gpu" / "matrix" / "eviction.tlspec.yaml"
EVICT_FIRST, EVICT_LAST = "1364590687093260288", "1508705875169116160"   # CacheHintSm90


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """kernel name -> generated CUDA of tests/gpu/matrix/eviction.tlspec.yaml."""
    out = tmp_path_factory.mktemp("eviction") / "tlspec_eviction"
    compile_here(out, MATRIX)
    return {p.stem: p.read_text() for p in out.glob("*.cu")}


def hinted(source: str) -> list[tuple[str, str, str, str]]:
    """(ld | st, nc or '', L1 priority, width) of every hinted access helper called."""
    calls = re.findall(r"tvm_builtin_ptx_(ld|st)_(?:vec_)?global_(nc_)?L1__(evict_\w+?)_L2__cache_hint_"
                       r"(v4_u32|v2_u32|u32|u16)\(", source.split("__global__", 1)[1])
    return [(op, nc.rstrip("_"), l1, width) for op, nc, l1, width in calls]


def unhinted_global_accesses(source: str, pointers: list[str]) -> list[str]:
    """Accesses of the named global pointers that are not the address operand of a hinted
    access (`(&(X_ptr[...]))`)."""
    body = source.split("__global__", 1)[1]
    return [m.group(0) for p in pointers for m in re.finditer(rf"(.{{3}}){p}_ptr\[", body)
            if m.group(1) != "(&("]


@pytest.mark.parametrize("tag, width", [("f16", "v2_u32"), ("bf16", "u32"), ("f32", "u32"),
                                        ("i8", "u16")])
def test_copy_hints_every_global_access(sources, tag, width):
    """A -> shared (evict_first), shared -> B (evict_last), A -> C (evict_first, narrower)."""
    source = sources[f"copy_evict_{tag}"]
    calls = set(hinted(source))
    assert ("ld", "nc", "evict_first", "v4_u32") in calls      # A is read-only: .nc
    assert ("st", "", "evict_last", "v4_u32") in calls
    assert {("ld", "nc", "evict_first", width), ("st", "", "evict_first", width)} <= calls
    assert EVICT_FIRST in source and EVICT_LAST in source
    assert unhinted_global_accesses(source, ["A", "B", "C"]) == []


def test_loads_are_staged_before_the_stores(sources):
    """Each thread issues all its hinted loads of a copy before its first store: the asm
    accesses keep their order, so this is what keeps the loads in flight together."""
    ops = [op for op, *_ in hinted(sources["copy_evict_f16"])]
    # stage 1: 2 loads (A -> shared); stage 2: 2 stores (shared -> B); stage 3: 4 + 4 (A -> C)
    assert ops == ["ld"] * 2 + ["st"] * 2 + ["ld"] * 4 + ["st"] * 4


def test_many_vectors_are_staged_in_chunks(sources):
    """32 vectors per thread: a loop of two chunks of 16, in registers (no local memory)."""
    source = sources["copy_evict_chunked_f32"]
    assert re.search(r"uint staged_ptr\w*\[64\]", source)   # float32 moves as uint32
    assert "for (int it_c = 0; it_c < 2; ++it_c)" in source


@pytest.mark.parametrize("name, table_op", [("gather", "ld"), ("scatter", "st")])
def test_gather_and_scatter_hint_the_table_and_rows(sources, name, table_op):
    for tag in ("f16", "bf16", "f32", "i8"):
        source = sources[f"{name}_{tag}_evict"]
        ops = {op for op, *_ in hinted(source)}
        assert ops == {"ld", "st"}, (tag, hinted(source))
        # the index tensor is read plainly; the table and the rows only through hints
        pointers = ["table", "out"] if name == "gather" else ["table", "src"]
        assert unhinted_global_accesses(source, pointers) == [], tag


def test_im2col_hints_the_image(sources):
    source = sources["im2col_k3s2d2p2_i8_evict"]
    assert ("ld", "nc", "evict_first", "u32") in set(hinted(source))   # 4-byte int8 vectors
    assert unhinted_global_accesses(source, ["img"]) == []


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc for ptxas -v")
def test_staged_registers_stay_in_registers(sources, tmp_path):
    for name in ("copy_evict_f16", "copy_evict_chunked_f32", "gather_i8_evict"):
        cu = tmp_path / f"{name}.cu"
        cu.write_text(sources[name])
        result = subprocess.run(["nvcc", "-arch=sm_90a", "-std=c++17", "-cubin", "-Xptxas", "-v",
                                 "-o", str(tmp_path / f"{name}.cubin"), str(cu)],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert "0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads" in result.stderr


def test_tma_copies_take_it_as_their_cache_hint(tmp_path):
    tma = tmp_path / "tma.tlspec.yaml"
    assert tlspec("new", "copy", "tma_hint", "-o", str(tma)).returncode == 0   # evict_first TMA load
    compile_here(tmp_path / "kernels", tma)
    source = (tmp_path / "kernels" / "tma_hint.cu").read_text()
    assert ".L2::cache_hint" in source and EVICT_FIRST in source


def compile_spec(tmp_path, stages: str):
    """Compile a 64 x 64 int8 kernel with these stages; (result, the output folder)."""
    spec = tmp_path / "bad.tlspec.yaml"
    spec.write_text("""\
tlspec: 1
name: bad
target: sm_90a
buffers:
  A: {scope: global, shape: [64, 64], dtype: int8, io: in}
  B: {scope: global, shape: [64, 64], dtype: int8, io: out}
  A_s: {scope: shared, shape: [64, 64], dtype: int8}
  A_r: {scope: fragment, shape: [64, 64], dtype: int8}
launch:
  grid: {bx: 1}
  threads: 128
stages:
""" + stages)
    out = tmp_path / "out"
    return tlspec("compile", str(spec), "-o", str(out)), out


def test_a_stage_without_global_memory_is_an_error(tmp_path):
    """A shared -> fragment copy has nothing for an L2 hint to act on."""
    result, out = compile_spec(tmp_path, """\
  - copy: {src: A, dst: A_s}
  - copy: {src: A_s, dst: A_r, eviction_policy: evict_last}
  - copy: {src: A_r, dst: B}
""")
    assert result.returncode == 1
    assert "bad.tlspec.yaml:14:49: error: eviction_policy is an L2 hint for global memory " \
           "accesses; this stage reads and writes no global tensor" in result.stdout, result.stdout
    assert "hint: remove eviction_policy" in result.stdout
    assert not out.exists()


def test_single_byte_accesses_are_an_error(tmp_path):
    result, out = compile_spec(tmp_path, """\
  - copy: {src: A, dst: B, coalesced_width: 1, eviction_policy: evict_first}
""")
    assert result.returncode == 1
    assert "bad.tlspec.yaml:13:65: error: eviction_policy evict_first cannot be applied to this " \
           "stage: its accesses are 1 byte(s)" in result.stdout, result.stdout
    assert not out.exists()
