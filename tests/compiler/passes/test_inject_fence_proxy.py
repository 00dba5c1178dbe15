"""InjectFenceProxy on small kernels: a loop whose body is one stage keeps that stage as its body
(never a SeqStmt of one statement, which tvm refuses), and the fence before a TMA store of a tile
written by threads is still inserted when the loop body is that single store's stage."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx

from tlspec.compiler.analysis import stage_kind
from tlspec.compiler.passes.inject_fence_proxy import InjectFenceProxy, fence


def loop_of_one(stage: str, before: str = "") -> str:
    """A kernel whose `for` loop over k runs the single stage `stage`, after the stages `before`."""
    return f"""
tlspec: 1
name: loop_of_one
target: sm_90a
dims: {{M: 4096, R: 4096}}
buffers:
  A:   {{scope: global, shape: [M, 256], dtype: float16, io: in}}
  B:   {{scope: global, shape: [M, 256], dtype: float16, io: out}}
  idx: {{scope: global, shape: [R], dtype: int32, io: in}}
  A_s: {{scope: shared, shape: [64, 64], dtype: float16}}
launch:
  grid: {{bx: M // 64}}
  threads: 128
stages:
{before}  - for:
      var: k
      extent: 4
      stages:
        - {stage}
"""


LOOP_OF_ONE_GATHER = loop_of_one(
    'gather: {src: "A[:, k*64 : +64]", dst: "B[bx*64 : +64, k*64 : +64]", index: "idx[bx*64 : +64]"}')
LOOP_OF_ONE_TMA_STORE = loop_of_one(
    'copy: {src: A_s, dst: "B[bx*64 : +64, k*64 : +64]", prefer_instruction: tma}',
    before='  - copy: {src: "A[bx*64 : +64, 0 : +64]", dst: A_s, prefer_instruction: sync}\n')


def spec_loop(func, var: str = "k"):
    """The loop of the spec's `for` over `var`."""
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.For, found.append), order="pre")
    return next(f for f in found if f.loop_var.name == var)


def fenced(text):
    mod = run_through(tile_ir(text), "ApplyEvictionHints")
    return InjectFenceProxy()(mod)["main"]


def test_a_loop_of_one_stage_keeps_the_stage_as_its_body():
    assert stage_kind(spec_loop(fenced(LOOP_OF_ONE_GATHER)).body) == "gather:sync"


def test_a_loop_of_one_tma_store_gets_its_fence_before_the_store():
    body = spec_loop(fenced(LOOP_OF_ONE_TMA_STORE)).body
    assert isinstance(body, tirx.SeqStmt) and len(body.seq) == 2
    assert tvm_ffi.structural_equal(body.seq[0], fence())
    assert stage_kind(body.seq[1]) == "copy:tma"


NESTED_LOOPS = """
tlspec: 1
name: nested_loops
target: sm_90a
dims: {M: 4096}
buffers:
  A:   {scope: global, shape: [M, 256], dtype: float16, io: in}
  B:   {scope: global, shape: [256, M], dtype: float16, io: out}
  A_s: {scope: shared, shape: [64, 64], dtype: float16, layout: padded}
  T_s: {scope: shared, shape: [64, 64], dtype: float16}
launch:
  grid: {bx: M // 64}
  threads: 128
stages:
  - for:
      var: r
      extent: 1
      stages:
        - for:
            var: k
            extent: 4
            stages:
              - copy: {src: "A[bx*64 : +64, k*64 : +64]", dst: A_s}
              - transpose: {src: A_s, dst: T_s}
              - copy: {src: T_s, dst: "B[k*64 : +64, bx*64 : +64]", prefer_instruction: tma}
"""


def test_a_loop_nested_right_in_a_loop_gets_its_fence():
    """The outer loop's body is the inner loop itself (no sequence around it): the fence before
    the TMA store of the transposed tile must still be inserted (a differential kernel lost it,
    and its store read stale shared memory on the H200)."""
    body = spec_loop(fenced(NESTED_LOOPS)).body
    kinds = [stage_kind(s) for s in body.seq]
    store = kinds.index("copy:tma")
    assert tvm_ffi.structural_equal(body.seq[store - 1], fence())
