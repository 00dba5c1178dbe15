"""Target sm_100a (Blackwell), verified without a Blackwell GPU.

- Everything that compiles for sm_90a compiles for sm_100a: specs/ and a representative kernel
  of every file of the GPU matrix, tests/gpu/async and the warp-specialized cases, with their
  `target: sm_90a` rewritten to sm_100a, each to a cubin NVRTC made for sm_100 (its ELF header
  says so), whose ptxas accepted its instructions.
- The TMA gather4 / scatter4 forms (specs/gather4_blackwell.tlspec.yaml): the CUDA source and
  the PTX (`--ptx`: compute_100a, the PTX of an arch-specific target) hold the instructions, the
  tensor map is one table row of the box's columns; the SASS holds UTMALDG.2D.GATHER4 and
  UTMASTG.2D.SCATTER4 where a cuobjdump is at hand (none comes with tlspec's wheels).
"""
import re
import subprocess

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT, SPECS, cubin_sm, cuobjdump

from tlspec.compiler.driver import compile_kernel
from tlspec.validate import validate_paths, validate_text

GPU = ROOT / "tests" / "gpu"
GATHER4 = ("cp.async.bulk.tensor.2d.shared::cluster.global.tile::gather4."
           "mbarrier::complete_tx::bytes")
SCATTER4 = "cp.async.bulk.tensor.2d.global.shared::cta.tile::scatter4.bulk_group"


def as_sm100a(path):
    """The kernels of the spec file with target sm_90a (written or the default), as sm_100a
    kernels; sm_80 kernels are left out."""
    kernels = []
    for document in path.read_text().split("\n---\n"):
        if re.search(r"^target: sm_80$", document, re.M):
            continue
        if re.search(r"^target:", document, re.M):
            document = re.sub(r"^target: sm_90a$", "target: sm_100a", document, flags=re.M)
        else:
            document = re.sub(r"^(name: .*)$", r"\1\ntarget: sm_100a", document, count=1,
                              flags=re.M)
        result = validate_text(document, path.name)
        assert result.ok, result.diagnostics.render_text()
        kernels += result.kernels
    return kernels


def representative():
    """(id, kernel): every kernel of specs/, the first of each GPU test file, and the kernels
    of the warp-specialized cases that move registers (setmaxnreg)."""
    chosen = [k for p in sorted(SPECS.glob("*.tlspec.yaml")) for k in as_sm100a(p)]
    for path in sorted(GPU.glob("*/*.tlspec.yaml")):
        kernels = as_sm100a(path)
        chosen += kernels[:1] + [k for k in kernels[1:] if "registers" in k.name]
    return [pytest.param(k, id=k.name) for k in chosen]


@pytest.mark.parametrize("kernel", representative())
def test_it_compiles_for_sm100a(kernel):
    artifact = compile_kernel(kernel)
    assert artifact.manifest["arch"] == "sm_100a"
    assert cubin_sm(artifact.cubin) == 100
    assert artifact.manifest["entry"].encode() in artifact.cubin
    if "setmaxnreg" in artifact.source:     # sm_90a's register reallocation is sm_100a's too
        assert "__launch_bounds__" in artifact.source


@pytest.fixture(scope="module")
def gather4(tmp_path_factory):
    """The gather4 / scatter4 kernels compiled with --ptx: {name: artifact}."""
    kernels = validate_paths([str(SPECS / "gather4_blackwell.tlspec.yaml")]).kernels
    return {k.name: compile_kernel(k, ptx=True) for k in kernels}


@pytest.mark.parametrize("name, instruction", [("gather4_rows", GATHER4),
                                               ("scatter4_rows", SCATTER4)])
def test_the_gather4_and_scatter4_instructions_are_in_the_source_and_the_ptx(
        gather4, name, instruction):
    artifact = gather4[name]
    assert artifact.manifest["ptx_arch"] == "compute_100a"
    assert re.search(r"^\.target sm_100a$", artifact.ptx, re.M)
    assert instruction in artifact.source
    assert instruction in artifact.ptx
    # four row coordinates after the column, one instruction per 4 rows of the 4 x 256 tile
    assert re.search(re.escape(instruction) + r"[^\n]*\{%r\d+, %r\d+, %r\d+, %r\d+, %r\d+\}",
                     artifact.ptx)


def test_the_tensor_map_is_one_row_of_the_box_columns(gather4):
    for name in ("gather4_rows", "scatter4_rows"):
        [table] = [t for t in gather4[name].manifest["tensormaps"] if t["argument"] == "table"]
        assert (table["box"], table["dims"], table["swizzle"]) == ([256, 1], [1024, 262144],
                                                                   "none")


@pytest.mark.skipif(cuobjdump() is None, reason="no cuobjdump (set CUOBJDUMP, or put the CUDA "
                    "toolkit's bin on PATH)")
@pytest.mark.parametrize("name, instruction", [("gather4_rows", "UTMALDG.2D.GATHER4"),
                                               ("scatter4_rows", "UTMASTG.2D.SCATTER4")])
def test_the_sass_holds_the_tma_gather4_and_scatter4(gather4, tmp_path, name, instruction):
    cubin = tmp_path / f"{name}.cubin"
    cubin.write_bytes(gather4[name].cubin)
    sass = subprocess.run([cuobjdump(), "-sass", str(cubin)], capture_output=True, text=True,
                          check=True).stdout
    assert re.search(rf"\s{re.escape(instruction)} \[", sass), sass[-3000:]
