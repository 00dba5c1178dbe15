"""ThreadSync on loops whose body is a single stage: the stage stays the body when nothing
conflicts across iterations, and a barrier closes the body when the next iteration would write
a tile this one wrote."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from pipeline_support import run_through, tile_ir
from test_inject_fence_proxy import LOOP_OF_ONE_GATHER, loop_of_one, spec_loop
from tvm import tirx

from tlspec.compiler.analysis import is_block_sync, stage_kind
from tlspec.compiler.passes.thread_sync import ThreadSync

LOOP_OF_ONE_LOAD = loop_of_one(
    'copy: {src: "A[bx*64 : +64, k*64 : +64]", dst: A_s, prefer_instruction: sync}')


def synced(text):
    return ThreadSync()(run_through(tile_ir(text), "InjectFenceProxy"))["main"]


def test_a_loop_of_one_stage_without_conflicts_keeps_the_stage_as_its_body():
    assert stage_kind(spec_loop(synced(LOOP_OF_ONE_GATHER)).body) == "gather:sync"


def test_a_loop_of_one_stage_rewriting_its_tile_ends_with_a_barrier():
    body = spec_loop(synced(LOOP_OF_ONE_LOAD)).body
    assert isinstance(body, tirx.SeqStmt) and len(body.seq) == 2
    assert stage_kind(body.seq[0]) == "copy:sync" and is_block_sync(body.seq[1])
