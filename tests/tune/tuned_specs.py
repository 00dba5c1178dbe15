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

# B = A through shared memory, TW columns a tile; the load's instruction and the L2 policy of
# both global sides are tuned with the width (TW = 4: rows of 8 bytes, which TMA cannot load).
CHOICES = """\
tlspec: 1
name: tc
target: sm_90a
dims: {M: 256, N: 512}
tune:
  TW: [64, 4]
  LOAD: [tma, sync]
  POLICY: [evict_normal, evict_first]
buffers:
  A:   {scope: global, shape: [M, N], dtype: float16, io: in}
  B:   {scope: global, shape: [M, N], dtype: float16, io: out}
  A_s: {scope: shared, shape: [64, TW], dtype: float16}
launch:
  grid: {bx: "ceildiv(N, TW)", by: "ceildiv(M, 64)"}
  threads: 128
stages:
  - copy: {src: "A[by*64 : +64, bx*TW : +TW]", dst: A_s, prefer_instruction: LOAD, eviction_policy: POLICY}
  - sync_threads:
  - copy: {src: A_s, dst: "B[by*64 : +64, bx*TW : +TW]", eviction_policy: POLICY}
"""


def choices(policy: bool = True) -> str:
    """CHOICES, or without POLICY (4 variants instead of 8)."""
    return CHOICES if policy else CHOICES.replace(
        "  POLICY: [evict_normal, evict_first]\n", "").replace(", eviction_policy: POLICY", "")
