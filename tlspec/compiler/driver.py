"""`tlspec compile`: spec files -> validated kernels -> tile IR -> pipeline -> CUDA -> cubin ->
manifest -> the output package. Every problem becomes a located diagnostic; the package is
written only when every kernel compiled, so a failed compile leaves OUT as it was."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import Diagnostics
from ..model import Kernel
from ..package import KernelArtifact, write_package
from ..validate import validate_paths
from .codegen import lower
from .cuda_compile import CudaCompileError, compile_cuda
from .errors import take_stage_error
from .manifest import ManifestError, build_manifest
from .support import check_supported
from .tileir import build_tile_ir

DEFAULT_ARCH = "sm_90a"


@dataclass
class CompileResult:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    kernels: list[str] = field(default_factory=list)       # compiled kernel names
    files: list[str] = field(default_factory=list)         # spec files read
    out: Path | None = None                                # the package written

    @property
    def ok(self) -> bool:
        return not self.diagnostics.has_errors


def compile_kernel(kernel: Kernel, *, arch: str = DEFAULT_ARCH, nvcc: str | None = None,
                   dump_ir: str | None = None) -> KernelArtifact:
    """One supported, validated kernel to its artifact. Raises StageError, CudaCompileError or
    ManifestError."""
    dump_dir = str(Path(dump_ir) / kernel.name) if dump_ir else None
    lowered = lower(build_tile_ir(kernel), arch, dump_dir)
    cubin = compile_cuda(lowered.source, name=kernel.name, arch=arch, nvcc=nvcc)
    manifest = build_manifest(kernel, lowered.host, lowered.device, arch)
    return KernelArtifact(kernel.name, manifest, lowered.source, cubin)


def compile_paths(paths: list[str], out: str, *, arch: str = DEFAULT_ARCH,
                  nvcc: str | None = None, dump_ir: str | None = None) -> CompileResult:
    validation = validate_paths(paths)
    result = CompileResult(validation.diagnostics, files=validation.files)
    diags = result.diagnostics
    if diags.has_errors:
        return result
    for kernel in validation.kernels:
        check_supported(kernel, diags)
    if diags.has_errors:
        return result
    artifacts = []
    for kernel in validation.kernels:
        doc = kernel.document
        try:
            artifacts.append(compile_kernel(kernel, arch=arch, nvcc=nvcc, dump_ir=dump_ir))
        except CudaCompileError as e:
            diags.error(doc.location("/name"), f"kernel '{kernel.name}': {e}",
                        pointer="/name", hint="the full compiler log follows:\n" + e.log[-4000:])
        except ManifestError as e:
            diags.error(doc.location("/name"), f"kernel '{kernel.name}': {e}", pointer="/name",
                        hint="this is a tlspec bug: please report it with the spec")
        except Exception as e:  # noqa: BLE001  (tvm re-raises a pass's StageError as its own type)
            stage = take_stage_error(e)
            if stage is None:
                diags.error(doc.location("/name"), f"kernel '{kernel.name}': internal compiler "
                            f"error: {type(e).__name__}: {str(e).strip().splitlines()[-1]}",
                            pointer="/name", hint="this is a tlspec bug: please report it with "
                            "the spec (tlspec compile --dump-ir DIR shows the IR before each pass)")
            else:
                diags.error(doc.location(stage.pointer), stage.message, pointer=stage.pointer,
                            hint=stage.hint)
    if diags.has_errors:
        return result
    result.kernels = [a.name for a in artifacts]
    result.out = write_package(out, artifacts)
    return result
