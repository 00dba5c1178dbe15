"""tlspec/api.py: tlspec.load, tlspec.compile and tlspec.validate, and the cache behind them:
a cache hit imports neither tvm nor the validator, damaged entries are rebuilt, and two
processes loading one spec at once are safe."""
import importlib
import json
import os
import subprocess
import sys
import textwrap

import pytest

import tlspec
from tlspec.cache import Cache

from conftest import ROOT, tlspec as run_tlspec

COPY_TILES = ROOT / "specs" / "copy_tiles.tlspec.yaml"
INVALID = COPY_TILES.read_text().replace("dtype: float16, io: in", "dtype: fp16, io: in").replace(
    "threads: 256", "threads: 2048")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSPEC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, check=False, env={**os.environ, **env})


def test_importing_tlspec_imports_neither_tvm_nor_the_validator():
    done = python("""
        import sys, tlspec
        tlspec.SpecError
        print(sorted(m for m in sys.modules if m.startswith(('tvm', 'tlspec.validate', 'yaml'))))
    """)
    assert done.stdout.strip() == "[]", done.stderr


def test_load_gives_the_compiled_packages_kernels(cache_dir, tmp_path):
    kernels = tlspec.load(COPY_TILES)
    tlspec.compile([COPY_TILES], out=tmp_path / "pkg")
    sys.path.insert(0, str(tmp_path))
    try:
        import pkg
        assert kernels.copy_tiles.__doc__ == pkg.copy_tiles.__doc__
        assert kernels.__all__ == pkg.__all__ == ["copy_tiles"]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("pkg", None)
    assert tlspec.load(COPY_TILES) is kernels          # the same package, imported once
    assert tlspec.load(COPY_TILES.read_text()) is kernels   # text: the same content, same entry


def test_a_cached_load_imports_neither_tvm_nor_the_validator(cache_dir):
    tlspec.load(COPY_TILES)
    done = python(f"""
        import sys, tlspec
        k = tlspec.load({str(COPY_TILES)!r})
        print(k.copy_tiles.__name__, sorted(m for m in sys.modules
                                            if m.startswith(('tvm', 'tlspec.validate'))))
    """)
    assert done.stdout.split() == ["copy_tiles", "[]"], done.stderr


def test_damaged_entries_are_rebuilt_never_loaded(cache_dir):
    python(f"import tlspec; tlspec.load({str(COPY_TILES)!r})")   # a fresh process: no module yet
    for kind in ("packages", "kernels"):
        (entry,) = (cache_dir / kind).iterdir()
        cubin = next(entry.rglob("*.cubin"))
        cubin.write_bytes(cubin.read_bytes()[:100])          # truncated
    done = python(f"""
        import tlspec
        print(len(tlspec.load({str(COPY_TILES)!r}).copy_tiles.__doc__) > 0)
    """)
    assert done.stdout.strip() == "True", done.stderr
    for kind in ("packages", "kernels"):
        (entry,) = (cache_dir / kind).iterdir()
        assert Cache(cache_dir).get(kind, entry.name) is not None
        assert len(next(entry.rglob("*.cubin")).read_bytes()) > 100


def test_two_processes_loading_one_spec_at_once(cache_dir):
    code = f"import tlspec; print(tlspec.load({str(COPY_TILES)!r}).copy_tiles.__name__)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    assert [p.communicate()[0].strip() for p in procs] == ["copy_tiles"] * 2
    assert [p.returncode for p in procs] == [0, 0]
    info = Cache(cache_dir).info()
    assert (info["kernels"]["entries"], info["packages"]["entries"]) == (1, 1)
    assert not any((cache_dir / "tmp").iterdir())


def test_an_invalid_spec_raises_one_error_with_every_diagnostic(tmp_path):
    spec = tmp_path / "bad.tlspec.yaml"
    spec.write_text(INVALID)
    with pytest.raises(tlspec.SpecError) as caught:
        tlspec.load(spec)
    cli = run_tlspec("validate", str(spec))
    assert str(caught.value) == cli.stdout.rsplit("\n", 2)[0]   # all but the summary line
    assert len(caught.value.errors) == 2
    assert "\n".join(map(str, caught.value.diagnostics)) == str(caught.value)
    assert str(caught.value.errors[0]).startswith(f"{spec}:12:46: error: unknown dtype")
    importlib.import_module("tlspec.validate")   # the module imported: tlspec.validate calls
    with pytest.raises(tlspec.SpecError):
        tlspec.validate(spec)
    with pytest.raises(tlspec.SpecError):
        tlspec.compile(spec, out=tmp_path / "out", cache=False)
    assert not (tmp_path / "out").exists()


def test_validate_returns_the_warnings_of_valid_specs():
    assert tlspec.validate(ROOT / "specs") == []
    deprecated = (ROOT / "specs" / "im2col.tlspec.yaml").read_text().replace(
        "- im2col:", "- c2d_im2col:")
    (warning,) = tlspec.validate(deprecated)
    assert str(warning).startswith("<string>:31:5: warning: 'c2d_im2col' is deprecated")


def test_a_spec_for_another_target_is_a_located_error(cache_dir):
    with pytest.raises(tlspec.SpecError, match=r"targets sm_90a, but --arch sm_80 asks"):
        tlspec.load(COPY_TILES, arch="sm_80")


def test_compile_keep_going_writes_the_valid_specs_and_raises_for_the_others(tmp_path, cache_dir):
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "good.tlspec.yaml").write_text(COPY_TILES.read_text())
    (folder / "bad.tlspec.yaml").write_text(INVALID.replace("copy_tiles", "bad_tiles"))
    with pytest.raises(tlspec.SpecError) as caught:
        tlspec.compile(folder, out=tmp_path / "out", keep_going=True)
    assert all(d.location.path.endswith("bad.tlspec.yaml") for d in caught.value.errors)
    marker = json.loads((tmp_path / "out" / "_tlspec_package.json").read_text())
    assert marker["kernels"] == ["copy_tiles"]


def test_load_issues_warnings_and_can_skip_the_cache(cache_dir):
    spec = (ROOT / "specs" / "im2col.tlspec.yaml").read_text().replace("- im2col:",
                                                                        "- c2d_im2col:")
    with pytest.warns(tlspec.SpecWarning, match=r"<string>:31:5: warning: 'c2d_im2col' is"):
        kernels = tlspec.load(spec, cache=False)
    assert kernels.__all__ == ["im2col_3x3"]
    assert not cache_dir.exists()


def test_a_cache_folder_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    blocked = tmp_path / "a file"
    blocked.write_text("")
    monkeypatch.setenv("TLSPEC_CACHE_DIR", str(blocked / "cache"))
    spec = COPY_TILES.read_text().replace("copy_tiles", "copy_tiles_uncached")
    assert tlspec.load(spec).__all__ == ["copy_tiles_uncached"]
    result = tlspec.compile(COPY_TILES, out=tmp_path / "out")
    assert result.kernels == ["copy_tiles"]


def test_a_loaded_package_outlives_its_cache_entry(cache_dir):
    """tlspec.load reads every kernel image at import: the cache may evict the package's folder
    (tlspec/cache.py's size limit) while the process runs, before a kernel's first launch."""
    kernels = tlspec.load(COPY_TILES)
    kernel = sys.modules[kernels.__name__ + ".copy_tiles"]._KERNEL
    assert set(kernel._images) == set(kernel.image_paths) == {"cubin"}
    with open(kernel.image_paths["cubin"], "rb") as f:
        assert kernel._images["cubin"] == f.read()
    os.remove(kernel.image_paths["cubin"])            # as an eviction would
    kernel._read_image("cubin")                       # what the first launch does: no error
    assert kernel._images["cubin"][:4] == b"\x7fELF"
