"""`tlspec tune SPEC -o BUNDLE`: every variant of the spec's tuned kernels compiled (here, with
tvm) into one package, and bundle.json: the variants (or why each invalid one is skipped), the
size classes to time them at, and each argument's shape, dtype and role, so that the GPU machine
(tlspec.tune.measure: no tvm there) can make the inputs and time the calls.

BUNDLE/
    bundle.json                 the manifest below
    tlspec_tune_variants/       the compiled package: <kernel>__v<number> per valid variant
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import __version__
from ..diagnostics import Diagnostics
from ..discover import UsageError
from ..dtypes import DTYPE_BYTES
from ..expr import evaluate
from ..model import Kernel
from .classes import size_class
from .record import record_path, spec_hash
from .variants import Variant, reason, variants

FORMAT = 1
MANIFEST = "bundle.json"
PACKAGE = "tlspec_tune_variants"


def parse_sizes(kernel: Kernel, sizes: list[str]) -> list[dict[str, int]]:
    """The symbolic dims' values of each `--sizes M=1024,N=512` (every symbolic dim given); one
    empty size for a kernel without symbolic dims."""
    from ..interpret.command import RunUsageError, parse_dims

    symbolic = [name for name, dim in kernel.dims.items() if dim.symbolic]
    if not symbolic:
        return [{}]
    if not sizes:
        raise UsageError(f"kernel {kernel.name} has symbolic dims ({', '.join(symbolic)}): give "
                         f"the sizes to tune at, e.g. --sizes "
                         + ",".join(f"{n}=1024" for n in symbolic))
    found, classes = [], {}
    for text in sizes:
        try:
            dims = parse_dims(kernel, text.split(","))
        except RunUsageError as err:
            raise UsageError(f"--sizes {text}: {str(err).split(': ', 1)[-1]}") from None
        missing = [n for n in symbolic if n not in dims]
        if missing:
            raise UsageError(f"--sizes {text}: give {', '.join(missing)} too")
        dims = {n: dims[n] for n in symbolic}
        other = classes.setdefault(size_class(dims), text)
        if other != text:
            raise UsageError(f"--sizes {text} and --sizes {other} fall in one size class "
                             f"({size_class(dims)}): give one size per class")
        found.append(dims)
    return found


def arguments(kernel: Kernel, dims: dict[str, int]) -> list[dict]:
    """Each global buffer (the wrapper's arguments, in order) at these sizes: its name, shape,
    dtype, io and, for an index buffer, the rows its values must stay below."""
    from ..interpret.command import index_rows

    constants = {n: d.value for n, d in kernel.dims.items() if not d.symbolic} | dims
    rows = index_rows(kernel, constants)
    found = []
    for buffer in kernel.buffers.values():
        if not buffer.is_global:
            continue
        if buffer.strides is not None:
            raise UsageError(f"kernel {kernel.name}: buffer {buffer.name} declares strides; "
                             "tlspec tune times C-contiguous arguments only")
        argument = {"name": buffer.name, "io": buffer.io, "dtype": buffer.dtype,
                    "shape": [evaluate(e, constants) for e in buffer.shape]}
        if buffer.name in rows:
            argument["rows"], argument["distinct"] = rows[buffer.name]
        found.append(argument)
    return found


def moved_bytes(args: list[dict]) -> int:
    """Bytes of every argument, once: a figure to compare variants by, not a roofline."""
    total = 0
    for argument in args:
        count = 1
        for extent in argument["shape"]:
            count *= extent
        total += count * DTYPE_BYTES[argument["dtype"]]
    return total


def describe(kernel: Kernel, found: list[Variant], sizes: list[dict[str, int]]) -> dict:
    return {
        "spec_hash": spec_hash(kernel),
        "parameters": {n: t.candidates for n, t in kernel.tunables.items()},
        "variants": [{"name": v.kernel.name, "choice": v.choice} if v.kernel is not None
                     else {"choice": v.choice, "skipped": v.skipped} for v in found],
        "sizes": [{"class": size_class(dims), "dims": dims,
                   "arguments": arguments(kernel, dims)} for dims in sizes],
    }


def make_bundle(spec: str, out: str, sizes: list[str], names: list[str], diags: Diagnostics, *,
                workers: int | None = None, progress: bool = False) -> dict | None:
    """Compile every variant of the tuned kernels of `spec` (those named by `names`, or all)
    into the bundle OUT; its manifest, or None when the spec has errors (in `diags`). Raises
    UsageError for what the command line got wrong."""
    from ..compiler.parallel import Options, compile_all
    from ..package import write_package
    from ..validate import validate_paths

    result = validate_paths([spec])
    for diagnostic in result.diagnostics:
        diags.add(diagnostic)
    if diags.has_errors:
        return None
    tuned = [k for k in result.kernels if k.tunables and (not names or k.name in names)]
    unknown = [n for n in names if n not in {k.name for k in result.kernels}]
    if unknown or not tuned:
        raise UsageError(f"{spec}: no kernel named {', '.join(unknown)}" if unknown else
                         f"{spec}: no kernel declares tunable parameters (`tune:`)")
    raw = Path(spec).read_bytes()
    manifest = {"format": FORMAT, "tlspec": __version__, "spec": spec,
                "record": str(record_path(spec)), "kernels": {}}
    todo: list[Kernel] = []
    for kernel in tuned:
        found = variants(kernel)
        if found[0].kernel is None:
            raise UsageError(f"kernel {kernel.name}: its first variant does not compile: "
                             f"{found[0].skipped}")
        manifest["kernels"][kernel.name] = describe(kernel, found, parse_sizes(kernel, sizes))
        todo += [v.kernel for v in found if v.kernel is not None]
    outcomes = compile_all([(k, raw) for k in todo], Options(), workers=workers,
                           progress=progress)
    artifacts = []
    for kernel, (artifact, problems) in zip(todo, outcomes):
        if artifact is None:           # skipped with the compiler's reason, like an invalid one
            _skip(manifest, kernel.name, reason(problems))
        else:
            artifacts.append(artifact)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    write_package(folder / PACKAGE, artifacts)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _skip(manifest: dict, name: str, reason: str) -> None:
    for kernel in manifest["kernels"].values():
        for variant in kernel["variants"]:
            if variant.get("name") == name:
                del variant["name"]
                variant["skipped"] = reason
