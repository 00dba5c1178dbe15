"""The asynchronous stages compile: every docs/spec.md example that uses one of them or a
`pipeline` loop, and the pipeline kernels of specs/, each to a cubin for its own target, sm_90a,
sm_100a or sm_80 (through NVRTC, so ptxas checks the instructions; those of clusters are not
compiled by this release). The `pipeline` examples of docs/spec.md are pipelined (their plans,
as the section says; one warp-specialized), the others, whose bodies order their copies
themselves, run as written. A loop that cannot be warp-specialized as its spec asks is a located
compile error; one that is launches its producer's threads too and, where registers move, is
bounded for them (`__launch_bounds__(threads, blocks per SM)`, checked against the cubin)."""
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
import tvm_ffi
from conftest import ROOT, SPECS
from doc_examples import fenced_blocks
from pipeline_support import run_through
from tvm import tirx

from tlspec.compiler.driver import compile_kernel, compile_paths
from tlspec.compiler.passes.pipeline_planning import PLAN_ATTR
from tlspec.compiler.tileir import build_tile_ir
from tlspec.validate import validate_text

ASYNC_KINDS = {"tma_copy", "async_copy", "alloc_barrier", "barrier_arrive", "barrier_wait",
               "async_commit", "async_wait", "tma_store_wait", "pipeline"}
SPEC_EXAMPLES = [b for b in fenced_blocks(ROOT / "docs" / "spec.md")
                 if b.info == ["yaml"] and ASYNC_KINDS & set(re.findall(r"- (\w+):", b.text))
                 and "copy_cluster" not in b.text]   # not compiled yet
FILES = [SPECS / "tma_pipeline.tlspec.yaml", SPECS / "async_copy_pipeline.tlspec.yaml"]


def kernels_of(text: str, path: str):
    """The kernels of the spec `text`, validated."""
    result = validate_text(text, path)
    assert result.ok, result.diagnostics.render_text()
    return result.kernels


def test_every_async_stage_kind_has_an_example_here():
    used = {kind for b in SPEC_EXAMPLES for kind in re.findall(r"- (\w+):", b.text)}
    assert ASYNC_KINDS <= used


@pytest.mark.parametrize("text, path", [(b.text, b.where) for b in SPEC_EXAMPLES] +
                         [(p.read_text(), p.name) for p in FILES],
                         ids=[b.where for b in SPEC_EXAMPLES] + [p.name for p in FILES])
def test_it_compiles_to_a_cubin(text, path):
    for kernel in kernels_of(text, path):
        artifact = compile_kernel(kernel)
        assert artifact.cubin[:4] == b"\x7fELF"
        source = artifact.source
        if "tma_copy" in text:
            assert "cp.async.bulk.tensor" in source
        if "async_copy" in text:
            assert "cp.async.cg.shared.global" in source
        if "rows: 4" in text:                   # the gather4 form (sm_100a)
            assert ".tile::gather4." in source


def plans(block):
    (kernel,) = kernels_of(block.text, block.where)
    func = run_through(build_tile_ir(kernel), "PipelinePlanning")["main"]
    loops = []
    tvm_ffi.structural_walk(func.body, (tirx.For, loops.append), order="pre")
    return [str(loop.annotations[PLAN_ATTR]["why"]) for loop in loops if PLAN_ATTR in loop.annotations]


def test_the_pipeline_example_is_pipelined_and_the_others_run_as_written():
    found = {}
    for block in SPEC_EXAMPLES:
        for why in plans(block):
            found[re.search(r"^name: (\w+)", block.text, re.M).group(1)] = why
    assert found.pop("slab_copy_pipelined") == "1 load(s) issued 2 iteration(s) ahead"
    assert found.pop("transpose_warp_specialized") == "1 load(s) issued 2 iteration(s) ahead"
    assert found and all(why.startswith("runs as written") for why in found.values()), found


SERIAL_PIPELINE = """
tlspec: 1
name: serial_pipe
target: sm_90a
dims: {M: 4096, N: 4096}
buffers:
  A:   {scope: global, shape: [M, N], dtype: float16, io: in}
  B:   {scope: global, shape: [M, N], dtype: float16, io: out}
  A_s: {scope: shared, shape: [64, 64], dtype: float16}
launch:
  grid: {bx: M // 64}
  threads: 128
stages:
  - pipeline:
      var: k
      extent: N // 64
      num_stages: 3
      stages:
        - copy: {src: "A[bx*64 : +64, k*64 : +64]", dst: A_s}
        - copy: {src: A_s, dst: "B[bx*64 : +64, k*64 : +64]"}
"""


def test_a_pipeline_that_runs_as_written_is_a_located_warning(tmp_path):
    """No slot for the iterations in flight: the loop runs as written, the kernel compiles, and
    `tlspec compile` says why at the `pipeline` key (no silent slow path)."""
    spec = tmp_path / "serial_pipe.tlspec.yaml"
    spec.write_text(SERIAL_PIPELINE)
    result = compile_paths([str(spec)], str(tmp_path / "out"))
    assert result.ok
    (warning,) = result.diagnostics.warnings
    assert warning.render().splitlines()[:2] == [
        f"{spec}:14:5: warning: this pipeline loop runs as written, one iteration after another: "
        "no copy into a shared tile by TMA or cp.async (or cp.async-sized vectors) writes a slot "
        "'k % s' with s >= num_stages (3) of its tile's first dimension",
        "  at: /stages/0/pipeline"]


def test_pipelines_that_run_as_the_spec_asks_are_not_warned_about(tmp_path):
    """num_stages 1, and bodies that order their copies themselves, are what the spec asked for;
    the examples pipelined or explicit compile without a warning."""
    one = tmp_path / "one.tlspec.yaml"
    one.write_text(SERIAL_PIPELINE.replace("num_stages: 3", "num_stages: 1"))
    result = compile_paths([str(one), *map(str, FILES)], str(tmp_path / "out"))
    assert result.ok and not result.diagnostics.warnings


# -- warp specialization ------------------------------------------------------------------------
WS_REGISTERS = (ROOT / "tests" / "gpu" / "async" / "warp_specialized.tlspec.yaml")


def ws_kernel(name: str):
    return next(k for k in kernels_of(WS_REGISTERS.read_text(), str(WS_REGISTERS))
                if k.name == name)


def test_a_specialized_kernel_launches_its_producer_and_bounds_its_registers():
    from tlspec.compiler.cuda_compile import register_count

    artifact = compile_kernel(ws_kernel("ws_registers_f16"))      # 256 consumers, 128 KB
    assert artifact.manifest["block"] == [384, 1, 1]
    assert "__launch_bounds__(384, 1)" in artifact.source
    assert "setmaxnreg_inc_sync_aligned_u32_232" in artifact.source
    assert "setmaxnreg_dec_sync_aligned_u32_40" in artifact.source
    assert register_count(artifact.cubin, artifact.manifest["entry"]) == 168   # 65536 / 384


def test_a_producer_warp_needs_no_register_bound():
    artifact = compile_kernel(ws_kernel("ws_warp_producer_f32"))  # 64 consumers: one warp more
    assert artifact.manifest["block"] == [96, 1, 1]
    assert "setmaxnreg" not in artifact.source and "__launch_bounds__(96)" in artifact.source


def test_registers_the_cubin_does_not_start_with_are_an_error(tmp_path, monkeypatch):
    """Had ptxas given the threads fewer registers than the reallocation was planned for, the
    consumers' setmaxnreg.inc would wait forever: the compile is refused instead."""
    from tlspec.compiler import cuda_compile

    monkeypatch.setattr(cuda_compile, "register_count", lambda cubin, entry: 32)
    result = compile_paths([str(WS_REGISTERS)], str(tmp_path / "out"))
    errors = [d.message for d in result.diagnostics.errors]
    assert any("ws_registers_f16': internal compiler error: its threads start with 32 "
               "registers, not the 168" in m for m in errors), errors
    assert not (tmp_path / "out").exists()


def test_a_loop_that_cannot_be_specialized_as_asked_is_a_located_error(tmp_path):
    spec = tmp_path / "ws.tlspec.yaml"
    spec.write_text(SERIAL_PIPELINE.replace("      num_stages: 3\n",
                                            "      num_stages: 3\n      warp_specialize: true\n"))
    result = compile_paths([str(spec)], str(tmp_path / "out"))
    (error,) = result.diagnostics.errors
    assert error.render().splitlines()[:2] == [
        f"{spec}:18:24: error: this pipeline loop cannot be warp-specialized: it is not "
        "pipelined: no copy into a shared tile by TMA or cp.async (or cp.async-sized vectors) "
        "writes a slot 'k % s' with s >= num_stages (3) of its tile's first dimension",
        "  at: /stages/0/pipeline/warp_specialize"]
    assert not (tmp_path / "out").exists()


def test_the_ptx_of_a_kernel_that_moves_registers_is_arch_specific():
    """setmaxnreg exists in sm_90a's PTX only: the PTX beside such a cubin is compute_90a (the
    driver's compiler refuses it in compute_90 PTX), which loads on a 9.0 GPU alone; a kernel
    without it keeps compute_90 PTX, which later GPUs compile."""
    moved = compile_kernel(ws_kernel("ws_registers_f16"), ptx=True)
    assert moved.manifest["ptx_arch"] == "compute_90a" and ".target sm_90a" in moved.ptx
    plain = compile_kernel(ws_kernel("ws_warp_producer_f32"), ptx=True)
    assert plain.manifest["ptx_arch"] == "compute_90" and ".target sm_90\n" in plain.ptx
