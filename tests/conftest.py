import importlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# `tlspec compile` and tlspec.load write the compile cache: the suite's own (this process's and
# the commands it starts), never the user's.
os.environ["TLSPEC_CACHE_DIR"] = tempfile.mkdtemp(prefix="tlspec-test-cache-")

# The example kernels, every one of which this release compiles (`tlspec compile specs/`).
SPECS = ROOT / "specs"
EXAMPLE_DIRS = [SPECS]


def example_specs() -> list[Path]:
    """Every *.tlspec.yaml file of specs/."""
    return [p for folder in EXAMPLE_DIRS for p in sorted(folder.glob("*.tlspec.yaml"))]


def modeline_for(path: Path) -> str:
    """The yaml-language-server modeline an example file starts with: the schema, relative."""
    depth = len(path.parent.relative_to(ROOT).parts)
    return f"# yaml-language-server: $schema={'../' * depth}schemas/tlspec.schema.json"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: a worker per core, at most 8 (each imports tvm, and a folder compile in a
    worker starts compile workers of its own)."""
    return min(os.cpu_count() or 1, 8)


@pytest.fixture
def root() -> Path:
    return ROOT


def tlspec(*args, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the `tlspec` command line (this Python's), output captured as text; `env` replaces
    the environment when given."""
    return subprocess.run([sys.executable, "-m", "tlspec", *args], capture_output=True,
                          text=True, cwd=cwd, check=False, env=env)


def tlspec_here(*args) -> subprocess.CompletedProcess:
    """`tlspec(*args)` run by typer's test runner in this process: the command's own code,
    without the second or so that starting a process and importing tlspec take (for tests that
    run it many times; the real process is tested by test_cli.py and the docs). An exception
    escaping the command fails the test with its traceback."""
    from typer.testing import CliRunner

    from tlspec.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def forget(package_name: str) -> None:
    """Drop an imported package and its modules, so that the next import reads them anew."""
    for name in [m for m in sys.modules if m == package_name or m.startswith(package_name + ".")]:
        del sys.modules[name]


def compile_here(out: Path, *sources: Path, dump_ir: Path | None = None) -> None:
    """`tlspec compile SOURCES -o out [--dump-ir dump_ir]`, which must succeed, from this process
    (the command line's own behaviour is tested by test_cli.py and the docs), its kernels
    compiled by a worker per core as the command does, through the suite's compile cache as
    the command does (a folder that several modules compile is compiled once)."""
    from tlspec.cache import Cache
    from tlspec.compiler.driver import compile_paths

    result = compile_paths([str(s) for s in sources], str(out),
                           dump_ir=None if dump_ir is None else str(dump_ir),
                           workers=os.cpu_count() or 1,      # one tvm import per worker
                           cache=Cache())
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)


def compile_and_import(out: Path, source: Path):
    """compile_here(out, source), then the package imported (never a stale one)."""
    compile_here(out, source)
    forget(out.name)
    sys.path.insert(0, str(out.parent))
    try:
        return importlib.import_module(out.name)
    finally:
        sys.path.remove(str(out.parent))


def compiled_once(tmp_path_factory, source: Path, name: str):
    """The body of a module-scoped fixture: yields (package, its folder) of `tlspec compile
    source -o <tmp>/name`, and forgets the package afterwards."""
    out = tmp_path_factory.mktemp(name) / name
    package = compile_and_import(out, source)
    yield package, out
    forget(out.name)


def kernel_manifest(out: Path, name: str) -> dict:
    """The launch manifest of kernel `name` of the compiled package at `out`."""
    return json.loads((out / f"{name}.json").read_text())


def kernel_source(out: Path, name: str) -> str:
    """The CUDA source of kernel `name` of the compiled package at `out`, from its entry on."""
    source = (out / f"{name}.cu").read_text()
    return source[source.index(kernel_manifest(out, name)["entry"] + "("):]


def assert_every_kernel_compiled(package, out: Path, source: Path) -> None:
    """The package holds every kernel of the specs at `source`, each with its cubin."""
    from tlspec.validate import validate_paths
    names = sorted(k.name for k in validate_paths([str(source)]).kernels)
    assert sorted(package.__all__) == names
    assert all((out / f"{name}.cubin").read_bytes()[:4] == b"\x7fELF" for name in names)


def cubin_sm(cubin: bytes) -> int:
    """The SM version a cubin's machine code is for (90 for sm_90a), from its ELF header's
    e_flags (bits 8 to 15)."""
    assert cubin[:4] == b"\x7fELF"
    return struct.unpack_from("<I", cubin, 0x30)[0] >> 8 & 0xFF


def cuobjdump() -> str | None:
    """$CUOBJDUMP, cuobjdump on PATH or beside nvcc, or the one of the nvidia-cuda-cuobjdump
    wheel."""
    candidates = [os.environ.get("CUOBJDUMP"), shutil.which("cuobjdump")]
    if shutil.which("nvcc"):
        candidates.append(str(Path(shutil.which("nvcc")).resolve().parent / "cuobjdump"))
    candidates += map(str, Path(sys.prefix).glob("lib/python3*/site-packages/nvidia/*/bin/"
                                                  "cuobjdump"))
    return next((c for c in candidates if c and Path(c).is_file()), None)


def assert_cubin(out: Path, name: str) -> None:
    """OUT/<name>.cubin is an ELF holding the entry point its manifest names, for the target
    its manifest names, one this release compiles."""
    cubin = (out / f"{name}.cubin").read_bytes()
    assert cubin[:4] == b"\x7fELF"
    manifest = kernel_manifest(out, name)
    assert manifest["entry"].encode() in cubin
    assert manifest["arch"] in ("sm_90a", "sm_80", "sm_100a")
    assert cubin_sm(cubin) == int(manifest["arch"][3:].rstrip("a"))


def dim_samples(dims: dict) -> list[dict]:
    """A few values of a manifest's symbolic dims that their constraints allow: the smallest, and
    larger ones that are odd multiples of `multiple_of` (sizes the tiles do not divide)."""
    def values(c):
        step = c.get("multiple_of") or 1
        low = -(-(c.get("min") or 1) // step) * step
        high = c.get("max") or 2**20
        return [v for v in (low, low + step, low + 37 * step, low + 1001 * step) if v <= high]

    samples = [{}]
    for name, constraints in dims.items():
        samples = [dict(s, **{name: v}) for s in samples for v in values(constraints)]
    return samples


def assert_tensormaps_keep_the_rules(out: Path, name: str) -> None:
    """Every tensor map of OUT/<name>.json, at sample sizes of its dims, keeps the driver's rules
    (tlspec.tensormap_rules): what cuTensorMapEncodeTiled checks when the kernel is called."""
    from tlspec.package import _runtime
    from tlspec.tensormap_rules import TensorMap, violations
    manifest = kernel_manifest(out, name)
    itemsize = {a["name"]: _runtime().ITEMSIZE[a["dtype"]] for a in manifest["arguments"]}
    for env in dim_samples(manifest["dims"]):
        for t in manifest["tensormaps"]:
            values = {key: [_runtime().evaluate(e, env) for e in t[key]]
                      for key in ("dims", "strides", "box", "element_strides")}
            problems = violations(TensorMap(
                itemsize[t["argument"]], values["dims"], values["strides"], values["box"],
                values["element_strides"], t["interleave"], t["swizzle"], t["l2_promotion"],
                t["oob_fill"]))
            assert not problems, f"{name}: the tensor map of {t['argument']} at {env}: {problems}"
