"""`tlspec compile` on a machine without a GPU: every example compiles to a cubin and an
importable package whose wrappers check their arguments; later-release features and impossible
requests are located errors; a failed compile leaves OUT alone; `tlspec passes` lists the
pipeline."""
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
ROOT = Path(__file__).resolve().parents[1]


def tlspec(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tlspec", *args], capture_output=True,
                          text=True, cwd=cwd)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("compiled") / "kernels"
    result = tlspec("compile", str(ROOT / "specs"), "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(out.parent))
    yield importlib.import_module("kernels"), out
    sys.path.remove(str(out.parent))


NAMES = ["copy_symbolic", "copy_tiles", "gather_rows", "im2col_3x3", "im2col_strided",
         "scatter_rows", "transpose_tma_store"]


@pytest.mark.parametrize("name", NAMES)
def test_every_example_compiles_to_a_cubin(package, name):
    _, out = package
    cubin = (out / f"{name}.cubin").read_bytes()
    assert cubin[:4] == b"\x7fELF"
    manifest = json.loads((out / f"{name}.json").read_text())
    assert manifest["entry"].encode() in cubin
    assert manifest["arch"] == "sm_90a"


class Fake:
    def __init__(self, shape, typestr="<f2", ptr=0x7F0000000000):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr,
                                         "data": (ptr, False), "strides": None, "version": 3}


def error(fn, *args):
    try:
        fn(*args)
    except (TypeError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def test_wrappers_check_their_arguments(package):
    kernels, _ = package
    assert "dtype" in error(kernels.copy_tiles, Fake((16384, 16384), "<f4"), Fake((16384, 16384)))
    assert "shape" in error(kernels.copy_tiles, Fake((16384, 128)), Fake((16384, 16384)))
    assert "multiple of 128" in error(kernels.copy_symbolic, Fake((64, 100)), Fake((64, 100)))
    assert "int32" in error(kernels.gather_rows, Fake((262144, 1024)), Fake((65536,), "<i8"),
                            Fake((65536, 1024)))


def test_later_features_are_located_errors(tmp_path):
    out = tmp_path / "kernels"
    result = tlspec("compile", str(ROOT / "docs" / "examples"), "-o", str(out))
    assert result.returncode == 1
    assert "is not compiled by this release of tlspec" in result.stdout
    assert "tma_pipeline.tlspec.yaml:" in result.stdout
    assert not out.exists()


def test_unprovable_vector_width_is_an_error_at_the_option(tmp_path):
    spec = tmp_path / "bad.tlspec.yaml"
    spec.write_text((ROOT / "specs" / "copy_symbolic.tlspec.yaml").read_text().replace(
        "multiple_of: 128, min: 128", "multiple_of: 4, min: 128"))
    out = tmp_path / "kernels"
    out.mkdir()
    (out / "_tlspec_package.json").write_text("{}")
    result = tlspec("compile", str(spec), "-o", str(out))
    assert result.returncode == 1
    assert "bad.tlspec.yaml:24:24: error: cannot move 8 elements per access" in result.stdout, \
        result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["_tlspec_package.json"]   # left unchanged


def test_dump_ir_writes_every_pass(tmp_path):
    result = tlspec("compile", str(ROOT / "specs" / "gather_rows.tlspec.yaml"), "-o",
                    str(tmp_path / "kernels"), "--dump-ir", str(tmp_path / "ir"))
    assert result.returncode == 0, result.stdout
    dumps = sorted(p.name for p in (tmp_path / "ir" / "gather_rows").iterdir())
    assert dumps[0] == "00_TileIR.py" and "04_LowerTileOp.py" in dumps
    assert "tlspec_gather" in (tmp_path / "ir" / "gather_rows" / "00_TileIR.py").read_text()


def test_passes_lists_the_pipeline():
    result = tlspec("passes")
    assert result.returncode == 0
    names = [line.split()[1] for line in result.stdout.splitlines()]
    for name in ("InstructionAnnotation", "LayoutInference", "LowerTileOp", "LegalizeNegativeIndex",
                 "LegalizeSafeMemoryAccess", "LowerHopperIntrin", "InjectFenceProxy", "ThreadSync",
                 "VectorizeLoop", "MergeSharedMemoryAllocations", "SplitHostDevice"):
        assert name in names
