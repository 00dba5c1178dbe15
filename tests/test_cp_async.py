"""`copy` with `prefer_instruction: cp_async` on a machine without a GPU: the generated CUDA
issues one cp.async per vector of the SIMT copy's loop (16 bytes `.cg`, 8 and 4 bytes `.ca`),
zero-fills past the end of the source through the source-size operand, commits and waits before
the next stage, and gets a proxy fence before a TMA store and a block barrier after the wait;
the cubin holds LDGSTS; vector sizes cp.async cannot copy are located errors.
tests/gpu/test_matrix_gpu.py runs the kernels of tests/gpu/matrix/cp_async.tlspec.yaml."""
import re
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import compile_here, cuobjdump, tlspec

from tlspec.validate import validate_text

SPEC = """\
tlspec: 1
name: {name}
doc: B = A through a 32 x 64 shared tile loaded by cp.async.
target: sm_90a
dims:
  M: {m}
  N: {n}
buffers:
  A:   {{scope: global, shape: [M, N], dtype: {dtype}, io: in}}
  B:   {{scope: global, shape: [M, N], dtype: {dtype}, io: out}}
  A_s: {{scope: shared, shape: [32, 64], dtype: {dtype}, layout: {layout}}}
launch:
  grid: {{bx: "ceildiv(N, 64)", by: "ceildiv(M, 32)"}}
  threads: 128
stages:
  - copy: {{src: "A[by*32 : +32, bx*64 : +64]", dst: A_s, prefer_instruction: cp_async{load}}}
  - copy: {{src: A_s, dst: "B[by*32 : +32, bx*64 : +64]", prefer_instruction: {store}}}
"""

LOOP = """\
tlspec: 1
name: loop_f16
doc: B = A, each block walking its 16-row slab in 16 x 64 tiles loaded by cp.async.
target: sm_90a
dims:
  M: symbolic
  N: {symbolic: true, multiple_of: 8}
buffers:
  A:   {scope: global, shape: [M, N], dtype: float16, io: in}
  B:   {scope: global, shape: [M, N], dtype: float16, io: out}
  A_s: {scope: shared, shape: [16, 64], dtype: float16}
launch:
  grid: {bx: "ceildiv(M, 16)"}
  threads: 128
stages:
  - for:
      var: k
      extent: ceildiv(N, 64)
      stages:
        - copy: {src: "A[bx*16 : +16, k*64 : +64]", dst: A_s, prefer_instruction: cp_async}
        - copy: {src: A_s, dst: "B[bx*16 : +16, k*64 : +64]", prefer_instruction: tma}
"""

PARTIAL = {"m": "symbolic", "n": "{symbolic: true, multiple_of: 8}", "dtype": "float16",
           "layout": "auto", "load": "", "store": "tma"}


def spec(name, **changes):
    return SPEC.format(**{**PARTIAL, "name": name, **changes})


# name -> (spec text, (ptx instruction, bytes per copy), zero fill expected)
KERNELS = {
    "full_f16": (spec("full_f16", m="256", n="512"), ("cp.async.cg.shared.global", 16), False),
    "partial_f16": (spec("partial_f16"), ("cp.async.cg.shared.global", 16), True),
    "partial_f32": (spec("partial_f32", dtype="float32", n="{symbolic: true, multiple_of: 4}",
                         store="sync"), ("cp.async.cg.shared.global", 16), True),
    "partial_i8": (spec("partial_i8", dtype="int8", n="{symbolic: true, multiple_of: 16}",
                        load=", coalesced_width: 8"), ("cp.async.ca.shared.global", 8), True),
    "narrow_f16": (spec("narrow_f16", load=", coalesced_width: 2"),
                   ("cp.async.ca.shared.global", 4), True),
    "grid_f16": (spec("grid_f16", load=", loop_layout: {threads: [16, 8], vector: 8}"),
                 ("cp.async.cg.shared.global", 16), True),
    "padded_f16": (spec("padded_f16", layout="padded", store="sync"),
                   ("cp.async.cg.shared.global", 16), True),
    "swizzled_f16": (spec("swizzled_f16", layout="swizzle_128B"),
                     ("cp.async.cg.shared.global", 16), True),
    "hinted_f16": (spec("hinted_f16", load=", eviction_policy: evict_last"),
                   ("cp.async.cg.shared.global", 16), True),
    "loop_f16": (LOOP, ("cp.async.cg.shared.global", 16), True),
}
EVICT_LAST = str(0x14F0000000000000)       # CacheHintSm90::EVICT_LAST, as for TMA copies


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """(output folder, IR dump folder, kernel name -> CUDA source) of KERNELS, compiled once."""
    root = tmp_path_factory.mktemp("cp_async")
    for name, (text, _, _) in KERNELS.items():
        (root / f"{name}.tlspec.yaml").write_text(text)
    out, ir = root / "out", root / "ir"
    compile_here(out, root, dump_ir=ir)
    return out, ir, {name: (out / f"{name}.cu").read_text() for name in KERNELS}


def kernel_body(source: str) -> str:
    return source.split("__global__", 1)[1]


def copies(source: str) -> set[tuple[str, int, bool]]:
    """(instruction, bytes, zero fill: with the source-size operand) of every cp.async the
    kernel calls."""
    helpers = {name: (ptx, int(size)) for name, ptx, size in
               re.findall(r"void (tvm_builtin_ptx_cp_async_c[ag]\w*)\(.*\n"
                          r'\s*asm volatile\("(cp\.async\.c[ag]\S*) \[%0\], \[%1\], (\d+)',
                          source)}
    called = set(re.findall(r"(tvm_builtin_ptx_cp_async_c[ag]\w*)\(", kernel_body(source)))
    return {(*helpers[name], "_src_size_" in name) for name in called}


@pytest.mark.parametrize("name", KERNELS)
def test_each_vector_is_one_cp_async(compiled, name):
    _, _, sources = compiled
    _, (ptx, nbytes), zero_fill = KERNELS[name]
    assert copies(sources[name]) == {(ptx, nbytes, zero_fill)}
    uses = [line for line in kernel_body(sources[name]).splitlines()
            if "A_ptr" in line and "__restrict__" not in line]
    assert uses and all("cp_async" in line for line in uses)   # A is only read by cp.async


@pytest.mark.parametrize("name", KERNELS)
def test_the_stage_commits_and_waits_before_the_barrier(compiled, name):
    """cp.async completes per thread: commit, wait for every group, then the block barrier
    (ThreadSync) before any thread reads the tile; a TMA store of the tile also needs the proxy
    fence (cp.async writes through the generic proxy) before that barrier."""
    _, _, sources = compiled
    body = kernel_body(sources[name])
    order = [m.group(1) for m in re.finditer(
        r"tvm_builtin_(ptx_cp_async_c[ag]|ptx_cp_async_commit_group|ptx_cp_async_wait_group"
        r"|ptx_fence_proxy|cuda_cta_sync|ptx_cp_async_bulk_tensor)\w*\(", body)]
    stores_by_tma = "ptx_cp_async_bulk_tensor" in order
    issue = [op for op in order if op in ("ptx_cp_async_ca", "ptx_cp_async_cg")]
    assert issue and order[:len(issue)] == issue
    after = order[len(issue):]
    expected = ["ptx_cp_async_commit_group", "ptx_cp_async_wait_group"] + \
        (["ptx_fence_proxy"] if stores_by_tma else []) + ["cuda_cta_sync"]
    assert after[:len(expected)] == expected, order
    assert "cp.async.wait_group 0;" in sources[name]


def test_the_zero_fill_guards_the_whole_vector(compiled):
    """Past the end of A the source size is 0 (cp.async writes 16 zero bytes); the guard reads
    the vector's last element, like the SIMT copy's."""
    _, ir, _ = compiled
    guarded = (ir / "partial_f16" / next(p.name for p in (ir / "partial_f16").iterdir()
                                          if p.name.endswith("LegalizeSafeMemoryAccess.py")))
    text = guarded.read_text()
    assert "T.if_then_else(by * 32 + it * 16 + tid // 8 < M and bx * 64 + tid % 8 * 8 + 7 < N, " \
           "T.uint32(16), T.uint32(0))" in text, text


def test_the_tile_layout_is_honoured(compiled):
    """The destinations follow the tile's layout, as the SIMT copy writes it: rows of 64 + 8
    halves when padded, 16-byte chunks XOR-swizzled when swizzle_128B."""
    _, _, sources = compiled
    padded = re.search(r"cp_async_cg\w*\(tvm_builtin_cuda_cvta_generic_to_shared\(\(&\(\(\(half\*\)"
                       r"tlspec_smem_ptr\)\[([^]]*)\]", kernel_body(sources["padded_f16"]))
    assert "* 72)" in padded[1]
    swizzled = re.search(r"cp_async_cg\w*\(tvm_builtin_cuda_cvta_generic_to_shared\(\(&\(\(\(half\*\)"
                         r"tlspec_smem_ptr\)\[([^]]*)\]", kernel_body(sources["swizzled_f16"]))
    assert "^" in swizzled[1]


def test_a_loop_fences_and_syncs_every_iteration(compiled):
    """In a loop the next iteration's cp.async overwrites the tile the TMA store reads: a
    barrier closes the body, and every iteration fences before its store."""
    _, _, sources = compiled
    body = kernel_body(sources["loop_f16"])
    loop = body[body.index("for (int k = 0;"):]
    assert loop.count("tvm_builtin_ptx_fence_proxy") == 1
    assert loop.count("tvm_builtin_cuda_cta_sync()") == 2


def test_eviction_policy_is_not_applied_to_cp_async(compiled):
    """CUDA 13's ptxas can drop a hinted cp.async's cache policy, and the copy then traps as an
    illegal instruction (12 of 3719 random kernels on an H200): the copies carry no hint, and
    validation says so."""
    _, _, sources = compiled
    assert "cache_hint" not in sources["hinted_f16"] and EVICT_LAST not in sources["hinted_f16"]
    result = validate_text(KERNELS["hinted_f16"][0], "hinted.yaml")
    assert result.ok
    [warning] = result.diagnostics.warnings
    assert warning.render() == (
        "hinted.yaml:16:105: warning: eviction_policy evict_last is not applied to a cp.async "
        "copy: CUDA 13's ptxas can compile a cp.async L2 cache hint into an illegal instruction, "
        "so the copy runs without it\n"
        "  at: /stages/0/copy/eviction_policy\n"
        "  hint: remove eviction_policy, or use prefer_instruction: sync (or tma) to keep the hint")


def test_instruction_annotation_says_why(compiled):
    _, ir, _ = compiled
    text = (ir / "narrow_f16" / "01_InstructionAnnotation.py").read_text()
    assert 'tlspec.instruction="cp_async"' in text
    assert "tlspec.why=\"prefer_instruction: cp_async: one 4-byte cp.async.ca.shared.global per " \
           "vector (zero-filled past a tensor's end), waited on before the next stage\"" in text


@pytest.mark.skipif(cuobjdump() is None, reason="no cuobjdump (set CUOBJDUMP, or put the CUDA "
                    "toolkit's bin on PATH)")
@pytest.mark.parametrize("name, sass", [("full_f16", "LDGSTS.E.BYPASS.128 "),
                                        ("partial_f16", "LDGSTS.E.BYPASS.128"),
                                        ("partial_i8", "LDGSTS.E.64 "),
                                        ("narrow_f16", "LDGSTS.E ")])
def test_the_cubin_copies_with_ldgsts(compiled, name, sass):
    """LDGSTS of the planned width (BYPASS: .cg, L1 bypassed), predicated (zero fill) where the
    tile may cross the end of A; LDGDEPBAR commits, DEPBAR waits."""
    out, _, _ = compiled
    dump = subprocess.run([cuobjdump(), "-sass", str(out / f"{name}.cubin")], capture_output=True,
                          text=True, check=True).stdout
    ldgsts = [line for line in dump.splitlines() if "LDGSTS" in line]
    assert ldgsts and all(sass in line for line in ldgsts), ldgsts
    predicated = [line for line in ldgsts if re.search(r"\], !?P\d ;", line)]
    assert bool(predicated) == KERNELS[name][2], ldgsts
    assert "LDGDEPBAR" in dump and "DEPBAR.LE SB0, 0x0" in dump
    assert not re.search(r"\bLDG\.E|\bSTS\b", dump)        # no register round trip


# -- errors ------------------------------------------------------------------------------------
BAD = {
    "width_f16": (spec("width_f16", load=", coalesced_width: 1"),
                  "/stages/0/copy/coalesced_width",
                  "cp.async copies 4, 8 or 16 bytes per access, not 2 (1 x float16)"),
    "layout_i8": (spec("layout_i8", dtype="int8", n="{symbolic: true, multiple_of: 16}",
                       load=", loop_layout: {threads: [16, 8], vector: 2}", store="sync"),
                  "/stages/0/copy/loop_layout",
                  "cp.async copies 4, 8 or 16 bytes per access, not 2 (2 x int8)"),
    "rows_f16": (spec("rows_f16", n="symbolic"), "/stages/0/copy/prefer_instruction",
                 ("cp.async copies 4, 8 or 16 bytes per access; this copy cannot move 4: the "
                  "rows of 'A' (N elements) are not a multiple of 2")),
}


def test_sizes_cp_async_cannot_copy_are_located_errors(tmp_path):
    for name, (text, _, _) in BAD.items():
        (tmp_path / f"{name}.tlspec.yaml").write_text(text)
    result = tlspec("compile", str(tmp_path), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    for name, (_, pointer, message) in BAD.items():
        report = re.search(rf"{name}\.tlspec\.yaml:\d+:\d+: error: (.*)\n  at: (\S+)",
                           result.stdout)
        assert report and message in report[1] and report[2] == pointer, result.stdout
    assert not (tmp_path / "out").exists()


def test_a_cp_async_store_is_refused_by_validation(tmp_path):
    path = tmp_path / "store_f16.tlspec.yaml"
    path.write_text(spec("store_f16", store="cp_async"))
    result = tlspec("compile", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "store_f16.tlspec.yaml:17:78: error: prefer_instruction cp_async: cp.async copies " \
           "global -> shared; this copy is shared -> global\n  at: /stages/1/copy/" \
           "prefer_instruction" in result.stdout, result.stdout
