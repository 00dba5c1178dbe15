"""`tlspec compile`: spec files -> validated kernels -> tile IR -> pipeline -> CUDA -> cubin ->
manifest -> the output package. Every problem becomes a located diagnostic; the package is
written only when every kernel compiled, so a failed compile leaves OUT as it was."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import Cache
from ..cache_entries import KernelRecord, get_file, get_kernel, put_file, put_kernel
from ..cache_key import file_key, kernel_key
from ..diagnostics import Diagnostics, Severity
from ..discover import UsageError, discover, read_file
from ..package import KernelArtifact, check_creatable, check_package_dir, write_package
from .errors import take_stage_error
from .oob_sites import locate_sites

if TYPE_CHECKING:
    from ..model import Kernel
    from .parallel import Options

# The modules that lower a kernel import tvm (seconds of start-up): they are imported where a
# kernel is compiled, so that a compile refused before that (a bad OUT, an invalid or unsupported
# spec) is answered without them. The validator (a few tenths of a second) is imported where a
# spec is validated, and the CUDA compiler's module where CUDA is compiled, so that a compile
# answered from the cache needs none of them.

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
    kernel_keys: list[str] = field(default_factory=list)   # their cache keys, when cached
    left_out: list[str] = field(default_factory=list)      # files with errors (--keep-going)

    @property
    def ok(self) -> bool:
        return not self.diagnostics.has_errors


def compile_kernel(kernel: Kernel, *, nvcc: str | None = None, dump_ir: str | None = None,
                   ptx: bool = False, observe=None) -> KernelArtifact:
    """One supported, validated kernel to its artifact, for the spec's target: a cubin, and its
    PTX too with ptx=True or on a PTX_ALWAYS target (`observe`: see codegen.lower). Raises
    StageError, CudaCompileError or ManifestError."""
    from .codegen import lower
    from .cuda_compile import compile_cuda, compile_ptx, ptx_arch
    from .manifest import build_manifest
    from .specialize import aligned_kernel
    from .tileir import build_tile_ir

    arch = kernel.target.name
    dump_dir = str(Path(dump_ir) / kernel.name) if dump_ir else None
    lowered = lower(build_tile_ir(kernel), arch, dump_dir, observe)
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
    from .cuda_compile import dynamic_shared_offset

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
    from .cuda_compile import register_count
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
    from .cuda_compile import CudaCompileError, find_nvcc

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


def add_notes(kernel: Kernel, artifact: KernelArtifact, diags: Diagnostics) -> None:
    """What the passes noted about a kernel, as warnings located in its spec."""
    for pointer, message, hint in artifact.notes:
        diags.warning(kernel.document.location(pointer, key=True), message, pointer=pointer,
                      hint=hint)


def compile_located(kernel: Kernel, diags: Diagnostics, *, nvcc: str | None = None,
                    dump_ir: str | None = None, ptx: bool = False,
                    observe=None) -> KernelArtifact | None:
    """compile_kernel, its problems as located diagnostics (None then); raises UsageError when
    --dump-ir cannot be written."""
    from .codegen import DumpError
    from .cuda_compile import CudaCompileError
    from .manifest import ManifestError

    doc = kernel.document
    try:
        artifact = compile_kernel(kernel, nvcc=nvcc, dump_ir=dump_ir, ptx=ptx, observe=observe)
        add_notes(kernel, artifact, diags)
        return artifact
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
            detail = str(e).strip().splitlines()
            diags.error(doc.location("/name"), f"kernel '{kernel.name}': internal compiler "
                        f"error: {type(e).__name__}" + (f": {detail[-1]}" if detail else ""),
                        pointer="/name", hint="this is a tlspec bug: please report it with "
                        "the spec (tlspec compile --dump-ir DIR shows the IR before each pass)")
        else:
            diags.error(doc.location(stage.pointer), stage.message, pointer=stage.pointer,
                        hint=stage.hint)
    return None


def compile_paths(paths: list[str], out: str, *, arch: str | None = None,
                  nvcc: str | None = None, dump_ir: str | None = None, ptx: bool = False,
                  cache: Cache | None = None, keep_going: bool = False,
                  workers: int | None = 1, progress: bool = False) -> CompileResult:
    """Compile every kernel for its spec's target (`arch`, when given, must be that target: an
    error at the spec's target otherwise) into the package OUT. Raises ValueError or UsageError
    (before compiling anything) for an unusable OUT, --dump-ir or --nvcc, or paths that do not
    exist or cannot be read; UsageError when --dump-ir or OUT cannot be written after all. Every
    problem of a spec is a diagnostic; with `keep_going` the package holds the kernels of every
    spec file without one (and `left_out` names the others), else nothing is written unless every
    kernel compiled. See compile_sources for `cache`, `workers` and `progress`."""
    check_options(out, nvcc, dump_ir)
    diags = Diagnostics()
    sources = [(shown, read_file(path, diags, shown)) for path, shown in discover(paths, diags)]
    result, artifacts = compile_sources(sources, diags, arch=arch, nvcc=nvcc, dump_ir=dump_ir,
                                        ptx=ptx, cache=cache, keep_going=keep_going,
                                        workers=workers, progress=progress)
    if not (result.ok or (keep_going and artifacts)):
        return result
    try:
        result.out = write_package(out, artifacts, cached=cache is not None)
    except OSError as e:           # write_package leaves OUT as it was
        raise UsageError(f"-o {out}: cannot write the package: {e.strerror or e}") from None
    return result


def compile_sources(sources: list[tuple[str, bytes | None]], diags: Diagnostics, *,
                    arch: str | None = None, nvcc: str | None = None, dump_ir: str | None = None,
                    ptx: bool = False, cache: Cache | None = None, keep_going: bool = False,
                    workers: int | None = 1,
                    progress: bool = False) -> tuple[CompileResult, list[KernelArtifact]]:
    """The kernels of spec files given as (path shown, bytes or None when unreadable, its error
    in `diags`), compiled: the result and the artifacts to write (those of the files without
    errors with `keep_going`, else all or none). With a `cache` (ignored with `nvcc` or `dump_ir`:
    those compiles must run) unchanged files and kernels are taken from it and new ones put in;
    `workers` processes compile (None: one per core; 1, the default: this process), with a
    progress bar on stderr when `progress`."""
    if nvcc is not None or dump_ir is not None:
        cache = None
    if cache is not None and not diags.has_errors:
        hit = _from_cache(sources, diags, cache, arch, ptx)
        if hit is not None:
            return hit
    from ..tune.apply import apply_records, drop_variant, refused_choice
    from .parallel import Options

    result, kernels = _checked(sources, diags, arch, keep_going)
    if diags.has_errors and not keep_going:
        return result, []
    applied = apply_records(kernels, diags)
    kernels, dispatch, options = applied.kernels, applied.dispatch, Options(nvcc, dump_ir, ptx)
    keys = [_key(k, ptx) for k in kernels] if cache else []
    artifacts = _compiled(kernels, keys, dict(sources), diags, cache, options, workers, progress,
                          soft={i for i, k in enumerate(kernels) if k.name in applied.first})
    for i in [i for i, a in enumerate(artifacts) if isinstance(a, list)]:   # refused choices
        refused_choice(kernels[i], artifacts[i], diags)
        if applied.first[kernels[i].name] is None:
            drop_variant(dispatch, kernels[i].name)
            artifacts[i] = None
            continue
        kernels[i] = applied.first[kernels[i].name]
        if cache:
            keys[i] = _key(kernels[i], ptx)
        artifacts[i] = _compiled([kernels[i]], keys[i:i + 1], dict(sources), diags, cache,
                                 options, 1, False)[0]
    failed = _failed_files(diags)
    result.left_out = [f for f in result.files if f in failed]
    if failed and not keep_going:
        return result, []
    done = [i for i, k in enumerate(kernels) if k.path not in failed]
    if cache is not None:
        _record_files(cache, sources, failed, kernels, keys, diags, ptx)
    tuned = {name for name, first in applied.first.items() if first is None}
    done = [i for i in done if kernels[i].name not in tuned]     # carried by their kernel's
    result.kernels = [kernels[i].name for i in done]
    result.kernel_keys = [keys[i] for i in done] if cache else []
    return result, attach_tuned([artifacts[i] for i in done],
                                {a.name: a for a in artifacts if a is not None}, dispatch)


def _key(kernel: Kernel, ptx: bool) -> str:
    return kernel_key(kernel.document.data, kernel.target.name, ptx, _variant(kernel))


def _variant(kernel: Kernel) -> dict | None:
    """What a kernel's cache key needs beyond its document: its tunable parameters' values and
    its name (a tuned variant's is not the spec's)."""
    return {"name": kernel.name, "choice": kernel.choice} if kernel.choice else None


def attach_tuned(artifacts: list[KernelArtifact], compiled: dict[str, KernelArtifact],
                 dispatch: dict) -> list[KernelArtifact]:
    """Each kernel's artifact with the tuned variants its wrapper chooses among (the manifest's
    `tuned`: the dims that make a size class, the variant of each class)."""
    from dataclasses import replace

    out = []
    for art in artifacts:
        plan = dispatch.get(art.name)
        if plan is None:
            out.append(art)
            continue
        variants = tuple(compiled[n] for n in dict.fromkeys(plan.classes.values()))
        manifest = dict(art.manifest, tuned={"dims": plan.dims, "classes": plan.classes})
        out.append(replace(art, manifest=manifest, tuned=variants))
    return out


def _checked(sources: list[tuple[str, bytes | None]], diags: Diagnostics, arch: str | None,
             keep_going: bool) -> tuple[CompileResult, list[Kernel]]:
    """Validation and the checks of what this release compiles: the kernels to compile (those of
    the files without errors so far)."""
    from ..validate import ValidationResult, validate_sources
    from .support import check_supported

    validation = validate_sources(sources, ValidationResult(diags))
    result = CompileResult(diags, files=validation.files)
    if diags.has_errors and not keep_going:
        return result, []
    kernels = [k for k in validation.kernels if k.path not in _failed_files(diags)]
    for kernel in kernels:
        check_supported(kernel, diags)
        if arch is not None and kernel.target.name != arch:
            _refuse_other_target(kernel, arch, diags)
    return result, [k for k in kernels if k.path not in _failed_files(diags)]


def _compiled(kernels: list[Kernel], keys: list[str], raw: dict[str, bytes | None],
              diags: Diagnostics, cache: Cache | None, options: Options, workers: int | None,
              progress: bool, soft: set[int] = frozenset()) -> list:
    """Each kernel's artifact: from the cache (under its key, when there are keys) or compiled
    (and then put in the cache); None where it failed (its errors are in `diags`), or, for a
    kernel whose index is in `soft`, the list of its errors (not put in `diags`)."""
    from .parallel import compile_all

    artifacts: list[KernelArtifact | None] = [None] * len(kernels)
    for i, key in enumerate(keys):
        artifacts[i] = _safely(get_kernel, cache, key)
        if artifacts[i] is not None:
            add_notes(kernels[i], artifacts[i], diags)
    todo = [i for i, a in enumerate(artifacts) if a is None]
    outcomes = compile_all([(kernels[i], raw[kernels[i].path]) for i in todo], options,
                           workers=workers, progress=progress)
    for i, (artifact, found) in zip(todo, outcomes):
        if artifact is None and i in soft:
            artifacts[i] = [d for d in found if d.severity is Severity.ERROR]
            continue
        for diagnostic in found:
            diags.add(diagnostic)
        artifacts[i] = artifact
        if artifact is not None and cache is not None:
            _safely(put_kernel, cache, keys[i], artifact)
    for kernel, artifact in zip(kernels, artifacts):
        while isinstance(artifact, KernelArtifact):  # the kernel, then its aligned variant
            locate_sites(artifact.manifest, kernel)
            artifact = artifact.aligned
    return artifacts


def _failed_files(diags: Diagnostics) -> set[str]:
    return {d.location.path for d in diags.errors}


def _safely(operation, *args):
    """A cache operation; the cache is only a shortcut, so a failing disk does not fail a
    compile (OSError), nor does an entry in an older layout (ValueError, KeyError, TypeError)."""
    try:
        return operation(*args)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record_files(cache: Cache, sources: list[tuple[str, bytes | None]], failed: set[str],
                  kernels: list[Kernel], keys: list[str], diags: Diagnostics, ptx: bool) -> None:
    """Record each file that compiled whole: its kernels and its warnings."""
    for shown, raw in sources:
        if raw is None or shown in failed:
            continue
        records = [KernelRecord(k.name, key, k.target.name)
                   for k, key in zip(kernels, keys) if k.path == shown]
        _safely(put_file, cache, file_key(raw, ptx), records,
                [d for d in diags if d.location.path == shown])


def _from_cache(sources: list[tuple[str, bytes | None]], diags: Diagnostics, cache: Cache,
                arch: str | None, ptx: bool) -> tuple[CompileResult, list[KernelArtifact]] | None:
    """The result of a compile of files that are all unchanged since they last compiled, without
    validating them; None when any is not (or the cache lacks an entry)."""
    from ..tune.record import record_path

    found: list[KernelRecord] = []
    warnings = []
    for shown, raw in sources:
        if raw is None or record_path(shown).is_file():   # a tune record: compile_sources reads it
            return None
        record = _safely(get_file, cache, file_key(raw, ptx), shown)
        if record is None:
            return None
        found += record[0]
        warnings += record[1]
    names = [k.name for k in found]
    if len(set(names)) != len(names) or any(arch not in (None, k.target) for k in found):
        return None            # the validator's and the driver's errors say where and why
    artifacts = [_safely(get_kernel, cache, k.key) for k in found]
    if None in artifacts:
        return None
    for warning in warnings:
        diags.add(warning)
    return CompileResult(diags, names, [shown for shown, _ in sources],
                         kernel_keys=[k.key for k in found]), artifacts
