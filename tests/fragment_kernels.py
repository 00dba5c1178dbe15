"""A kernel of rows through a fragment, for the tests of its layout (passes/fragment_layouts.py):
rows of `a` (read from its column 2: at most 2 fp16 per access) or of `table` (8 per access) in
16 x 64 tiles of a fragment, 40 rows, so the last block's tile is partial."""

LOAD = '  - copy: {{src: "a[bx*16 : +16, 2 : +64]", dst: F{}}}\n'
SCATTER = '  - scatter: {{src: F, dst: table, index: "idx[bx*16 : +16]"{}}}\n'
GATHER = '  - gather: {{src: table, dst: F, index: "idx[bx*16 : +16]"{}}}\n'
STORE = '  - copy: {{src: F, dst: "out[bx*16 : +16, :]"{}}}\n'


def fragment_kernel(stages: str) -> str:
    """`stages`: LOAD, SCATTER, GATHER and STORE, each formatted with the stage's options."""
    return f"""
tlspec: 1
name: fragment
target: sm_90a
dims: {{V: 60, R: 40}}
buffers:
  a:     {{scope: global, shape: [R, 66], dtype: float16, io: in}}
  table: {{scope: global, shape: [V, 64], dtype: float16, io: inout}}
  idx:   {{scope: global, shape: [R], dtype: int32, io: in}}
  out:   {{scope: global, shape: [R, 64], dtype: float16, io: out}}
  F:     {{scope: fragment, shape: [16, 64], dtype: float16}}
launch:
  grid: {{bx: "ceildiv(R, 16)"}}
  threads: 128
stages:
{stages}"""
