"""One generated spec through tlspec's own compile path (tlspec/compiler/driver.py: validate,
check_supported, compile_kernel), classified:

- `invalid`: the spec does not validate (a generator bug: generated specs must be valid);
- `refused`: a located diagnostic says why it cannot be compiled (check_supported, or a pass's
  StageError at an element of the spec);
- `compiled`: an artifact, with the case to run (arguments, calls and their shapes);
- `failed`: anything else: an internal compiler error (an exception that is no StageError), a
  CUDA compile error on the generated source, a manifest or shared-memory layout error, an
  unlocated refusal, or (decided by the pool) a compile past the time limit.
"""
from __future__ import annotations

import re
import time
import traceback
from pathlib import Path

from tlspec.compiler.driver import compile_kernel
from tlspec.compiler.errors import StageError, take_stage_error
from tlspec.compiler.support import check_supported
from tlspec.diagnostics import Diagnostics
from tlspec.expr import evaluate
from tlspec.model import Kernel
from tlspec.validate import validate_paths


def template(message: str) -> str:
    """A message with its particulars (quoted names, numbers) blanked: the reason's kind."""
    message = re.sub(r"'[^']*'", "'…'", message.splitlines()[0] if message else "")
    return re.sub(r"\d+", "N", message)[:160]


def _first_error(diags: Diagnostics) -> dict:
    d = min(diags.errors, key=lambda x: x.sort_key)
    return {"message": d.message, "reason": template(d.message), "pointer": d.pointer,
            "line": d.location.line, "column": d.location.column, "rendered": d.render()}


def _first_line(error: BaseException) -> str:
    """The gist of an exception: its first line that says something (tvm's "Check failed: ...")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else "")[:200]


def _culprit(error: BaseException) -> str:
    """The innermost frame of tlspec's own code the exception went through: module.function."""
    where = "?"
    for frame in traceback.extract_tb(error.__traceback__):
        path = Path(frame.filename)
        if "tlspec" in path.parts and "differential" not in path.parts:
            where = f"{path.stem}.{frame.name}"
    return where


def _env(kernel: Kernel, dims: dict[str, int]) -> dict[str, int]:
    return {d.name: d.value for d in kernel.dims.values() if not d.symbolic} | dims


def call_shapes(kernel: Kernel, dims: dict[str, int]) -> dict[str, list[int]]:
    """The extents of every global buffer for a call that gives the symbolic dims `dims`."""
    env = _env(kernel, dims)
    return {b.name: [evaluate(e, env) for e in b.shape]
            for b in kernel.buffers.values() if b.is_global}


def call_strides(kernel: Kernel, dims: dict[str, int]) -> dict[str, list[int]]:
    """The declared strides (in elements) of the global buffers that declare them, for a call
    that gives the symbolic dims `dims`."""
    env = _env(kernel, dims)
    return {b.name: [evaluate(e, env) for e in b.strides]
            for b in kernel.buffers.values() if b.is_global and b.strides is not None}


def case_of(kernel: Kernel, calls: list[dict], fills: dict, seed: int) -> dict:
    """What run_gpu.py needs to run the kernel: its arguments in wrapper order and its calls
    (`calls`: the symbolic dims of each; `fills`: how to fill index tensors)."""
    arguments = []
    for b in kernel.buffers.values():
        if b.is_global:
            arg = {"name": b.name, "dtype": b.dtype, "io": b.io}
            if b.name in fills:
                arg["fill"] = fills[b.name]
            arguments.append(arg)
    calls = [{"dims": dims, "shapes": call_shapes(kernel, dims), "seed": seed * 8 + i}
             for i, dims in enumerate(calls)]
    for call in calls:
        strides = call_strides(kernel, call["dims"])
        if strides:
            call["strides"] = strides
    return {"kernel": kernel.name, "arguments": arguments, "calls": calls}


def compile_spec(path: str, calls: list[dict] | None = None, fills: dict | None = None,
                 seed: int = 0) -> dict:
    """The outcome of one spec file (see the module's doc); when compiled, 'artifact' holds the
    kernel (name, manifest, source, cubin) and, when `calls` are given, 'case' what to run."""
    started = time.perf_counter()
    outcome = _compile(path, calls, fills or {}, seed)
    outcome["seconds"] = round(time.perf_counter() - started, 3)
    return outcome


def _compile(path: str, calls: list[dict] | None, fills: dict, seed: int) -> dict:
    validation = validate_paths([path])
    if not validation.ok:
        return {"status": "invalid", **_first_error(validation.diagnostics)}
    kernel = validation.kernels[0]
    diags = Diagnostics()
    check_supported(kernel, diags)
    if diags.has_errors:
        return {"status": "refused", **_first_error(diags)}
    doc = kernel.document
    StageError.last = None        # a StageError some earlier compile raised and caught is no cause
    try:
        artifact = compile_kernel(kernel)
    except Exception as e:  # noqa: BLE001  (every failure is classified, none escapes)
        stage = take_stage_error(e)
        if stage is None:
            message = f"{type(e).__name__} in {_culprit(e)}: {_first_line(e)}"
            return {"status": "failed", "message": message, "reason": template(message),
                    "traceback": traceback.format_exc()[-4000:]}
        where = doc.location(stage.pointer)
        if not stage.pointer or where == doc.start:
            message = f"unlocated refusal: {stage.message}"
            return {"status": "failed", "message": message, "reason": template(message)}
        return {"status": "refused", "message": stage.message, "reason": template(stage.message),
                "pointer": stage.pointer, "line": where.line, "column": where.column}
    case = case_of(kernel, calls, fills, seed) if calls is not None else None
    return {"status": "compiled", "case": case, "artifact": fields(artifact)}


def fields(artifact) -> dict:
    """What build_batch.py makes a KernelArtifact of again (from another process): its files,
    and its aligned variant's (shape specialization), which the kernel's wrapper loads."""
    return {"name": artifact.name, "manifest": artifact.manifest, "source": artifact.source,
            "cubin": artifact.cubin, "ptx": artifact.ptx,
            "aligned": None if artifact.aligned is None else fields(artifact.aligned)}
