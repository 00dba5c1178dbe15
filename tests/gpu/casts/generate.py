"""Writes casts.tlspec.yaml beside it: the converting copies the GPU tests run
(tests/gpu/test_casts_gpu.py). Run `python tests/gpu/casts/generate.py` after changing it;
tests/compiler/test_casts_compile.py checks the file is what this writes.

For every source dtype S, kernel `cast_from_<S>` converts A (S, M x N, both symbolic and ragged)
to each other convertible dtype D by every direction a copy goes, each into its own output:
  X_D: A -> shared tile of D (global -> shared converts) -> X_D
  Y_D: A -> shared tile of S -> Y_D (shared -> global converts)
  Z_D: the tile of S -> fragment of D (shared -> fragment converts) -> Z_D
  V_D: A -> fragment of S -> V_D (fragment -> global converts)
  W_D: A -> W_D (global -> global converts)
`cast_ragged` does the same for a few pairs with N of any length, every copy one element per
access (its fragments' copies must agree, and the global sides allow no more), and
`cast_overflow` converts float32 to the narrower float types (values out of their range), and
`cast_hinted` is float32 -> bfloat16 fragment -> float8_e4m3 with eviction hints (hinted vector
loads and stores of the converting loops).
"""
from __future__ import annotations

from pathlib import Path

DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "e4m3": "float8_e4m3",
          "e5m2": "float8_e5m2", "i8": "int8", "i32": "int32"}
REGION = "[by*16 : +16, bx*64 : +64]"


def kernel(name: str, doc: str, src: str, dsts: list[str], multiple_of: int | None) -> str:
    n = f"{{symbolic: true, multiple_of: {multiple_of}}}" if multiple_of else "symbolic"
    one = "" if multiple_of else ", coalesced_width: 1"
    buffers = [f"  A:   {{scope: global, shape: [M, N], dtype: {DTYPES[src]}, io: in}}",
               f"  S:   {{scope: shared, shape: [16, 64], dtype: {DTYPES[src]}}}",
               f"  F:   {{scope: fragment, shape: [16, 64], dtype: {DTYPES[src]}}}"]
    stages = [f'  - copy: {{src: "A{REGION}", dst: S}}',
              f'  - copy: {{src: "A{REGION}", dst: F{one}}}']
    for dst in dsts:
        dtype = DTYPES[dst]
        buffers += [f"  {out}_{dst}: {{scope: global, shape: [M, N], dtype: {dtype}, io: out}}"
                    for out in "XYZVW"]
        buffers += [f"  T_{dst}: {{scope: shared, shape: [16, 64], dtype: {dtype}}}",
                    f"  R_{dst}: {{scope: fragment, shape: [16, 64], dtype: {dtype}}}"]
        stages += [f'  - copy: {{src: "A{REGION}", dst: T_{dst}}}',
                   f'  - copy: {{src: T_{dst}, dst: "X_{dst}{REGION}"}}',
                   f'  - copy: {{src: S, dst: "Y_{dst}{REGION}"}}',
                   f"  - copy: {{src: S, dst: R_{dst}{one}}}",
                   f'  - copy: {{src: R_{dst}, dst: "Z_{dst}{REGION}"{one}}}',
                   f'  - copy: {{src: F, dst: "V_{dst}{REGION}"{one}}}',
                   f'  - copy: {{src: "A{REGION}", dst: "W_{dst}{REGION}"}}']
    return "\n".join([
        "# yaml-language-server: $schema=../../../schemas/tlspec.schema.json", "tlspec: 1",
        f"name: {name}", f"doc: {doc}", "target: sm_90a", "dims:", "  M: symbolic", f"  N: {n}",
        "buffers:", *buffers, "launch:",
        '  grid: {bx: "ceildiv(N, 64)", by: "ceildiv(M, 16)"}', "  threads: 128", "stages:",
        *stages]) + "\n"


def specs() -> str:
    docs = [kernel(f"cast_from_{src}", f"A ({DTYPES[src]}) converted to every other dtype by "
                   "every direction of a copy.", src, [d for d in DTYPES if d != src], 16)
            for src in DTYPES]
    docs.append(kernel("cast_ragged", "Conversions with N of any length (single elements).",
                       "f32", ["e4m3", "bf16", "i8"], None))
    docs.append(kernel("cast_overflow", "float32 out of the narrower float types' range.",
                       "f32", ["f16", "bf16", "e4m3", "e5m2"], 16))
    docs.append(HINTED)
    return "---\n".join(docs)


HINTED = f"""# yaml-language-server: $schema=../../../schemas/tlspec.schema.json
tlspec: 1
name: cast_hinted
doc: float32 -> bfloat16 fragment -> float8_e4m3, the global accesses hinted.
target: sm_90a
dims:
  M: symbolic
  N: {{symbolic: true, multiple_of: 16}}
buffers:
  A: {{scope: global, shape: [M, N], dtype: float32, io: in}}
  B: {{scope: global, shape: [M, N], dtype: float8_e4m3, io: out}}
  R: {{scope: fragment, shape: [16, 64], dtype: bfloat16}}
launch:
  grid: {{bx: "ceildiv(N, 64)", by: "ceildiv(M, 16)"}}
  threads: 128
stages:
  - copy: {{src: "A{REGION}", dst: R, eviction_policy: evict_first}}
  - copy: {{src: R, dst: "B{REGION}", eviction_policy: evict_last}}
"""


if __name__ == "__main__":
    (Path(__file__).parent / "casts.tlspec.yaml").write_text(specs(), encoding="utf-8")
