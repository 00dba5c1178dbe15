"""One name rule (tlspec/names.py) for validation, `tlspec new` and the package writer."""
import pytest

from tlspec.names import name_problem, python_name_problem
from tlspec.new import NewError, check_name
from tlspec.package import check_package_dir
from tlspec.validate import validate_text

from conftest import ROOT, tlspec

BASE = (ROOT / "specs" / "copy_tiles.tlspec.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name, problem", [
    ("copy_tiles", None), ("A_s", None), ("match", None),
    ("_runtime", "names starting with '_' belong to the compiled package"),
    ("__init__", "names starting with '_' belong to the compiled package"),
    ("class", "it is a reserved word"), ("stream", "it is a reserved word"),
    ("lambda", "it is a reserved word"),
])
def test_name_problem(name, problem):
    found = name_problem(name)
    assert (found is None) if problem is None else found.startswith(problem)


def test_python_names_are_the_package_rule():
    assert python_name_problem("kernels") is None
    assert python_name_problem("my-kernels") == "it is not an identifier"
    assert python_name_problem("def") == "it is a Python keyword"
    assert python_name_problem("_kernels").startswith("names starting with '_'")


@pytest.mark.parametrize("name", ["_runtime", "__init__", "_tlspec_package"])
def test_every_side_refuses_a_name_starting_with_underscore(name, tmp_path):
    kernel = validate_text(BASE.replace("name: copy_tiles", f"name: {name}"), "k.tlspec.yaml")
    (error,) = kernel.diagnostics.errors
    assert (error.location.line, error.pointer) == (3, "/name")
    with pytest.raises(NewError, match="names starting with '_'"):
        check_name(name)
    with pytest.raises(ValueError, match="names starting with '_'"):
        check_package_dir(tmp_path / name)


def test_buffers_dims_and_indices_starting_with_underscore_are_refused():
    text = (BASE.replace("  M: 16384", "  _M: 16384").replace("[M, N]", "[_M, N]")
            .replace('"ceildiv(M, 64)"', '"ceildiv(_M, 64)"'))
    (error,) = validate_text(text, "k.tlspec.yaml").diagnostics.errors
    assert error.message.startswith("'_M' cannot name a dim: names starting with '_'")
    assert error.hint == "pick another name, e.g. 'M'"


def test_compile_refuses_a_kernel_named_like_a_package_file_before_compiling(tmp_path):
    """`_runtime` and `__init__` compiled every kernel, then failed as an unlocated usage error
    when the package was written."""
    spec = tmp_path / "k.tlspec.yaml"
    spec.write_text(BASE.replace("name: copy_tiles", "name: __init__"), encoding="utf-8")
    out = tmp_path / "kernels"
    result = tlspec("compile", str(spec), "-o", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"{spec}:3:7: error: '__init__' cannot name a kernel")
    assert "Traceback" not in result.stderr
    assert not out.exists()
