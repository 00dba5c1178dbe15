"""`tlspec compile` at its edges, on a machine without a GPU:

- buffers no stage uses: a fragment gets no registers and a shared tile no shared memory, and the
  kernel is the one compiled without them;
- gather / scatter with indices outside the table: the generated code reads a row only when its
  index is in [0, V) and gathers zeros otherwise (never another row), with vector accesses;
- a copy tirx cannot lower (its scalar fallback, or a dispatch failure) is reported at the stage
  at fault, not at the first stage;
- `-o OUT` and `--nvcc` are checked before any compile work, and leave nothing behind; an nvcc
  that fails shows its command and output;
- the shared-memory pool is declared with the alignment of its tiles, and a cubin whose dynamic
  shared memory would start misaligned is an internal error, never a wrong swizzle at run time.
"""
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT, assert_cubin, compile_here, tlspec

from tlspec.compiler.cuda_compile import compile_cuda, dynamic_shared_offset


def write(path, text):
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run_script(tmp_path, code):
    """A Python script run like `tlspec` (this Python, in tmp_path), output captured as text."""
    script = write(tmp_path / "script.py", code)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, check=False)


def kernel_body(source, entry):
    """The lines of the definition of kernel `entry` in a generated .cu."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if f" {entry}(" in line and line.rstrip().endswith("{"))
    end = next(i for i in range(start, len(lines)) if lines[i] == "}")
    return [line.strip() for line in lines[start + 1:end]]


# ============================================================================================
# 1. Buffers no stage uses
# ============================================================================================
COPY_THROUGH_SHARED = """
    tlspec: 1
    name: {name}
    doc: Copy 64 x 128 tiles through shared memory (TMA both ways).
    target: sm_90a
    dims:
      M: 4096
    buffers:
      A:   {{scope: global, shape: [M, 128], dtype: float16, io: in}}
      B:   {{scope: global, shape: [M, 128], dtype: float16, io: out}}
      A_s: {{scope: shared, shape: [64, 128], dtype: float16}}
    {extra}
    launch:
      grid: {{bx: M // 64}}
      threads: 256
    stages:
      - copy: {{src: "A[bx*64 : +64, :]", dst: A_s}}
      - copy: {{src: A_s, dst: "B[bx*64 : +64, :]"}}
"""


def test_unused_fragment_and_shared_tile_compile_to_the_kernel_without_them(tmp_path):
    """The reproducer of an internal KeyError in LowerTileOp: a fragment in `buffers` that no
    stage uses. It takes no registers, and an unused shared tile no shared memory: the kernel is
    exactly the one compiled without them."""
    unused = ("  R:   {scope: fragment, shape: [64, 128], dtype: float16}\n"
              "      U_s: {scope: shared, shape: [64, 64], dtype: float32}")
    specs = [write(tmp_path / "with_unused.tlspec.yaml",
                   COPY_THROUGH_SHARED.format(name="with_unused", extra=unused)),
             write(tmp_path / "without.tlspec.yaml",
                   COPY_THROUGH_SHARED.format(name="without", extra=""))]
    out = tmp_path / "kernels"
    compile_here(out, *specs)
    for name in ("with_unused", "without"):
        assert_cubin(out, name)
    with_unused, without = (json.loads((out / f"{n}.json").read_text())
                            for n in ("with_unused", "without"))
    assert with_unused["dynamic_shared_bytes"] == without["dynamic_shared_bytes"] > 0
    assert (kernel_body((out / "with_unused.cu").read_text(), with_unused["entry"])
            == kernel_body((out / "without.cu").read_text(), without["entry"]))


def test_a_kernel_whose_only_shared_tile_is_unused_has_no_shared_memory(tmp_path):
    spec = write(tmp_path / "direct.tlspec.yaml", """
        tlspec: 1
        name: direct
        doc: Copy global to global; the shared tile and the fragment are never used.
        target: sm_90a
        dims:
          M: 4096
        buffers:
          A:   {scope: global, shape: [M, 128], dtype: float16, io: in}
          B:   {scope: global, shape: [M, 128], dtype: float16, io: out}
          S:   {scope: shared, shape: [64, 128], dtype: float16}
          R:   {scope: fragment, shape: [64, 128], dtype: float16}
        launch:
          grid: {bx: M // 64}
          threads: 128
        stages:
          - copy: {src: "A[bx*64 : +64, :]", dst: "B[bx*64 : +64, :]"}
        """)
    out = tmp_path / "kernels"
    compile_here(out, spec)
    assert json.loads((out / "direct.json").read_text())["dynamic_shared_bytes"] == 0
    source = (out / "direct.cu").read_text()
    assert "__shared__" not in source and "*(uint4*)(B_ptr" in source


# ============================================================================================
# 2. gather / scatter indices outside the table
# ============================================================================================
GATHER = """
    tlspec: 1
    name: {name}
    doc: out[i, :] = table[idx[i], :], every size known at launch only (partial tiles).
    target: sm_90a
    dims:
      V: symbolic
      D: {{symbolic: true, multiple_of: 8}}
      NI: symbolic
    buffers:
      table: {{scope: global, shape: [V, D], dtype: float16, io: {table_io}}}
      idx:   {{scope: global, shape: [NI], dtype: {index}, io: in}}
      rows:  {{scope: global, shape: [NI, D], dtype: float16, io: {rows_io}}}
    launch:
      grid: {{bx: "ceildiv(NI, 16)", by: "ceildiv(D, 64)"}}
      threads: 128
    stages:
      - {kind}:
          {table_role}: "table[:, by*64 : +64]"
          {rows_role}: "rows[bx*16 : +16, by*64 : +64]"
          index: "idx[bx*16 : +16]"
"""


def guarded_lines(source, entry):
    """(statement, [(if condition, in its else branch)] around it) for a generated kernel."""
    stack, out = [], []
    for line in kernel_body(source, entry):
        if line.startswith("if (") and line.endswith("{"):
            stack.append((line[len("if "):-1].strip(), False))
        elif line == "} else {":
            stack[-1] = (stack[-1][0], True)
        elif line == "}":
            stack.pop()
        else:
            out.append((line, list(stack)))
    return out


def under(conds, needle):
    """Whether a then branch of a condition containing `needle` encloses the statement."""
    return any(needle in cond and not in_else for cond, in_else in conds)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("indexed")
    for index in ("int32", "int64"):
        write(folder / f"gather_{index}.tlspec.yaml", GATHER.format(
            name=f"gather_{index}", index=index, kind="gather", table_role="src",
            rows_role="dst", table_io="in", rows_io="out"))
        write(folder / f"scatter_{index}.tlspec.yaml", GATHER.format(
            name=f"scatter_{index}", index=index, kind="scatter", table_role="dst",
            rows_role="src", table_io="inout", rows_io="in"))
    out = folder / "kernels"
    compile_here(out, folder)
    return out


@pytest.mark.parametrize("index", ["int32", "int64"])
def test_gather_reads_a_row_only_when_its_index_is_in_the_table(indexed, index):
    """Every read of the table is inside `if (0 <= row)` and `if (row < V)`; what runs when
    either fails stores zeros and never touches the table (before the fix, an index >= V with a
    partial index tile read row 0: the guard zeroed the index, not the row)."""
    name = f"gather_{index}"
    source = (indexed / f"{name}.cu").read_text()
    entry = json.loads((indexed / f"{name}.json").read_text())["entry"]
    lines = guarded_lines(source, entry)
    reads = [(line, conds) for line, conds in lines if "table_ptr +" in line]
    assert reads, source
    for line, conds in reads:
        assert line.startswith("*(uint4*)(rows_ptr") and "= *(uint4*)(table_ptr" in line, line
        assert under(conds, "< V)") and under(conds, "0 <="), (line, conds)
    for line, conds in lines:
        if any(in_else and ("< V)" in cond or cond.startswith("(0 <=")) for cond, in_else in conds):
            assert "table_ptr" not in line and "make_uint4(" in line, (line, conds)
    if index == "int64":         # clamped to [-1, V] before narrowing: no wrap-around into range
        assert "max(min(idx_ptr[" in source and "(int64_t)-1)" in source


@pytest.mark.parametrize("index", ["int32", "int64"])
def test_scatter_writes_a_row_only_when_its_index_is_in_the_table(indexed, index):
    name = f"scatter_{index}"
    source = (indexed / f"{name}.cu").read_text()
    entry = json.loads((indexed / f"{name}.json").read_text())["entry"]
    writes = [(line, conds) for line, conds in guarded_lines(source, entry)
              if line.startswith("*(uint4*)(table_ptr")]
    assert writes, source
    for line, conds in writes:
        assert under(conds, "< V)") and under(conds, "0 <="), (line, conds)


# ============================================================================================
# 3. A copy tirx cannot lower: the error is at the stage at fault
# ============================================================================================
TWO_TILES = """
    # yaml-language-server: $schema=../schemas/tlspec.schema.json
    tlspec: 1
    name: two_tiles
    doc: A tile TMA can move, then one with rows of 3 halves (6 bytes) that it cannot.
    target: sm_90a
    dims:
      M: 4096
    buffers:
      A:   {scope: global, shape: [M, 64], dtype: float16, io: in}
      B:   {scope: global, shape: [M, 64], dtype: float16, io: out}
      C:   {scope: global, shape: [M, 3], dtype: float16, io: in}
      D:   {scope: global, shape: [M, 3], dtype: float16, io: out}
      A_s: {scope: shared, shape: [64, 64], dtype: float16}
      C_s: {scope: shared, shape: [64, 3], dtype: float16}
    launch:
      grid: {bx: M // 64}
      threads: 128
    stages:
      - copy: {src: "A[bx*64 : +64, :]", dst: A_s}
      - copy: {src: A_s, dst: "B[bx*64 : +64, :]"}
      - copy: {src: "C[bx*64 : +64, :]", dst: C_s}
      - copy: {src: C_s, dst: "D[bx*64 : +64, :]"}
"""


def test_tirx_dispatch_failure_is_reported_at_the_stage_at_fault(tmp_path):
    """InstructionAnnotation made to believe TMA can move 6-byte rows: stages 2 and 3 reach tirx
    as TMA copies it cannot encode. The error is at stage 2, the first at fault (it used to be
    an internal error at the kernel's name), and OUT is left alone."""
    write(tmp_path / "two_tiles.tlspec.yaml", TWO_TILES)
    result = run_script(tmp_path, """
        from tlspec.cli import app
        from tlspec.compiler.passes import instruction_annotation as ia

        real = ia.tma_blockers
        ia.tma_blockers = lambda *args: [b for b in real(*args)
                                         if "stride" not in b and "box" not in b]
        app(["compile", "two_tiles.tlspec.yaml", "-o", "kernels", "--no-cache", "-j", "1"],
            prog_name="tlspec")
        """)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("two_tiles.tlspec.yaml:21:11: error: tirx cannot lower this "
                                    "copy: tma_explicit"), result.stdout
    assert "globalStrides[0]=6 must be a multiple of 16B" in result.stdout
    assert "  at: /stages/2/copy\n" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "kernels").exists()


def test_tirx_fallback_is_reported_at_the_stage_at_fault(tmp_path):
    """LowerTileOp left out: every copy reaches tirx; the first two it vectorizes, stage 2 it
    can only copy with its scalar fallback. The error is there, not at the first stage."""
    write(tmp_path / "two_tiles.tlspec.yaml", TWO_TILES)
    result = run_script(tmp_path, """
        from tlspec.cli import app
        from tlspec.compiler import pipeline

        pipeline.PASSES[:] = [p for p in pipeline.PASSES if p.name != "LowerTileOp"]
        app(["compile", "two_tiles.tlspec.yaml", "-o", "kernels", "--no-cache", "-j", "1"],
            prog_name="tlspec")
        """)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("two_tiles.tlspec.yaml:21:11: error: tirx would lower this "
                                    "copy to its scalar single-thread fallback"), result.stdout
    assert "  at: /stages/2/copy\n" in result.stdout
    assert not (tmp_path / "kernels").exists()


# ============================================================================================
# 4. -o OUT is checked before any compile work
# ============================================================================================
def bad_outputs(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("mine")
    a_file = tmp_path / "kernels_file"
    a_file.write_text("mine")
    return {
        str(tmp_path / "out" / "class"): "package directory name 'class' is not usable as a "
                                         "Python name",
        str(tmp_path / "out" / "_kernels"): "package directory name '_kernels' is not usable",
        str(tmp_path / "out" / "my-kernels"): "the package directory's name must be a Python "
                                              "identifier",
        str(plain): "is a non-empty directory that tlspec did not write (no "
                    "_tlspec_package.json); refusing to replace it",
        str(a_file): "exists and is not a directory; refusing to replace it",
        str(a_file / "sub" / "kernels"): f"cannot be created: {a_file} is not a directory",
    }


def test_bad_output_directory_fails_before_any_compile_work(tmp_path):
    """With a spec that cannot compile (its error would come from the compiler) and --dump-ir
    (written as soon as a kernel is lowered), a bad OUT is the only error: exit 2, the OUT
    message, no diagnostics, no IR written, nothing created and nothing touched."""
    spec = tmp_path / "bad.tlspec.yaml"
    spec.write_text((ROOT / "specs" / "copy_symbolic.tlspec.yaml").read_text().replace(
        "multiple_of: 128, min: 128", "multiple_of: 4, min: 128"))
    for out, message in bad_outputs(tmp_path).items():
        before = sorted(p.name for p in tmp_path.rglob("*"))
        result = tlspec("compile", str(spec), "-o", out, "--dump-ir", str(tmp_path / "ir"))
        assert result.returncode == 2, (out, result.stdout, result.stderr)
        assert result.stdout == "", (out, result.stdout)
        assert result.stderr.startswith("tlspec: error: ") and message in result.stderr, \
            (out, result.stderr)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, out   # nothing written
    assert (tmp_path / "plain" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "kernels_file").read_text() == "mine"


def test_compile_paths_checks_out_before_validating(tmp_path):
    """The API too: an unusable OUT is a ValueError before the specs are even read."""
    from tlspec.compiler.driver import compile_paths

    with pytest.raises(ValueError, match="'class' is not usable"):
        compile_paths([str(tmp_path / "no_such.tlspec.yaml")], str(tmp_path / "class"))


# ============================================================================================
# 5. --nvcc: missing, or failing
# ============================================================================================
def test_missing_nvcc_is_a_usage_error_that_says_how_to_fix_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_HOME", "CUDA_PATH")}
    env["PATH"] = str(tmp_path / "empty_bin")          # no nvcc anywhere on it
    out = tmp_path / "kernels"
    result = tlspec("compile", str(ROOT / "specs" / "copy_tiles.tlspec.yaml"), "-o", str(out),
                    "--nvcc", "nvcc", "--dump-ir", str(tmp_path / "ir"), env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("tlspec: error: --nvcc nvcc: nvcc not found: no executable "
                                    "'nvcc' on PATH; drop --nvcc to compile with NVRTC"), \
        result.stderr
    assert "export PATH=$CUDA_HOME/bin:$PATH" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not (tmp_path / "ir").exists()

    result = tlspec("compile", str(ROOT / "specs" / "copy_tiles.tlspec.yaml"), "-o", str(out),
                    "--nvcc", str(tmp_path / "cuda" / "bin" / "nvcc"), env=env)
    assert result.returncode == 2
    assert f"nvcc not found: there is no executable file at '{tmp_path}" in result.stderr

    fake_home = tmp_path / "cuda"                       # CUDA_HOME names one: it is suggested
    (fake_home / "bin").mkdir(parents=True)
    nvcc = fake_home / "bin" / "nvcc"
    nvcc.write_text("#!/bin/sh\nexit 0\n")
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IEXEC)
    result = tlspec("compile", str(ROOT / "specs" / "copy_tiles.tlspec.yaml"), "-o", str(out),
                    "--nvcc", "nvcc", env=dict(env, CUDA_HOME=str(fake_home)))
    assert result.returncode == 2
    assert f"or use the nvcc of CUDA_HOME: --nvcc {nvcc}" in result.stderr, result.stderr


def test_failing_nvcc_shows_its_command_and_output(tmp_path):
    nvcc = tmp_path / "bin" / "nvcc"
    nvcc.parent.mkdir()
    nvcc.write_text("#!/bin/sh\necho \"nvcc fatal   : Unsupported gpu architecture "
                    "'compute_90a'\" >&2\nexit 1\n")
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "kernels"
    out.mkdir()
    (out / "_tlspec_package.json").write_text("{}")
    result = tlspec("compile", str(ROOT / "specs" / "copy_tiles.tlspec.yaml"), "-o", str(out),
                    "--nvcc", str(nvcc))
    assert result.returncode == 1, result.stdout + result.stderr
    text = result.stdout
    assert "copy_tiles.tlspec.yaml:3:7: error: kernel 'copy_tiles': nvcc failed to compile kernel " \
           "'copy_tiles': nvcc fatal   : Unsupported gpu architecture 'compute_90a'" in text, text
    assert "  at: /name\n" in text
    assert f"  hint: the command was: {nvcc} -gencode=arch=compute_90a,code=sm_90a" in text
    assert "drop --nvcc to compile with NVRTC" in text
    assert "the compiler's output:\nnvcc fatal   : Unsupported gpu architecture" in text
    assert sorted(p.name for p in out.iterdir()) == ["_tlspec_package.json"]   # left unchanged

    nvcc.write_text("#!/bin/sh\nexit 3\n")              # fails without a word
    result = tlspec("compile", str(ROOT / "specs" / "copy_tiles.tlspec.yaml"), "-o", str(out),
                    "--nvcc", str(nvcc))
    assert result.returncode == 1
    assert "nvcc failed to compile kernel 'copy_tiles': it exited with status 3 and printed " \
           "nothing" in result.stdout, result.stdout
    assert "hint: the command was:" in result.stdout


# ============================================================================================
# 6. The shared-memory pool's alignment
# ============================================================================================
STATIC_AND_DYNAMIC = """
extern "C" __global__ void k(float* o) {
  __shared__ float t[25];
  extern __shared__ __align__(%d) unsigned char s[];
  t[threadIdx.x %% 25] = 1;
  s[threadIdx.x] = 2;
  __syncthreads();
  o[threadIdx.x] = t[(threadIdx.x + 1) %% 25] + s[threadIdx.x ^ 1];
}
"""


def test_dynamic_shared_memory_follows_the_reserved_block_and_static_data():
    """On sm_90 the dynamic window starts after the reserved 1 KB and the static __shared__
    data, padded to the dynamic array's declared alignment: 1024 + 100 bytes -> 1152 with
    __align__(64), 2048 with __align__(1024). A 128-byte swizzle needs the latter."""
    assert dynamic_shared_offset(compile_cuda(STATIC_AND_DYNAMIC % 64, name="k"), "k") == 1152
    assert dynamic_shared_offset(compile_cuda(STATIC_AND_DYNAMIC % 1024, name="k"), "k") == 2048
    plain = 'extern "C" __global__ void k(float* o) { o[threadIdx.x] = 1; }'
    assert dynamic_shared_offset(compile_cuda(plain, name="k"), "k") == 0


def test_swizzled_pool_is_declared_1024_aligned_and_starts_aligned(tmp_path):
    out = tmp_path / "kernels"
    compile_here(out, ROOT / "specs" / "transpose.tlspec.yaml")
    source = (out / "transpose_tma_store.cu").read_text()
    assert "extern __shared__ __align__(1024) uchar tlspec_smem_ptr[];" in source
    assert source.count("__shared__") == 1                  # no static shared data
    entry = json.loads((out / "transpose_tma_store.json").read_text())["entry"]
    assert dynamic_shared_offset((out / "transpose_tma_store.cubin").read_bytes(), entry) == 1024


INJECT_STATIC = """
    import sys
    from tlspec.cli import app
    from tlspec.compiler import cuda_compile

    compile_cuda, align = cuda_compile.compile_cuda, sys.argv[1]

    def with_static_shared(source, **kwargs):
        # 100 bytes of static __shared__ data, and the pool declared with `align`
        decl = "extern __shared__ __align__(1024) uchar tlspec_smem_ptr[];"
        assert decl in source
        source = source.replace(decl, (
            f"extern __shared__ __align__({align}) uchar tlspec_smem_ptr[];"
            " __shared__ int extra[25]; extra[threadIdx.x % 25] = threadIdx.x; __syncthreads();"
            " if (extra[(threadIdx.x + 1) % 25] < 0) tlspec_smem_ptr[0] = 1;"))
        return compile_cuda(source, **kwargs)

    cuda_compile.compile_cuda = with_static_shared     # in this process: no cache, no workers
    app(["compile", sys.argv[2], "-o", "kernels", "--no-cache", "-j", "1"], prog_name="tlspec")
"""


def test_a_misaligned_pool_is_an_internal_error(tmp_path):
    """Static shared data injected into the generated source: with the pool declared as tvm
    declares it by default (64 bytes) the 128-byte-swizzled tile would start at byte 1152, and
    the compile fails at the kernel's name; declared 1024-aligned, ptxas pads the static part
    and the kernel compiles."""
    script = write(tmp_path / "inject.py", INJECT_STATIC)
    spec = str(ROOT / "specs" / "transpose.tlspec.yaml")

    def run(align):
        return subprocess.run([sys.executable, str(script), str(align), spec],
                              capture_output=True, text=True, cwd=tmp_path, check=False)

    result = run(64)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error: kernel 'transpose_tma_store': internal compiler error: its dynamic shared " \
           "memory starts at byte 1152 of the block's shared memory" in result.stdout, result.stdout
    assert "not at a multiple of the 1024 bytes its tiles need" in result.stdout
    assert "  at: /name\n" in result.stdout and "this is a tlspec bug" in result.stdout
    assert not (tmp_path / "kernels").exists()

    result = run(1024)
    assert result.returncode == 0, result.stdout + result.stderr
    entry = json.loads((tmp_path / "kernels" / "transpose_tma_store.json").read_text())["entry"]
    cubin = (tmp_path / "kernels" / "transpose_tma_store.cubin").read_bytes()
    assert dynamic_shared_offset(cubin, entry) == 2048


# ============================================================================================
# 6. Spec names never collide with the compiler's own
# ============================================================================================
@pytest.mark.parametrize("tile", ["A_s_flat", "tlspec_mbar"])
def test_a_tile_named_like_a_compiler_buffer_compiles(tmp_path, tile):
    """The compiler named a shared tile's flat view `<tile>_flat` and its mbarriers
    `tlspec_mbar`, and looked them up by name: a spec tile called `A_s_flat` next to `A_s`, or
    `tlspec_mbar`, was taken for them (an internal error; found by the fuzzer). The compiler's
    own names now start with '_', which no spec name can (tlspec/names.py)."""
    spec = write(tmp_path / "k.tlspec.yaml", COPY_THROUGH_SHARED.format(
        name="copy_twice", extra=f"  {tile}: {{scope: shared, shape: [64, 128], dtype: float16}}"
    ).replace("- copy: {src: A_s, dst:",
              f"- copy: {{src: A_s, dst: {tile}}}\n      - copy: {{src: {tile}, dst:"))
    out = tmp_path / "kernels"
    compile_here(out, spec)
    assert_cubin(out, "copy_twice")


def test_a_kernel_of_more_stages_than_the_limit_is_refused_at_the_first_past_it():
    """3000 stages took the CUDA compiler minutes (found by the fuzzer); MAX_STAGES is refused
    at validation, located at the first stage past the limit, loop bodies counted."""
    from tlspec.limits import MAX_STAGES
    from tlspec.validate import validate_text

    copy = '  - copy: {src: "A[by*16 : +16, 0 : +64]", dst: A_s}\n'
    head = ("tlspec: 1\nname: many\ndims: {M: 1024}\nbuffers:\n"
            "  A:   {scope: global, shape: [M, 64], dtype: float16, io: in}\n"
            "  A_s: {scope: shared, shape: [16, 64], dtype: float16}\n"
            "launch: {grid: {by: M // 16}, threads: 128}\nstages:\n")
    assert validate_text(head + copy * MAX_STAGES, "many.tlspec.yaml").ok
    looped = "  - for:\n      var: k\n      extent: 2\n      stages:\n" + "    " + copy
    result = validate_text(head + copy * (MAX_STAGES - 1) + looped, "many.tlspec.yaml")
    (error,) = result.diagnostics.errors
    assert error.message == (f"kernel 'many' has {MAX_STAGES + 1} stages (loop bodies "
                             f"included); a kernel holds at most {MAX_STAGES}")
    assert error.location.line == 8 + MAX_STAGES + 4       # the loop's copy, 1025th stage


def test_a_kernel_of_only_an_alloc_barrier_compiles_to_a_kernel_that_does_nothing(tmp_path):
    """Its stages left nothing after the declarations, and a pass built an empty SeqStmt,
    which tvm refuses (an internal compiler error; found by the fuzzer, seed 6008)."""
    from tlspec.compiler.driver import compile_paths

    spec = tmp_path / "idle.tlspec.yaml"
    spec.write_text("tlspec: 1\nname: idle\ndims: {M: 1024}\nbuffers:\n"
                    "  A: {scope: global, shape: [M], dtype: float16, io: in}\n"
                    "launch: {grid: {bx: 8}, threads: 128}\n"
                    "stages:\n  - alloc_barrier: {name: bar}\n")
    result = compile_paths([str(spec)], str(tmp_path / "out"), workers=1)
    assert result.ok and result.kernels == ["idle"], result.diagnostics.render_text()
