"""A global im2col `col` is the image's whole column matrix, (N*OH*OW, K*K*C): validation refuses
constant extents that do not match (tests/catalogue/invalid/180_...), and the compiled wrapper
checks symbolic ones at the call (the manifest's `checks`)."""
import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import compile_and_import, forget
from device_arrays import FakeArray as Fake, bound_dims

from tlspec.validate import validate_text

SPEC = """
tlspec: 1
name: im2col_symbolic
target: sm_90a
dims:
  N: symbolic
  H: symbolic
  W: symbolic
  C: {symbolic: true, multiple_of: 8}
  R: symbolic
buffers:
  img: {scope: global, shape: [N, H, W, C], dtype: float16, io: in}
  col: {scope: global, shape: [R, 9 * C], dtype: float16, io: out}
launch:
  grid: {bx: "ceildiv(R, 32)", by: "ceildiv(9 * C, 32)"}
  threads: 128
stages:
  - im2col: {img: img, col: "col[bx*32 : +32, by*32 : +32]", nhw_step: bx, c_step: by, kernel: 3, stride: 2, pad: 1}
"""



@pytest.fixture(scope="module")
def im2col(tmp_path_factory):
    """The dims the compiled kernel's wrapper binds for its arguments."""
    root = tmp_path_factory.mktemp("im2col")
    (root / "im2col.tlspec.yaml").write_text(SPEC)
    package = compile_and_import(root / "column_matrix", root / "im2col.tlspec.yaml")
    yield lambda *arrays: bound_dims(package, "im2col_symbolic", *arrays)
    forget(package.__name__)


def test_a_symbolic_column_matrix_of_the_right_shape_binds_its_dims(im2col):
    assert im2col(Fake(2, 9, 7, 16), Fake(2 * 5 * 4, 9 * 16)) == \
        {"N": 2, "H": 9, "W": 7, "C": 16, "R": 40}


def test_a_symbolic_column_matrix_of_the_wrong_shape_is_refused_at_the_call(im2col):
    with pytest.raises(ValueError) as refused:
        im2col(Fake(2, 9, 7, 16), Fake(2 * 9 * 7, 9 * 16))
    assert str(refused.value) == (
        "im2col_symbolic(): col is the column matrix of im2col over img: its rows must be "
        "N*OH*OW (R = 126, expected == 40)")


def test_constant_extents_that_match_the_column_matrix_validate():
    text = SPEC.replace("N: symbolic\n  H: symbolic\n  W: symbolic", "N: 2\n  H: 9\n  W: 7") \
               .replace("R: symbolic", "R: 40")
    assert validate_text(text).ok
    assert not validate_text(text.replace("R: 40", "R: 126")).ok
