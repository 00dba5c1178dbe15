"""tlspec/compiler/driver.py's compile_located: an unexpected exception while compiling is one
located internal-compiler-error diagnostic, whatever its message (also none)."""
import pytest

from conftest import ROOT
from tlspec.compiler import driver
from tlspec.diagnostics import Diagnostics
from tlspec.validate import validate_paths


@pytest.mark.parametrize("error, shown", [
    (RecursionError(), "internal compiler error: RecursionError"),
    (ValueError("first line\nlast line\n"), "internal compiler error: ValueError: last line"),
])
def test_an_unexpected_error_is_a_located_internal_compiler_error(monkeypatch, error, shown):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(driver, "compile_kernel", fail)
    (kernel,) = validate_paths([str(ROOT / "specs" / "copy_tiles.tlspec.yaml")]).kernels
    diags = Diagnostics()
    assert driver.compile_located(kernel, diags) is None
    (diagnostic,) = diags.items
    assert f"kernel 'copy_tiles': {shown}" == diagnostic.message
    assert diagnostic.pointer == "/name" and "this is a tlspec bug" in diagnostic.hint
