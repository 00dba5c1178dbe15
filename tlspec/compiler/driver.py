"""`tlspec compile`: spec files -> validated kernels -> tile IR -> pipeline -> CUDA -> cubin ->
manifest -> the output package. Every problem becomes a located diagnostic; the package is
written only when every kernel compiled, so a failed compile leaves OUT as it was."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import Diagnostics
from ..model import Kernel
from ..package import KernelArtifact, check_creatable, check_package_dir, write_package
from ..validate import UsageError, validate_paths
from .cuda_compile import (
    CudaCompileError,
    compile_cuda,
    compile_ptx,
    dynamic_shared_offset,
    find_nvcc,
    ptx_arch,
    register_count,
)
from .errors import take_stage_error
from .specialize import aligned_kernel
from .support import check_supported

# The modules that lower a kernel import tvm (seconds of start-up): they are imported where a
# kernel is compiled, so that a compile refused before that (a bad OUT, an invalid or unsupported
# spec) is answered without them.

# Targets whose package always carries PTX: an sm_80 cubin runs on Ampere GPUs only, its PTX on
# every later one (the driver compiles it), which is how sm_80 kernels run on a Hopper GPU.
PTX_ALWAYS = ("sm_80",)
LOG_TAIL = 4000            # characters of a compiler's log shown in a diagnostic's hint


class CubinPlanError(Exception):
    """The cubin does not match what the compiler planned: where the shared-memory pool starts,
    or the registers a kernel starts with (a tlspec bug)."""


@dataclass
class CompileResult:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    kernels: list[str] = field(default_factory=list)       # compiled kernel names
    files: list[str] = field(default_factory=list)         # spec files read
    out: Path | None = None                                # the package written

    @property
    def ok(self) -> bool:
        return not self.diagnostics.has_errors


def compile_kernel(kernel: Kernel, *, nvcc: str | None = None, dump_ir: str | None = None,
                   ptx: bool = False) -> KernelArtifact:
    """One supported, validated kernel to its artifact, for the spec's target: a cubin, and its
    PTX too with ptx=True or on a PTX_ALWAYS target. Raises StageError, CudaCompileError or
    ManifestError."""
    from .codegen import lower
    from .manifest import build_manifest
    from .tileir import build_tile_ir

    arch = kernel.target.name
    dump_dir = str(Path(dump_ir) / kernel.name) if dump_ir else None
    lowered = lower(build_tile_ir(kernel), arch, dump_dir)
    cubin = compile_cuda(lowered.source, name=kernel.name, arch=arch, nvcc=nvcc)
    text = None
    if ptx or arch in PTX_ALWAYS:
        text = compile_ptx(lowered.source, name=kernel.name, arch=arch, nvcc=nvcc)
    manifest = build_manifest(kernel, lowered.host, lowered.device, arch,
                              ptx_arch(arch, lowered.source) if text is not None else None)
    _check_shared_alignment(lowered.host, cubin, manifest["entry"])
    _check_register_pool(lowered.host, cubin, manifest["entry"])
    variant = aligned_kernel(kernel) if _specializable(lowered.host) else None
    aligned = None
    if variant is not None:           # the kernel's wrapper launches it for aligned sizes
        aligned = compile_kernel(variant[0], nvcc=nvcc, dump_ir=dump_ir, ptx=ptx)
        manifest["aligned"] = {"kernel": variant[0].name, "multiple_of": variant[1]}
    return KernelArtifact(kernel.name, manifest, lowered.source, cubin, text,
                          tuple(lowered.notes), aligned)


def _specializable(host) -> bool:
    """Whether InstructionAnnotation found a stage that aligned sizes would make faster."""
    from .analysis import attr
    from .passes.slow_paths import SPECIALIZABLE

    return any(bool(attr(f, SPECIALIZABLE, False)) for f in host.functions.values())


def _check_shared_alignment(host, cubin: bytes, entry: str) -> None:
    """The shared-memory pool's tiles are placed at offsets from its base, aligned for their
    layouts (1024 bytes for a 128-byte swizzle); so the base must be aligned as much. The dynamic
    window follows the reserved 1 KB and any static __shared__ data, which ptxas pads to the
    pool's declared alignment (see MergeSharedMemoryAllocations): this checks that it did."""
    from .analysis import attr

    alignment = max((int(attr(f, "tlspec.shared_alignment", 0))
                     for f in host.functions.values()), default=0)
    if alignment <= 1:
        return
    offset = dynamic_shared_offset(cubin, entry)
    if offset % alignment:
        raise CubinPlanError(
            f"its dynamic shared memory starts at byte {offset} of the block's shared memory "
            f"(after the reserved 1 KB and the static __shared__ data), not at a multiple of the "
            f"{alignment} bytes its tiles need")


def _check_register_pool(host, cubin: bytes, entry: str) -> None:
    """A warp-specialized kernel whose consumers raise their registers with setmaxnreg takes
    them from the block's pool, the registers every thread starts with: AnnotateWarpGroupRegAlloc
    planned that count from `__launch_bounds__`; had ptxas chosen fewer, the increase would wait
    forever at run time. This checks the count the cubin records."""
    from .analysis import attr
    from .passes.annotate_warp_group_reg_alloc import PLAN_ATTR

    plan = next((attr(f, PLAN_ATTR) for f in host.functions.values()
                 if attr(f, PLAN_ATTR, None) is not None), None)
    if plan is None:
        return
    threads, entry_count = int(plan["threads"]), int(plan["entry"])
    found = register_count(cubin, entry)
    producers = int(plan["producers"])
    needed = int(plan["consumer"]) * (threads - producers) + int(plan["producer"]) * producers
    if found is None or found * threads < needed:
        raise CubinPlanError(
            f"its threads start with {found} registers, not the {entry_count} the register "
            f"reallocation (setmaxnreg) was planned for: the consumers' increase could never "
            f"complete")


def _refuse_other_target(kernel: Kernel, arch: str, diags: Diagnostics) -> None:
    doc = kernel.document
    pointer = "/target" if "/target" in doc.values else "/name"   # the default target is unwritten
    diags.error(doc.location(pointer), f"kernel '{kernel.name}' targets {kernel.target.name}, "
                f"but --arch {arch} asks for {arch} kernels only", pointer=pointer,
                hint=f"set `target: {arch}` in the spec, or drop --arch (every kernel is "
                     "compiled for its spec's target)")


def check_options(out: str, nvcc: str | None = None, dump_ir: str | None = None) -> None:
    """What makes a compile pointless whatever the specs say, checked before any compile work:
    the package directory (its name, and that it may be replaced), the folder of --dump-ir
    (that it can be made and written) and the nvcc of --nvcc. Raises ValueError (OUT) or
    UsageError (--dump-ir, --nvcc), touching nothing."""
    check_package_dir(out)
    if dump_ir is not None:
        try:
            check_creatable(Path(dump_ir), Path(dump_ir))
        except ValueError as e:
            raise UsageError(f"--dump-ir {dump_ir}: {e}") from None
    if nvcc is not None:
        try:
            find_nvcc(nvcc)
        except CudaCompileError as e:
            raise UsageError(f"--nvcc {nvcc}: {e.message}; {e.hint}") from None


def compile_paths(paths: list[str], out: str, *, arch: str | None = None,
                  nvcc: str | None = None, dump_ir: str | None = None,
                  ptx: bool = False) -> CompileResult:
    """Compile every kernel for its spec's target (`arch`, when given, must be that target: an
    error at the spec's target otherwise). Raises ValueError or UsageError (before compiling
    anything) for an unusable OUT, --dump-ir or --nvcc, or paths that do not exist or cannot be
    read; UsageError when --dump-ir or OUT cannot be written after all. Every problem of a spec
    is a diagnostic."""
    check_options(out, nvcc, dump_ir)
    validation = validate_paths(paths)
    result = CompileResult(validation.diagnostics, files=validation.files)
    diags = result.diagnostics
    if diags.has_errors:
        return result
    for kernel in validation.kernels:
        check_supported(kernel, diags)
        if arch is not None and kernel.target.name != arch:
            _refuse_other_target(kernel, arch, diags)
    if diags.has_errors:
        return result
    from .codegen import DumpError
    from .manifest import ManifestError

    artifacts = []
    for kernel in validation.kernels:
        doc = kernel.document
        try:
            artifacts.append(compile_kernel(kernel, nvcc=nvcc, dump_ir=dump_ir, ptx=ptx))
            for pointer, message, hint in artifacts[-1].notes:   # what the passes noted
                diags.warning(doc.location(pointer, key=True), message, pointer=pointer, hint=hint)
        except DumpError as e:
            raise UsageError(f"--dump-ir {dump_ir}: {e}") from None
        except CudaCompileError as e:
            hint = e.hint or ""
            if e.log.strip():
                hint += ("\n" if hint else "") + "the compiler's output" + (
                    f" (its last {LOG_TAIL} characters)" if len(e.log) > LOG_TAIL else "") + \
                    ":\n" + e.log[-LOG_TAIL:].rstrip()
            diags.error(doc.location("/name"), f"kernel '{kernel.name}': {e}",
                        pointer="/name", hint=hint or None)
        except CubinPlanError as e:
            diags.error(doc.location("/name"), f"kernel '{kernel.name}': internal compiler error: "
                        f"{e}", pointer="/name", hint="this is a tlspec bug: please report it "
                        "with the spec")
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
    try:
        result.out = write_package(out, artifacts)
    except OSError as e:           # write_package leaves OUT as it was
        raise UsageError(f"-o {out}: cannot write the package: {e.strerror or e}") from None
    return result
