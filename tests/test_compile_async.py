"""The asynchronous stages compile: every docs/spec.md example that uses one of them or a
`pipeline` loop, and the pipeline kernels of specs/, each to a cubin for its own target, sm_90a
or sm_80 (through NVRTC, so ptxas checks the instructions; those of clusters and sm_100a are not
compiled by this release). The `pipeline` example of docs/spec.md is pipelined (its plan, as
its section says), the others, whose bodies order their copies themselves, run as written."""
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
import tvm_ffi
from conftest import ROOT, SPECS
from doc_examples import fenced_blocks
from pipeline_support import run_through
from tvm import tirx

from tlspec.compiler.driver import compile_kernel
from tlspec.compiler.passes.pipeline_planning import PLAN_ATTR
from tlspec.compiler.tileir import build_tile_ir
from tlspec.validate import validate_text

ASYNC_KINDS = {"tma_copy", "async_copy", "alloc_barrier", "barrier_arrive", "barrier_wait",
               "async_commit", "async_wait", "tma_store_wait", "pipeline"}
SPEC_EXAMPLES = [b for b in fenced_blocks(ROOT / "docs" / "spec.md")
                 if b.info == ["yaml"] and ASYNC_KINDS & set(re.findall(r"- (\w+):", b.text))
                 and not re.search(r"copy_cluster|sm_100a", b.text)]   # not compiled yet
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
    assert found and all(why.startswith("runs as written") for why in found.values()), found
