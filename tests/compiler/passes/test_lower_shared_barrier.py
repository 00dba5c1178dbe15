"""LowerSharedBarrier: every mbarrier slot is initialised once, where the pool is declared, by
thread 0, with the arrivals that complete its phase (the spec's barrier arrays with their
arrive_count, the compiler's own with one), then the proxy fence and a block barrier."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from copy_kernels import copy_kernel
from pipeline_support import run_through, tile_ir
from test_lower_tile_op_async import EXPLICIT, TILES

from tlspec.compiler.passes.lower_shared_barrier import LowerSharedBarrier


def initialised(lines):
    before = run_through(tile_ir(copy_kernel(TILES, lines)), "LowerTileOp")
    return before["main"].body.script(), LowerSharedBarrier()(before)["main"].body.script()


def test_the_specs_barriers_start_with_their_arrive_counts_and_the_compilers_with_one():
    before, after = initialised(EXPLICIT)
    assert '"init"' not in before
    assert "_tlspec_mbar[0])), T.uint32(2), \"init\"" in after      # bar, arrive_count 2
    assert "_tlspec_mbar[1])), T.uint32(1), \"init\"" in after      # the copy's own
    assert after.count('"init"') == 2


def test_the_initialisation_is_fenced_and_followed_by_a_block_barrier():
    _, after = initialised(EXPLICIT)
    init = after.index('"init"')
    fence = after.index('T.ptx.fence("proxy", "async", "shared::cta", "")', init)
    assert after.index("T.cuda.cta_sync()", fence) > fence
    assert after.index('"arrive"') > fence        # before any stage arrives


def test_a_kernel_without_mbarriers_is_left_as_it_was():
    before, after = initialised(["- copy: {src: 'A[bx*64 : +64, 128 : +64]', dst: C_s, "
                                 "prefer_instruction: sync}"])
    assert before == after
