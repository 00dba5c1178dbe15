"""A global im2col `col` is the image's whole column matrix, (N*OH*OW, KH*KW*C): validation refuses
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



def binder(tmp_path_factory, name: str, text: str):
    """The dims the compiled kernel `name`'s wrapper binds for its arguments."""
    root = tmp_path_factory.mktemp(name)
    (root / f"{name}.tlspec.yaml").write_text(text)
    package = compile_and_import(root / f"{name}_package", root / f"{name}.tlspec.yaml")
    yield lambda *arrays: bound_dims(package, name, *arrays)
    forget(package.__name__)


@pytest.fixture(scope="module")
def im2col(tmp_path_factory):
    yield from binder(tmp_path_factory, "im2col_symbolic", SPEC)


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


RECTANGULAR = SPEC.replace("kernel: 3, stride: 2, pad: 1",
                           "kernel: [3, 5], stride: [2, 1], dilation: [1, 2], pad: [1, 2]") \
                  .replace("9 * C", "15 * C").replace("name: im2col_symbolic", "name: im2col_rect")


@pytest.fixture(scope="module")
def im2col_rect(tmp_path_factory):
    yield from binder(tmp_path_factory, "im2col_rect", RECTANGULAR)


def test_a_rectangular_window_makes_oh_and_ow_per_axis(im2col_rect):
    """9 x 12 image: OH = (9 + 2 - 2 - 1) // 2 + 1 = 5, OW = (12 + 4 - 8 - 1) // 1 + 1 = 8."""
    assert im2col_rect(Fake(2, 9, 12, 16), Fake(2 * 5 * 8, 15 * 16)) == \
        {"N": 2, "H": 9, "W": 12, "C": 16, "R": 80}
    with pytest.raises(ValueError, match="its rows must be N\\*OH\\*OW \\(R = 96"):
        im2col_rect(Fake(2, 9, 12, 16), Fake(2 * 6 * 8, 15 * 16))     # OH of the W window
    with pytest.raises(ValueError, match="its output width must be at least 1"):
        im2col_rect(Fake(2, 9, 4, 16), Fake(2 * 5, 15 * 16))


def test_constant_extents_of_a_rectangular_window_are_checked_per_axis():
    text = RECTANGULAR.replace("N: symbolic\n  H: symbolic\n  W: symbolic", "N: 2\n  H: 9\n  W: 12")
    assert validate_text(text.replace("R: symbolic", "R: 80")).ok
    square_rows = validate_text(text.replace("R: symbolic", "R: 96"))   # OW taken for OH
    assert "has 96 rows; this image and kernel make 80" in square_rows.diagnostics.render_text()
    narrow = validate_text(text.replace("R: symbolic", "R: 80").replace("W: 12", "W: 4"))
    assert "a 3x5 kernel with dilation 2 and pad 2 does not fit in W = 4" in \
        narrow.diagnostics.render_text()
