"""VectorizeLoop: a SIMT stage whose loop did not become vectors of the width
InstructionAnnotation chose is a compile error at the stage, at every width, 2 included (no spec
is known to reach it: tvm's vectorizer is replaced by one that does nothing, as docs/compiler.md
shows it)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm
from pipeline_support import run_through, tile_ir

COPY = """
tlspec: 1
name: widths
target: sm_90a
dims: {{M: {{symbolic: true, multiple_of: 16}}}}
buffers:
  A: {{scope: global, shape: [M, 64], dtype: float16, io: in}}
  B: {{scope: global, shape: [M, 64], dtype: float16, io: out}}
launch:
  grid: {{bx: M // 16}}
  threads: 128
stages:
  - copy: {{src: "A[bx*16 : +16, :]", dst: "B[bx*16 : +16, :]", coalesced_width: {width}}}
"""


@pytest.mark.parametrize("width", [2, 4, 8])
def test_a_stage_that_did_not_vectorize_is_an_error(width, monkeypatch):
    monkeypatch.setattr(tvm.tirx.transform, "VectorizeLoop", lambda enable=True:
                        tvm.transform.module_pass(lambda mod, ctx: mod, opt_level=0,
                                                  name="NoVectorize"))
    # the pass's StageError, as tvm's pass infrastructure raises it again
    with pytest.raises(RuntimeError, match=f"did not vectorize to {width} elements per access"):
        run_through(tile_ir(COPY.format(width=width)), "VectorizeLoop")


@pytest.mark.parametrize("width", [1, 2, 4, 8])
def test_a_stage_that_vectorized_compiles(width):
    run_through(tile_ir(COPY.format(width=width)), "VectorizeLoop")
