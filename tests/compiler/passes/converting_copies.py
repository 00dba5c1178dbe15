"""A kernel for the pass tests of converting copies: A (src dtype) -> tile T (mid dtype) -> B
(dst dtype), 16 x 64 tiles of a symbolic M x N (N a multiple of 16)."""


def cast_kernel(src: str, mid: str, dst: str, scope: str = "shared", options: str = "") -> str:
    return f"""
tlspec: 1
name: cast
target: sm_90a
dims: {{M: {{symbolic: true}}, N: {{symbolic: true, multiple_of: 16}}}}
buffers:
  A: {{scope: global, shape: [M, N], dtype: {src}, io: in}}
  B: {{scope: global, shape: [M, N], dtype: {dst}, io: out}}
  T: {{scope: {scope}, shape: [16, 64], dtype: {mid}}}
launch:
  grid: {{bx: "ceildiv(N, 64)", by: "ceildiv(M, 16)"}}
  threads: 128
stages:
  - copy: {{src: "A[by*16 : +16, bx*64 : +64]", dst: T{options}}}
  - copy: {{src: T, dst: "B[by*16 : +16, bx*64 : +64]"{options}}}
"""
