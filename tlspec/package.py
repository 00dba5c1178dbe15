"""Write the importable Python package that `tlspec compile` produces.

Layout of OUT/ (see docs/artifacts.md):
    __init__.py, __init__.pyi   imports every kernel (no CUDA at import), and its stub
    _runtime.py                 codegen/runtime.py, verbatim
    _exprs.py, _arrays.py, ...  codegen/_*.py, verbatim: the run time's other modules
    _tensormap_rules.py         tlspec/tensormap_rules.py, verbatim (the run time checks the
                                tensor maps of a call with it)
    _kernel_images.py           tlspec/kernel_images.py, verbatim (which of a kernel's cubin
                                and PTX the run time loads on the GPU it finds)
    _tlspec_package.json        marker: tlspec version, format, kernels
    py.typed
    <kernel>.py / .pyi          wrapper and stub
    <kernel>.json / .cubin / .cu   manifest, binary, CUDA source
    <kernel>.ptx                its PTX, when the package carries it (sm_80, or --ptx)
    _native_launch.abi3.so      the compiled launcher, when a C compiler was there
                                (tlspec/native_launch.py)

The package is written to a temporary sibling directory and swapped in, so a failure leaves OUT
as it was; an existing non-empty OUT without the marker is never replaced.
"""
from __future__ import annotations

import errno
import importlib.util
import json
import os
import secrets
import shutil
import string
import sys
import types
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import __version__, native_launch
from .names import PYTHON_NAME, python_name_problem

MARKER = "_tlspec_package.json"
FORMAT = 1
IO_KINDS = ("in", "out", "inout")


@dataclass
class KernelArtifact:
    """One compiled kernel: its manifest (see docs/artifacts.md), CUDA source, cubin and PTX
    (None when the package carries none; then the manifest's ptx_arch is None too)."""
    name: str
    manifest: dict
    source: str
    cubin: bytes
    ptx: str | None = None
    notes: tuple[tuple[str, str, str], ...] = ()    # (pointer, warning, hint): tlspec compile
    # the aligned variant its wrapper launches for aligned sizes (the manifest's `aligned`)
    aligned: KernelArtifact | None = None
    # the tuned variants its wrapper launches for some size classes (the manifest's `tuned`)
    tuned: tuple[KernelArtifact, ...] = ()

    def variants(self) -> list[KernelArtifact]:
        """The artifacts whose images the package carries beside this kernel's, for its wrapper."""
        tuned = [v for t in self.tuned for v in (t, t.aligned) if v is not None]
        return ([self.aligned] if self.aligned is not None else []) + tuned


def codegen_dir() -> Path:
    """The wheel ships the templates as tlspec/_codegen/; a source checkout has them in codegen/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_codegen", here.parent / "codegen"):
        if (candidate / "runtime.py").is_file():
            return candidate
    raise FileNotFoundError("the codegen templates are missing from the tlspec installation")


def _template(name: str) -> string.Template:
    return string.Template((codegen_dir() / name).read_text(encoding="utf-8"))


def _check_name(what: str, name: object) -> None:
    problem = python_name_problem(name)
    if problem is not None:
        raise ValueError(f"{what} {name!r} is not usable as a Python name ({PYTHON_NAME}): "
                         f"{problem}")


def _validate(artifact: KernelArtifact) -> None:
    m = artifact.manifest
    _check_name("kernel name", artifact.name)
    if m.get("name") != artifact.name:
        raise ValueError(f"kernel {artifact.name!r}: the manifest is named {m.get('name')!r}")
    if m.get("format") != FORMAT:
        raise ValueError(f"kernel {artifact.name!r}: manifest format {m.get('format')!r} is not "
                         f"{FORMAT}")
    for key in ("entry", "arguments", "params", "grid", "block"):
        if key not in m:
            raise ValueError(f"kernel {artifact.name!r}: the manifest has no {key!r}")
    if (artifact.ptx is None) != (m.get("ptx_arch") is None):
        raise ValueError(f"kernel {artifact.name!r}: the manifest's ptx_arch is "
                         f"{m.get('ptx_arch')!r} but the artifact has "
                         f"{'no' if artifact.ptx is None else 'a'} PTX")
    seen = set()
    for a in m["arguments"]:
        _check_name(f"kernel {artifact.name!r}: argument", a.get("name"))
        if a["name"] == "stream" or a["name"] in seen:
            raise ValueError(f"kernel {artifact.name!r}: argument name {a['name']!r} is "
                             f"{'reserved' if a['name'] == 'stream' else 'repeated'}")
        seen.add(a["name"])
        if a.get("io", "in") not in IO_KINDS:
            raise ValueError(f"kernel {artifact.name!r}: argument {a['name']!r} has io "
                             f"{a.get('io')!r}; expected one of {IO_KINDS}")


def _runtime_modules() -> list[Path]:
    """The run time's modules besides runtime.py: codegen/_*.py."""
    return sorted(codegen_dir().glob("_*.py"))


@lru_cache(maxsize=1)
def _runtime():
    """codegen/runtime.py as a module (tests read its tables)."""
    return load_runtime("tlspec._package_runtime")


@lru_cache(maxsize=1)
def _phrasing():
    """codegen/_checks.py as a module: the run time's own expression printer and dim phrasing
    also write the docstrings, so that both say the same thing. Only this part of the run time
    is imported (writing a package from the cache needs no more)."""
    _runtime_package("tlspec._package_runtime")
    return importlib.import_module("tlspec._package_runtime._checks")


def _runtime_package(name: str) -> None:
    """Make `name` the package of codegen/'s modules."""
    package = types.ModuleType(name)
    package.__path__ = [str(codegen_dir())]
    sys.modules[name] = package


def load_runtime(name: str) -> types.ModuleType:
    """codegen/runtime.py imported as the `_runtime` module of a package `name` made of
    codegen/ (whose _*.py modules it imports) and of tlspec's modules that a compiled package
    carries (_tensormap_rules, _kernel_images), as in a written package."""
    from . import kernel_images, tensormap_rules
    _runtime_package(name)
    sys.modules[f"{name}._kernel_images"] = kernel_images
    sys.modules[f"{name}._tensormap_rules"] = tensormap_rules
    spec = importlib.util.spec_from_file_location(f"{name}._runtime", codegen_dir() / "runtime.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _shape_text(shape: list) -> str:
    parts = [_phrasing().render(e) for e in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _dim_notes(m: dict) -> list[str]:
    return [f"{d}: " + (f"{c['derived']['expr']} (derived)" if "derived" in c else
                        ", ".join(_phrasing().dim_rules(c)) or "any size")
            for d, c in m.get("dims", {}).items()]


def _layout(m: dict) -> tuple[list[str], list[str], list[str]]:
    """(signature parts, stub signature parts, outputs) in argument order. Outputs default to None
    (allocated when omitted); an input after an output also defaults to None in the signature,
    as Python requires, and is reported missing at call time."""
    sig, stub, outputs, defaulted = [], [], [], False
    for a in m["arguments"]:
        io = a.get("io", "in")
        if io == "out" or defaulted:
            defaulted = True
            sig.append(f"{a['name']}=None")
            stub.append(f"{a['name']}: Optional[Any] = ...")
        else:
            sig.append(a["name"])
            stub.append(f"{a['name']}: Any")
        if io in ("out", "inout"):
            outputs.append(a["name"])
    sig += ["*", "stream=None"]
    stub += ["*", "stream: Any = ..."]
    return sig, stub, outputs


def _docstring(m: dict, outputs: list[str]) -> str:
    lines = [(m.get("doc") or "").strip() or f"Launch the {m['name']} kernel.", "", "Args:"]
    for a in m["arguments"]:
        io = a.get("io", "in")
        extra = " (allocated when omitted)" if io == "out" else ""
        lines.append(f"    {a['name']}: {a['dtype']} {_shape_text(a['shape'])}, {io}{extra}."
                     + (f" {a['doc'].strip()}" if a.get("doc") else ""))
    lines.append("    stream: CUDA stream to launch on (int handle, torch.cuda.Stream, or an "
                 "object with .ptr or .cuda_stream); default: torch's current stream when torch "
                 "is imported, else the default stream 0.")
    notes = _dim_notes(m)
    if notes:
        lines += ["", "Dimensions:"] + [f"    {n}" for n in notes]
    lines += ["", "Returns:"]
    if not outputs:
        lines.append("    None.")
    elif len(outputs) == 1:
        lines.append(f"    {outputs[0]}.")
    else:
        lines.append(f"    ({', '.join(outputs)}), in argument order.")
    lines += ["", "Raises:",
              "    TypeError: an argument is not a GPU array, has the wrong dtype, or is missing.",
              "    ValueError: wrong device, shape, dimension constraint, layout (C-contiguous "
              "required) or pointer alignment (16 bytes).",
              "    RuntimeError: a CUDA driver call failed (the message names it)."]
    return "\n".join(lines)


def _source_char(char: str) -> str:
    """`char` as it stands inside a (non-raw) string literal of generated source: a backslash
    doubled, anything not printable (NUL, CR, other controls, lone surrogates, line separators)
    as its escape, so that any text the spec holds survives into __doc__ unchanged."""
    if char == "\\":
        return "\\\\"
    return char if char == "\n" or char.isprintable() else repr(char)[1:-1]


def _quote(text: str, indent: str) -> str:
    body = "".join(map(_source_char, text)).replace('"""', '\\"\\"\\"')
    first, *rest = body.split("\n")
    lines = [first] + [(indent + line) if line else "" for line in rest]
    return f'{indent}"""' + "\n".join(lines) + f'\n{indent}"""'


def render_kernel(m: dict, variants: list[dict] = ()) -> tuple[str, str]:
    """(wrapper module, stub) text for one manifest (and those of its tuned variants)."""
    sig, stub, outputs = _layout(m)
    returns = ("None" if not outputs else "Any" if len(outputs) == 1
               else "Tuple[" + ", ".join("Any" for _ in outputs) + "]")
    args = [a["name"] for a in m["arguments"]]
    subst = {"version": __version__, "name": m["name"],
             "module_doc": f'"""The {m["name"]} kernel: a launch wrapper generated by tlspec."""',
             "signature": ", ".join(sig), "docstring": _quote(_docstring(m, outputs), "    "),
             "call_args": ", ".join(args) + ("," if len(args) == 1 else ""),
             "call": _call(m, list(variants)),
             "stub_signature": ", ".join(stub), "stub_returns": returns}
    return (_template("wrapper.py.tmpl").substitute(subst),
            _template("stub.pyi.tmpl").substitute(subst))


def _call(m: dict, variants: list[dict]) -> str:
    """The wrapper's `_CALL`: the kernel's, or the choice among it, its aligned variant and its
    tuned variants (their manifests: `variants`), made once per array signature."""
    if "tuned" in m:
        aligned = {v["name"]: (v["aligned"]["kernel"], dict(v["aligned"]["multiple_of"]))
                   for v in [m] + variants if "aligned" in v}
        choose = _template("tuned_choose.py.tmpl").substitute(
            dims=repr(m["tuned"]["dims"]), classes=repr(dict(m["tuned"]["classes"])),
            aligned=repr(aligned))
    elif "aligned" in m:
        choose = _template("aligned_choose.py.tmpl").substitute(
            name=m["name"], multiples=repr(dict(m["aligned"]["multiple_of"])))
    else:
        return "_CALL = _KERNEL.call     # the compiled launcher's call, else Kernel.__call__"
    return (choose + "\n\n" + _template("choice_call.py.tmpl").template).rstrip("\n")


def _write_file(path: Path, data: str | bytes) -> None:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)


def _write_init(directory: Path, names: list[str]) -> None:
    """__init__.py imports every kernel; __init__.pyi re-exports their stubs (`import x as x`
    is how a stub marks a re-export)."""
    subst = {"version": __version__, "kernel_list": ", ".join(names) or "none",
             "all_names": ", ".join(repr(n) for n in names)}
    _write_file(directory / "__init__.py", _template("init.py.tmpl").substitute(
        subst, imports="\n".join(f"from .{n} import {n}" for n in names)))
    _write_file(directory / "__init__.pyi", _template("init.pyi.tmpl").substitute(
        subst, imports="\n".join(f"from .{n} import {n} as {n}" for n in names)))


def _write_images(directory: Path, art: KernelArtifact) -> dict:
    """The kernel's manifest, cubin, PTX and source; returns the manifest written."""
    manifest = dict(art.manifest, cubin=f"{art.name}.cubin", source=f"{art.name}.cu",
                    ptx=None if art.ptx is None else f"{art.name}.ptx")
    _write_file(directory / f"{art.name}.json", json.dumps(manifest, indent=1) + "\n")
    _write_file(directory / f"{art.name}.cubin", bytes(art.cubin))
    if art.ptx is not None:
        _write_file(directory / f"{art.name}.ptx", art.ptx)
    _write_file(directory / f"{art.name}.cu", art.source)
    return manifest


def _fill(directory: Path, artifacts: list[KernelArtifact], cached: bool) -> None:
    names = [a.name for a in artifacts]
    _write_file(directory / "_runtime.py", (codegen_dir() / "runtime.py").read_text("utf-8"))
    for path in _runtime_modules():
        _write_file(directory / path.name, path.read_text("utf-8"))
    for module in ("tensormap_rules", "kernel_images"):
        _write_file(directory / f"_{module}.py",
                    (Path(__file__).parent / f"{module}.py").read_text("utf-8"))
    for art in artifacts:
        manifest = _write_images(directory, art)
        variants = [_write_images(directory, v) for v in art.variants()]
        wrapper, stub = render_kernel(manifest, variants)
        _write_file(directory / f"{art.name}.py", wrapper)
        _write_file(directory / f"{art.name}.pyi", stub)
    _write_init(directory, names)
    launcher = native_launch.library(cached)[0]
    if launcher is not None:
        _write_file(directory / native_launch.LIBRARY, launcher)
    _write_file(directory / "py.typed", "")
    _write_file(directory / MARKER, json.dumps(
        {"tlspec": __version__, "format": FORMAT, "kernels": names}, indent=1) + "\n")


def is_tlspec_package(path: Path) -> bool:
    return (Path(path) / MARKER).is_file()


def check_package_dir(out_dir: str | os.PathLike) -> Path:
    """The absolute package directory, once it is known that a package may be written there: its
    name is a Python name (an identifier, not a keyword, not starting with '_'), it is absent,
    an empty directory or a package tlspec wrote, and its folder lets a directory be made.
    Raises ValueError otherwise. Writes nothing (one empty probe folder is made and removed), so
    that `tlspec compile` checks OUT before any compile work (and write_package again)."""
    try:
        out = Path(out_dir).resolve()
    except RuntimeError:            # a symbolic link loop (Python < 3.13)
        raise ValueError(f"{out_dir} cannot be used: it is, or is under, a symbolic link loop") \
            from None
    try:
        if _broken_link(out):
            raise ValueError(f"{out} is a symbolic link to nothing (or a loop); refusing to "
                             "replace it")
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out} exists and is not a directory; refusing to replace it")
        if out.is_dir() and any(out.iterdir()) and not is_tlspec_package(out):
            raise ValueError(f"{out} is a non-empty directory that tlspec did not write (no "
                             f"{MARKER}); refusing to replace it. Choose another output "
                             "directory or empty it.")
        _check_name("package directory name", out.name)
        check_creatable(out, out.parent)    # the package is built beside OUT and swapped in
    except OSError as err:
        raise ValueError(f"{out} cannot be used: {err.strerror or err}") from None
    return out


def check_creatable(target: Path, folder: Path) -> None:
    """That directories can be made in `folder` (for `target`): the nearest of it and its
    ancestors that exists is a directory in which one can be made, as a probe shows (a
    permission bit does not tell: root ignores it; /proc refuses anyway). Raises ValueError."""
    while not folder.exists():
        if _broken_link(folder):
            raise ValueError(f"{target} cannot be created: {folder} is a symbolic link to "
                             "nothing (or a loop)")
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{target} cannot be created: {folder} is not a directory")
    try:
        _fresh_dir(folder, ".tlspec-probe-").rmdir()
    except OSError as err:
        # mkdir in /proc says 'No such file or directory' of a folder that exists: a virtual
        # file system that holds no folders of one's own.
        why = (f"{folder} is on a virtual file system that takes no new folders (mkdir: "
               f"{err.strerror})" if err.errno == errno.ENOENT else
               f"{folder}: {err.strerror or err}")
        raise ValueError(f"{target} cannot be written: {why}; choose a folder you can write "
                         "to") from None


def _broken_link(path: Path) -> bool:
    return os.path.lexists(path) and not os.path.exists(path)


def _fresh_dir(parent: Path, prefix: str) -> Path:
    """A new, empty directory `parent/prefix<random>`, made as `mkdir` makes one (mode 0o777 less
    the umask): tempfile.mkdtemp makes it 0o700, and the package renamed from it could not be
    imported by another user or container."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def write_package(out_dir: str | os.PathLike, artifacts: list[KernelArtifact], *,
                  cached: bool = True) -> Path:
    """Write the package for `artifacts` to out_dir, replacing a package written there before.
    Its compiled launcher comes from the cache (cached=False: built anew, the cache untouched).

    Raises ValueError when out_dir is a file or a non-empty directory that tlspec did not write,
    or when an artifact cannot become a Python name. A failure leaves out_dir as it was."""
    out = check_package_dir(out_dir)
    artifacts = list(artifacts)
    seen = set()
    for art in artifacts + [v for a in artifacts for v in a.variants()]:
        _validate(art)
        if art.name in seen:
            raise ValueError(f"two kernels are named {art.name!r}")
        seen.add(art.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_dir(out.parent, f".{out.name}.new-")
    try:
        _fill(tmp, artifacts, cached)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    try:
        if out.exists():
            old = _fresh_dir(out.parent, f".{out.name}.old-")
            os.rmdir(old)
            os.rename(out, old)
        os.rename(tmp, out)
    except BaseException:
        if old is not None and old.exists() and not out.exists():
            os.rename(old, out)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out
