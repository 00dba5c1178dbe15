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
