"""Pass-level test support: a spec's tile IR, and the pipeline run on it up to a named pass."""
import tvm
from tvm import tirx

from tlspec.compiler import pipeline
from tlspec.compiler.codegen import target_for
from tlspec.compiler.tileir import build_tile_ir
from tlspec.validate import validate_text


def tile_ir(text: str) -> tvm.IRModule:
    result = validate_text(text)
    assert result.ok, [str(d) for d in result.diagnostics]
    return build_tile_ir(result.kernels[0])


def run_through(mod: tvm.IRModule, last: str, arch: str = "sm_90a") -> tvm.IRModule:
    """`mod` after the pipeline's passes up to and including the first one named `last`."""
    target = target_for(arch)
    with tvm.transform.PassContext(opt_level=3), target:
        mod = tirx.transform.BindTarget(target.with_host(tvm.target.Target("llvm")))(mod)
        for info in pipeline.PASSES:
            mod = info.make()(mod)
            if info.name == last:
                return mod
    raise ValueError(f"no pass named {last}")


def gathers(stages: int) -> str:
    """A kernel of `stages` gathers of 64-column slices whose sizes are all symbolic (M, N, V):
    every access is guarded."""
    return """
tlspec: 1
name: gathers
target: sm_90a
dims:
  M: {symbolic: true}
  N: {symbolic: true}
  V: {symbolic: true}
buffers:
  table: {scope: global, shape: [V, N], dtype: float16, io: in}
  idx: {scope: global, shape: [M], dtype: int32, io: in}
  out: {scope: global, shape: [M, N], dtype: float16, io: out}
launch:
  grid: {bx: "ceildiv(M, 16)"}
  threads: 128
stages:
""" + "".join(f'  - gather: {{src: "table[:, {64 * i} : +64]", dst: "out[bx*16 : +16, '
              f'{64 * i} : +64]", index: "idx[bx*16 : +16]"}}\n' for i in range(stages))


def transpose_kernel(shape: tuple, dtype: str, src_layout: str = "auto", dst_layout: str = "auto",
                     threads: int = 128, options: str = "") -> str:
    """A tensor of `shape` loaded into the tile S, transposed into D (the stage
    /stages/2/transpose, with `options` appended), D stored."""
    *batch, rows, cols = shape
    lead = "".join(f"{b}, " for b in batch)
    return f"""
tlspec: 1
name: t
target: sm_90a
buffers:
  A: {{scope: global, shape: [{lead}{rows}, {cols}], dtype: {dtype}, io: in}}
  B: {{scope: global, shape: [{lead}{cols}, {rows}], dtype: {dtype}, io: out}}
  S: {{scope: shared.dyn, shape: [{lead}{rows}, {cols}], dtype: {dtype}, layout: {src_layout}}}
  D: {{scope: shared.dyn, shape: [{lead}{cols}, {rows}], dtype: {dtype}, layout: {dst_layout}}}
launch:
  grid: {{bx: 1}}
  threads: {threads}
stages:
  - copy: {{src: A, dst: S}}
  - sync_threads:
  - transpose: {{src: S, dst: D{options}}}
  - sync_threads:
  - copy: {{src: D, dst: B}}
"""
