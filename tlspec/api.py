"""tlspec as a library: load, compile and validate from Python (docs/python.md).

The functions do what the commands do, through the same code (tlspec/compiler/driver.py,
tlspec/validate.py); problems come back as one SpecError holding every located diagnostic.
Nothing here is imported with `tlspec`, and a load answered from the cache never imports tvm.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Iterable, Union

from .diagnostics import Diagnostic, Diagnostics

PathOrText = Union[str, os.PathLike]
PACKAGE = "kernels"           # the package's folder name inside a cache entry


class SpecError(Exception):
    """Specs that cannot be compiled: every diagnostic (errors and warnings), located. str() is
    what `tlspec compile` prints for them."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: d.sort_key)
        super().__init__("\n".join(map(str, self.diagnostics)))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity.value == "error"]


class SpecWarning(UserWarning):
    """A warning about a spec that compiled (its text is the located diagnostic)."""


def _source(spec: PathOrText) -> tuple[str, bytes | None, Diagnostics]:
    """(path shown, bytes, diagnostics) of a spec given as a path or as YAML text: a str holding a
    line break is text."""
    from .discover import read_file

    diags = Diagnostics()
    if _is_text(spec):
        return "<string>", spec.encode("utf-8"), diags
    if not Path(spec).is_file():
        raise FileNotFoundError(f"no spec file {os.fspath(spec)!r} (spec text holds line breaks)")
    shown = os.fspath(spec)
    return shown, read_file(Path(spec), diags, shown), diags


def _is_text(spec: PathOrText) -> bool:
    return isinstance(spec, str) and "\n" in spec


def _paths(paths: PathOrText | Iterable[PathOrText]) -> list[str]:
    return [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else \
        [os.fspath(p) for p in paths]


def _warn(diags: Diagnostics) -> None:
    for warning in diags.warnings:
        warnings.warn(str(warning), SpecWarning, stacklevel=3)


def validate(*specs: PathOrText) -> list[Diagnostic]:
    """Check spec files, folders of them, or spec text: the warnings, when every spec is valid;
    raises SpecError with every diagnostic otherwise."""
    from .discover import discover, read_file
    from .validate import ValidationResult, validate_sources

    result = ValidationResult()
    sources = []
    for spec in specs:
        if _is_text(spec):
            sources.append(("<string>", spec.encode("utf-8")))
        else:
            sources += [(shown, read_file(path, result.diagnostics, shown)) for path, shown in
                        discover([os.fspath(spec)], result.diagnostics)]
    validate_sources(sources, result)
    if result.diagnostics.has_errors:
        raise SpecError(result.diagnostics)
    return result.diagnostics.warnings


def compile(paths: PathOrText | Iterable[PathOrText], out: PathOrText, *,  # noqa: A001
            arch: str | None = None, ptx: bool = False, cache: bool = True,
            keep_going: bool = False, jobs: int | None = None):
    """`tlspec compile PATHS -o OUT`: the result (its `kernels`, `out`, `diagnostics`); raises
    SpecError when a spec has errors (with keep_going, after writing the others' kernels), and
    ValueError for an unusable OUT."""
    from .cache import Cache
    from .compiler.driver import compile_paths

    result = compile_paths(_paths(paths), os.fspath(out), arch=arch, ptx=ptx,
                           cache=Cache() if cache else None, keep_going=keep_going,
                           workers=jobs)
    if not result.ok:
        raise SpecError(result.diagnostics)
    _warn(result.diagnostics)
    return result


def load(spec: PathOrText, *, arch: str = "sm_90a", cache: bool = True,
         ptx: bool = False) -> ModuleType:
    """The kernels of a spec file (or spec text) compiled for `arch`, as a module whose
    attributes are their launch wrappers: the package `tlspec compile` would write, imported
    from the cache. A spec whose target is not `arch` is an error, as with --arch."""
    from .cache import Cache
    from . import native_launch
    from .cache_key import package_key
    from .compiler.driver import compile_sources

    shown, raw, diags = _source(spec)
    store = Cache() if cache else None
    result, artifacts = compile_sources([(shown, raw)], diags, arch=arch, ptx=ptx, cache=store,
                                        workers=None)
    if not result.ok:
        raise SpecError(diags)
    _warn(diags)
    if store is not None:
        # the debug mode's errors name the spec as read now (its path and lines, which kernel
        # keys do not hold): a package of such kernels is cached per location too
        located = [site["where"] for a in artifacts
                   for site in a.manifest.get("out_of_range", {}).get("sites", [])]
        key = package_key(result.kernel_keys + located + [native_launch.tag()])
        name = f"tlspec_loaded_{key[:20]}"
        if name in sys.modules:
            return sys.modules[name]
        try:
            folder = store.get("packages", key) or store.put("packages", key, _write(artifacts, True))
            return _import(name, folder / PACKAGE)
        except OSError:
            pass           # a cache folder that cannot be written: load as without a cache
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="tlspec-load-"))
    atexit.register(shutil.rmtree, folder, True)
    _write(artifacts, store is not None)(folder)
    return _import(f"tlspec_loaded_{folder.name.replace('-', '_')}", folder / PACKAGE)


def _write(artifacts, cached: bool):
    """What writes the package into a folder, byte code included: a load then compiles no Python
    (not even where byte code is not written, PYTHONDONTWRITEBYTECODE); the entry's checksums
    cover the byte code too, so that it is trusted unchecked."""
    import compileall
    import py_compile

    from .package import write_package

    def fill(folder: Path) -> None:
        write_package(folder / PACKAGE, artifacts, cached=cached)
        compileall.compile_dir(folder / PACKAGE, quiet=2,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return fill


def _import(name: str, package: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    for part in [m for n, m in sys.modules.items() if n.startswith(name + ".")]:
        for kernel in (getattr(part, "_KERNEL", None), getattr(part, "_ALIGNED", None)):
            if kernel is not None:
                kernel.read_images()      # the cache may evict the folder while we run
    return module
