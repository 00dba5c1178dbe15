"""tests/gpu/im2col_rect/ (rectangular im2col windows, run by tests/gpu/test_im2col_rect_gpu.py on
the GPU) compiles without a GPU into a package of all its kernels, whose loads keep the vector
widths of the square case: 16 bytes of channels per access where C allows it, one element for
3 channels."""
import re

import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import ROOT, compiled_once

from tlspec.validate import validate_paths

RECT = ROOT / "tests" / "gpu" / "im2col_rect"


@pytest.fixture(scope="module")
def rect(tmp_path_factory):
    yield from compiled_once(tmp_path_factory, RECT, "tlspec_im2col_rect_ci")


def image_loads(out, name) -> set[str]:
    """How the kernel reads the image: the casts before `img_ptr` in its loads."""
    source = (out / f"{name}.cu").read_text()
    return set(re.findall(r"= (\*\(\w+\*\)\(|\(\(uchar\*\))\(?(?:\(uchar\*\))?img_ptr", source))


def test_every_kernel_of_im2col_rect_compiles(rect):
    package, out = rect
    names = sorted(k.name for k in validate_paths([str(RECT)]).kernels)
    assert sorted(package.__all__) == names
    assert all((out / f"{name}.cubin").read_bytes()[:4] == b"\x7fELF" for name in names)


@pytest.mark.parametrize("name, loads", [
    ("im2col_rect_f16", {"*(uint4*)("}),           # 8 float16 channels
    ("im2col_rect_i8", {"*(uint4*)("}),            # 16 int8 channels
    ("im2col_rect_fill_f16", {"*(half4*)("}),      # 4 float16 channels
    ("im2col_rect_odd_i8", {"((uchar*)"}),         # 3 channels: one at a time
])
def test_the_vector_width_is_the_channels(rect, name, loads):
    assert image_loads(rect[1], name) == loads
