"""A kernel for the tests of stages writing one global tensor (passes/global_writes.py): A and C
in, B and W (B's width twice) out, a 64 x 64 swizzled tile, one block of 128 threads."""


def kernel(stages: str, dims: str = "{M: 64, N: 64}") -> str:
    return f"""
tlspec: 1
name: writes
target: sm_90a
dims: {dims}
buffers:
  A:   {{scope: global, shape: [M, N], dtype: float16, io: in}}
  C:   {{scope: global, shape: [M, N], dtype: float16, io: in}}
  B:   {{scope: global, shape: [M, N], dtype: float16, io: out}}
  W:   {{scope: global, shape: [M, N * 2], dtype: float16, io: out}}
  A_s: {{scope: shared, shape: [64, 64], dtype: float16, layout: swizzle_128B}}
launch:
  grid: {{bx: 1}}
  threads: 128
stages:
{stages}"""
