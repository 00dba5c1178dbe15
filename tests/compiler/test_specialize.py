"""Shape specialization (tlspec/compiler/specialize.py): the row dims of a kernel, its aligned
variant, and `tlspec compile` adding that variant to the package (with the manifest's `aligned`)
exactly when InstructionAnnotation found a stage that aligned sizes make faster; quiet or not."""
import json

import pytest

from tlspec.compiler.specialize import aligned_kernel, row_dim_names
from tlspec.validate import validate_text

COPY = """
tlspec: 1
name: rows
target: sm_90a
dims: {M: DIM_M, N: DIM_N}
buffers:
  A:   {scope: global, shape: [M, N], dtype: float16, io: in}
  B:   {scope: global, shape: [M, N], dtype: float16, io: out}
  A_s: {scope: shared, shape: [64, 64], dtype: float16}
launch:
  grid: {bx: "ceildiv(N, 64)", by: "ceildiv(M, 64)"}
  threads: 128
stages:
  - copy: {src: "A[by*64 : +64, bx*64 : +64]", dst: A_sQUIET}
  - copy: {src: A_s, dst: "B[by*64 : +64, bx*64 : +64]"QUIET}
"""


def spec(m="symbolic", n="symbolic", quiet=""):
    return COPY.replace("DIM_M", m).replace("DIM_N", n).replace("QUIET", quiet)


def kernel(text):
    result = validate_text(text)
    assert result.ok, [str(d) for d in result.diagnostics]
    return result.kernels[0]


def test_the_row_dims_set_row_lengths_or_strides():
    assert row_dim_names(kernel(spec())) == ["N"]
    one_d = """
tlspec: 1
name: one
dims: {N: symbolic}
buffers:
  a: {scope: global, shape: [N], dtype: float32, io: in}
  b: {scope: global, shape: [N], dtype: float32, io: out}
launch: {grid: {bx: "ceildiv(N, 256)"}, threads: 64}
stages:
  - copy: {src: "a[bx*256 : +256]", dst: "b[bx*256 : +256]"}
"""
    assert row_dim_names(kernel(one_d)) == ["N"]
    assert row_dim_names(kernel(spec("4096", "1024"))) == []


def test_the_aligned_variant_takes_the_least_common_multiple():
    variant, multiples = aligned_kernel(kernel(spec(n="{symbolic: true, multiple_of: 24}")))
    assert variant.name == "rows__aligned" and multiples == {"N": 48}
    assert variant.dims["N"].multiple_of == 48 and variant.dims["M"].multiple_of is None


@pytest.mark.parametrize("n", ["{symbolic: true, multiple_of: 64}", "4096",
                               "{symbolic: true, max: 8}"])
def test_no_variant_where_nothing_changes_or_no_size_fits(n):
    assert aligned_kernel(kernel(spec(n=n))) is None


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
    from tlspec.compiler.driver import compile_paths

    def run(text):
        folder = tmp_path_factory.mktemp("specialize")
        (folder / "rows.tlspec.yaml").write_text(text)
        result = compile_paths([str(folder / "rows.tlspec.yaml")], str(folder / "pkg"))
        assert result.ok, [str(d) for d in result.diagnostics]
        return folder / "pkg"
    return run


@pytest.mark.parametrize("quiet", ["", ", quiet: [slow_path]"])
def test_compile_adds_the_aligned_variant_where_it_is_faster(compiled, quiet):
    out = compiled(spec(quiet=quiet))
    general = json.loads((out / "rows.json").read_text())
    assert general["aligned"] == {"kernel": "rows__aligned", "multiple_of": {"N": 16}}
    variant = json.loads((out / "rows__aligned.json").read_text())
    assert variant["dims"]["N"]["multiple_of"] == 16 and "aligned" not in variant
    assert "cp.async.bulk.tensor" in (out / "rows__aligned.cu").read_text()
    assert "cp.async.bulk.tensor" not in (out / "rows.cu").read_text()
    assert not (out / "rows__aligned.py").exists()
    assert "rows__aligned" not in (out / "__init__.py").read_text()
    assert "_ALIGNED" in (out / "rows.py").read_text()


def test_no_variant_where_aligned_sizes_change_nothing(compiled):
    out = compiled(spec(n="{symbolic: true, multiple_of: 8}"))
    assert "aligned" not in json.loads((out / "rows.json").read_text())
    assert not (out / "rows__aligned.json").exists()
    assert "_ALIGNED" not in (out / "rows.py").read_text()
