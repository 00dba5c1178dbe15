"""The keys of the compile cache (tlspec/cache.py): what a cached artifact depends on, hashed.

A key covers the tlspec that compiles (its version and the text of its code, templates and
schema, so that a changed compiler never reuses what an older one made), the versions of tvm and
NVRTC, the compile options and the input: the validated kernel for a kernel entry, the file's
bytes for a file record (which lets an unchanged file skip validation). Nothing process-local
(an id, a path, a time) enters a key. Nothing here imports tvm or the validator: a cache hit
stays cheap.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from functools import lru_cache
from pathlib import Path

from . import __version__

KEY_FORMAT = 2        # bump when what goes into a key, or an entry's layout, changes

_HERE = Path(__file__).resolve().parent


def digest(*parts: object) -> str:
    """The SHA-256 (hex) of `parts`, each written as compact JSON (bytes as themselves). Mappings
    keep their order: the order of a spec's buffers is its wrappers' argument order, so a
    reordered mapping is another kernel (sorted keys once served a kernel with its arguments
    swapped)."""
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(
            part, separators=(",", ":"), allow_nan=True).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _code_files() -> list[Path]:
    """tlspec's code and templates, and its schema (a file that once validated may not now): in
    the package (a wheel ships the schema and templates there) and beside it (a checkout)."""
    from .package import codegen_dir

    files = _files_under(_HERE, (".py", ".json")) + _files_under(_HERE.parent / "schemas", (".json",))
    return sorted(set(files + _files_under(codegen_dir(), ("",))))


def _files_under(top: Path, suffixes: tuple[str, ...]) -> list[Path]:
    found = []
    for folder, subfolders, names in os.walk(top):
        subfolders[:] = [d for d in subfolders if d != "__pycache__"]
        found += [Path(folder, n) for n in names if n.endswith(suffixes)]
    return found


def distribution_version(project: str) -> str | None:
    """The version of an installed distribution, read from its .dist-info folder's name on
    sys.path (importlib.metadata costs tens of milliseconds to import); None when absent."""
    wanted = _normalized(project)
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                dist, _, version = name[:-len(".dist-info")].partition("-")
                if _normalized(dist) == wanted:
                    return version
    return None


def _normalized(project: str) -> str:
    """A distribution's name as its folder may spell it (PEP 503 less runs of separators)."""
    return project.lower().replace("-", "_").replace(".", "_")


def _nvrtc_version() -> str:
    """The NVRTC wheel's version; where NVRTC comes from elsewhere (a CUDA toolkit), the version
    the library reports (loading it, which only a cache without the wheel pays for)."""
    wheel = distribution_version("nvidia-cuda-nvrtc")
    if wheel is not None:
        return wheel
    try:
        from cuda.bindings import nvrtc

        _, major, minor = nvrtc.nvrtcVersion()
        return f"library {major}.{minor}"
    except Exception as err:  # noqa: BLE001  (no NVRTC: compiling will say so, located)
        return f"unavailable ({type(err).__name__})"


@lru_cache(maxsize=1)
def environment() -> str:
    """The digest of everything a compile depends on besides its input and options: tlspec's
    version and code, tvm's and NVRTC's versions (computed once per process, as it cannot change
    while tlspec runs)."""
    code = hashlib.sha256()
    for path in _code_files():
        code.update(path.relative_to(path.parent.parent).as_posix().encode() + b"\0")
        code.update(path.read_bytes())
    return digest(KEY_FORMAT, __version__, code.hexdigest(),
                  distribution_version("apache-tvm") or "no tvm", _nvrtc_version())


def kernel_key(data: object, target: str, ptx: bool) -> str:
    """The key of one validated kernel: its document's data as the validator read it (so
    comments, layout, quoting and the file's name do not count; the order of entries does, as it
    orders arguments), its target and the options."""
    return digest("kernel", environment(), data, target, bool(ptx))


def file_key(text: bytes, ptx: bool) -> str:
    """The key of a spec file's bytes: what validation and compilation made of it last time."""
    return digest("file", environment(), text, bool(ptx))


def package_key(kernel_keys: list[str]) -> str:
    """The key of a package holding these kernels, in this order."""
    return digest("package", environment(), kernel_keys)
