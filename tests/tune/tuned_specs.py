"""Small tuned kernels the tune tests share (fast to compile: a few variants each)."""
from tlspec.validate import validate_text

# B = A^T through shared memory; the tile's width and the threads are tunable.
TRANSPOSE = """\
tlspec: 1
name: tt
target: sm_90a
dims: {M: DIM_M, N: DIM_N}
tune:
  TW: [64, 32]
  THREADS: [128, 64]
buffers:
  A:    {scope: global, shape: [M, N], dtype: float16, io: in}
  B:    {scope: global, shape: [N, M], dtype: float16, io: out}
  A_s:  {scope: shared, shape: [64, TW], dtype: float16}
  At_s: {scope: shared, shape: [TW, 64], dtype: float16}
launch:
  grid: {bx: "ceildiv(N, TW)", by: "ceildiv(M, 64)"}
  threads: THREADS
stages:
  - copy: {src: "A[by*64 : +64, bx*TW : +TW]", dst: A_s, coalesced_width: 8}
  - sync_threads:
  - transpose: {src: A_s, dst: At_s}
  - sync_threads:
  - copy: {src: At_s, dst: "B[bx*TW : +TW, by*64 : +64]"}
"""
SYMBOLIC = "{symbolic: true, multiple_of: 8}"


def transpose(m="256", n="512") -> str:
    return TRANSPOSE.replace("DIM_M", m).replace("DIM_N", n)


def kernel_of(text: str):
    result = validate_text(text, "tt.tlspec.yaml")
    assert result.ok, result.diagnostics.render_text()
    (kernel,) = result.kernels
    return kernel
