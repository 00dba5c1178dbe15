"""The wrapper of a kernel with an aligned variant (codegen/aligned_choose.py.tmpl), on
hand-written manifests (no compiler, no GPU): a call whose dims are all the variant's multiples
launches the variant, any other the general kernel, each choice made once per array signature;
a call the general kernel refuses is refused with its message, before any launch."""
import copy
import importlib
import sys
import uuid

import pytest

from tlspec.package import KernelArtifact, write_package


def manifest(name, multiple_of=None):
    """B = A for an M x N float16 matrix."""
    return {
        "format": 1, "name": name, "doc": "B = A.", "entry": f"{name}_kernel",
        "cubin": f"{name}.cubin", "source": f"{name}.cu", "arch": "sm_90a",
        "arguments": [{"name": "A", "dtype": "float16", "io": "in", "doc": "",
                       "shape": [{"dim": "M"}, {"dim": "N"}]},
                      {"name": "B", "dtype": "float16", "io": "out", "doc": "",
                       "shape": [{"dim": "M"}, {"dim": "N"}]}],
        "dims": {"M": {"value": None, "multiple_of": None, "min": 1, "max": None},
                 "N": {"value": None, "multiple_of": multiple_of, "min": 1, "max": None}},
        "params": [{"kind": "pointer", "argument": "A"}, {"kind": "pointer", "argument": "B"},
                   {"kind": "dim", "dim": "M", "ctype": "int32"},
                   {"kind": "dim", "dim": "N", "ctype": "int32"}],
        "grid": [{"op": "ceildiv", "args": [{"dim": "N"}, 64]}, 1, 1],
        "block": [128, 1, 1], "dynamic_shared_bytes": 0, "tensormaps": [], "checks": [],
    }


class Fake:
    """A __cuda_array_interface__ v3 array over no memory."""

    def __init__(self, *shape):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f2", "strides": None,
                                         "data": (0x7F00_0000_0000, False), "version": 3}


@pytest.fixture
def wrapper(tmp_path, monkeypatch):
    """The `copy` wrapper module, its kernels' launches recorded instead of made."""
    name = f"kernels_{uuid.uuid4().hex[:8]}"
    general = manifest("copy")
    general["aligned"] = {"kernel": "copy__aligned", "multiple_of": {"N": 16}}
    aligned = KernelArtifact("copy__aligned", manifest("copy__aligned", 16), "// aligned\n",
                             b"\x7fELF aligned")
    out = write_package(tmp_path / name, [KernelArtifact(
        "copy", copy.deepcopy(general), "// general\n", b"\x7fELF general", aligned=aligned)])
    monkeypatch.syspath_prepend(str(out.parent))
    module = importlib.import_module(f"{name}.copy")
    module.launched = []
    for kernel in (module._KERNEL, module._ALIGNED):
        monkeypatch.setattr(kernel, "_launch", lambda views, plan, stream, kernel=kernel:
                            module.launched.append(kernel.name))
    yield module
    for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[m]


def test_the_package_carries_the_variant_without_exporting_it(wrapper):
    package = sys.modules[wrapper.__name__.rsplit(".", 1)[0]]
    assert package.__all__ == ["copy"]
    assert wrapper._ALIGNED.name == "copy__aligned" and wrapper._MULTIPLES == {"N": 16}


@pytest.mark.parametrize("m, n, launched", [(64, 128, "copy__aligned"), (3, 48, "copy__aligned"),
                                            (64, 100, "copy"), (64, 8, "copy"), (1, 1, "copy")])
def test_the_call_s_dims_choose_the_kernel(wrapper, m, n, launched):
    wrapper.copy(Fake(m, n), Fake(m, n))
    assert wrapper.launched == [launched]


def test_the_choice_is_made_once_per_signature(wrapper, monkeypatch):
    chosen = []
    choose = wrapper._choose
    monkeypatch.setattr(wrapper, "_choose", lambda values: chosen.append(1) or choose(values))
    for _ in range(3):
        wrapper.copy(Fake(64, 128), Fake(64, 128))
        wrapper.copy(Fake(64, 100), Fake(64, 100))
    assert len(chosen) == 2
    assert wrapper.launched == ["copy__aligned", "copy"] * 3


def test_a_call_the_general_kernel_refuses_is_refused_with_its_message(wrapper):
    with pytest.raises(ValueError, match=r"^copy\(\): argument 'B' has shape \(64, 100\)"):
        wrapper.copy(Fake(64, 128), Fake(64, 100))
    assert wrapper.launched == []
