"""passes/global_writes.py through LowerTileOp, InjectFenceProxy and ThreadSync: two stages that
may write one element of a global tensor from different threads get a block barrier between
them (the later stage's value is the result), and a TMA store whose elements may be written
again is waited for until its writes are done (not only until it has read its tile), with a
proxy fence where ordinary stores of the tensor precede a TMA store. Regions proven disjoint (a
concatenation's halves, a loop's successive tiles) and one stage's writes of the same region
get neither."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from global_write_kernels import kernel
from pipeline_support import run_through, tile_ir


READ_WAIT = '"wait_group", "read"'
FULL_WAIT = '"wait_group", "", ""'


def synced(text: str) -> str:
    return run_through(tile_ir(text), "ThreadSync")["main"].script()


def barriers(text: str) -> int:
    return synced(text).count("T.cuda.cta_sync()")


OVERWRITE = kernel('  - copy: {src: A, dst: B, coalesced_width: 4}\n'
                   '  - copy: {src: "C[0 : +8, 3 : +33]", dst: "B[8 : +8, 0 : +33]", '
                   'coalesced_width: 1}\n')


def test_two_stages_writing_one_element_from_other_threads_get_a_barrier():
    assert barriers(OVERWRITE) == 1


def test_the_halves_of_a_concatenation_need_no_barrier():
    text = kernel('  - copy: {src: A, dst: "W[:, 0 : +N]"}\n'
                  '  - copy: {src: C, dst: "W[:, N : +N]", coalesced_width: 1}\n')
    assert barriers(text) == 0


def test_a_loop_writing_successive_tiles_needs_no_barrier_but_overlapping_ones_do():
    def loop(region: str) -> str:
        return kernel('  - for:\n      var: k\n      extent: 4\n      stages:\n'
                      f'        - copy: {{src: "A[0 : +16, k*16 : +16]", dst: "{region}", '
                      'coalesced_width: 2}\n')
    assert barriers(loop("B[0 : +16, k*16 : +16]")) == 0
    assert barriers(loop("B[0 : +16, 0 : +16]")) == 0          # the same threads, each time
    assert barriers(loop("B[0 : +16, k*8 : +16]")) == 1        # half of the next tile's


def test_a_tma_store_whose_elements_are_written_again_is_waited_for_until_done():
    text = kernel('  - copy: {src: A, dst: A_s}\n'
                  '  - copy: {src: A_s, dst: B, prefer_instruction: tma}\n'
                  '  - copy: {src: "A_s[0 : +64, 0 : +8]", dst: "B[0 : +64, 56 : +8]", '
                  'prefer_instruction: sync}\n')
    script = synced(text)
    assert READ_WAIT not in script and FULL_WAIT in script
    assert script.count("T.cuda.cta_sync()") >= 1


def test_ordinary_stores_before_a_tma_store_of_the_tensor_are_fenced_and_waited_for():
    text = kernel('  - copy: {src: A, dst: A_s}\n'
                  '  - copy: {src: "A_s[0 : +64, 0 : +8]", dst: "B[0 : +64, 56 : +8]", '
                  'prefer_instruction: sync}\n'
                  '  - copy: {src: A_s, dst: B, prefer_instruction: tma}\n')
    script = synced(text)
    assert 'T.ptx.fence("proxy", "async", "", "")' in script
    assert script.count("T.cuda.cta_sync()") >= 1


def test_a_tma_store_of_a_tile_no_stage_writes_again_keeps_the_read_wait():
    text = kernel('  - copy: {src: A, dst: A_s}\n'
                  '  - copy: {src: A_s, dst: B, prefer_instruction: tma}\n')
    assert READ_WAIT in synced(text)


def test_writes_two_iterations_apart_get_a_barrier():
    """The second stage of iteration k writes what the first stage of iteration k + 2 writes
    (the second round of bug hunting: only the next iteration was compared)."""
    def loop(extent: int) -> str:
        return kernel(f'  - for:\n      var: k\n      extent: {extent}\n      stages:\n'
                      '        - copy: {src: "A[0 : +8, k*8 : +8]", dst: "B[0 : +8, k*8 : +8]", '
                      'coalesced_width: 4}\n'
                      '        - copy: {src: "C[0 : +8, k*8 : +8]", '
                      'dst: "B[0 : +8, k*8 + 16 : +8]", coalesced_width: 1}\n')
    assert barriers(loop(4)) == 1
    assert barriers(loop(2)) == 0          # no iteration two ahead


def test_a_tma_store_rewritten_two_iterations_later_is_waited_for_until_done():
    """Iteration k stores rows k*8 + 16.. by TMA; the SIMT copy of iteration k + 2 writes them
    (global_writes.Rewrites compares later iterations of the other stages too)."""
    def loop(extent: int) -> str:
        return kernel('  - copy: {src: A, dst: A_s}\n'
                      f'  - for:\n      var: k\n      extent: {extent}\n      stages:\n'
                      '        - copy: {src: "A_s[0 : +8, :]", dst: "B[k*8 + 16 : +8, :]", '
                      'prefer_instruction: tma}\n'
                      '        - copy: {src: "C[k*8 : +8, :]", dst: "B[k*8 : +8, :]"}\n')
    assert FULL_WAIT in synced(loop(4)) and READ_WAIT not in synced(loop(4))
    assert READ_WAIT in synced(loop(2))
