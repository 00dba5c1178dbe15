"""tlspec/native_launch.py: the compiled launcher is built once with the host's C compiler and
copied into every package; where it cannot be built the package goes without it (its kernels
launch through the Python path) and `tlspec compile` says why in a note."""
import shutil
import sys

import pytest
from conftest import ROOT
from test_package import artifact, import_package

from tlspec import native_launch
from tlspec.cli import app
from tlspec.package import write_package

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")


@pytest.fixture
def fresh_library():
    """library() asked anew (it is asked once per process), and again after the test."""
    native_launch.library.cache_clear()
    yield native_launch.library
    native_launch.library.cache_clear()


def test_a_package_carries_the_launcher_and_its_kernels_use_it(tmp_path, fresh_library):
    data, why = fresh_library()
    assert data and not why
    out = write_package(tmp_path / "with_launcher", [artifact()])
    assert (out / native_launch.LIBRARY).read_bytes() == data
    pkg = import_package(out)
    kernel = pkg.copy_tiles.__globals__["_KERNEL"]
    assert kernel._native is not None and kernel.call == kernel._native.call
    assert kernel._native.stats() == {"hits": 0, "misses": 0, "remembered": 0}


def test_it_is_built_once_into_the_cache(fresh_library, monkeypatch):
    first = fresh_library()[0]
    fresh_library.cache_clear()
    monkeypatch.setattr(native_launch, "_build", lambda *a: pytest.fail("built again"))
    assert fresh_library()[0] == first


@pytest.mark.parametrize("cc, why", [
    ("/nonexistent/cc", "did not run"),
    ("cc --no-such-flag", "failed: "),
])
def test_without_a_working_compiler_the_package_goes_without_it(tmp_path, monkeypatch,
                                                                fresh_library, cc, why):
    monkeypatch.setenv("CC", cc)
    monkeypatch.setenv("TLSPEC_CACHE_DIR", str(tmp_path / "cache"))
    data, reason = fresh_library()
    assert data is None and why in reason and cc.split()[0] in reason
    out = write_package(tmp_path / "python_path", [artifact()])
    assert not (out / native_launch.LIBRARY).exists()
    kernel = import_package(out).copy_tiles.__globals__["_KERNEL"]
    assert kernel._native is None and kernel.call == kernel.__call__


def test_it_can_be_turned_off(monkeypatch, fresh_library):
    monkeypatch.setenv("TLSPEC_NATIVE_LAUNCH", "0")
    assert fresh_library() == (None, "TLSPEC_NATIVE_LAUNCH=0")


def test_compile_notes_a_package_without_it(tmp_path, monkeypatch, fresh_library):
    from typer.testing import CliRunner
    monkeypatch.setenv("CC", "/nonexistent/cc")
    result = CliRunner().invoke(app, ["compile", str(ROOT / "specs" / "copy_tiles.tlspec.yaml"),
                                      "-o", str(tmp_path / "kernels")])
    assert result.exit_code == 0, result.output
    assert "note: " in result.stderr and "has no compiled launcher" in result.stderr
    assert "/nonexistent/cc" in result.stderr
