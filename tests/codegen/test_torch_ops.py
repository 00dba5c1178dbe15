"""register_torch_ops (codegen/_torch_ops.py) without torch or a GPU: a stand-in torch whose
torch.library.custom_op records each op's name, schema, mutated arguments, real and fake
implementations, over the fixture kernels of tests/gpu/fixtures on the fake driver of
test_launch_path. tests/gpu/test_torch_integration_gpu.py runs the ops for real, under
torch.compile and CUDA graphs."""
import copy
import importlib
import sys
import types
import uuid

import pytest

from test_launch_path import BASE, FLOAT16, FLOAT32, Driver, Tensor, fake_torch, fixture
from tlspec.package import KernelArtifact, write_package


class Op:
    """What torch.library.custom_op made: call it to run the real implementation."""

    def __init__(self, name, fn, mutates_args, device_types, schema):
        self.name, self.fn, self.mutates, self.schema = name, fn, mutates_args, schema
        self.device_types, self.fake = device_types, None

    def register_fake(self, fn):
        self.fake = fn

    def __call__(self, *args):
        return self.fn(*args)


@pytest.fixture
def torch(monkeypatch):
    fake = fake_torch()
    fake.defined = []
    fake.library = types.SimpleNamespace(
        custom_op=lambda name, fn, *, mutates_args, device_types, schema: (
            fake.defined.append(Op(name, fn, mutates_args, device_types, schema))
            or fake.defined[-1]))
    monkeypatch.setitem(sys.modules, "torch", fake)
    return fake


@pytest.fixture
def package(tmp_path, monkeypatch, torch):
    """package(*manifests) -> the package of those kernels, imported, on a fake driver."""
    names = []

    def make(*manifests):
        name = f"ops_{uuid.uuid4().hex[:8]}"
        out = write_package(tmp_path / name, [
            KernelArtifact(m["name"], copy.deepcopy(m), "// source\n", b"\x7fELF fake")
            for m in manifests])
        monkeypatch.syspath_prepend(str(out.parent))
        names.append(name)
        pkg = importlib.import_module(name)
        driver = Driver(max(len(m["params"]) for m in manifests))
        monkeypatch.setattr(importlib.import_module(f"{name}._runtime"), "_cuda", lambda: driver)
        return pkg, driver

    yield make
    for m in [m for m in sys.modules if m.split(".")[0] in names]:
        del sys.modules[m]


def renamed(manifest, name, **io):
    """The manifest as kernel `name`, arguments' io changed as io gives (name -> io)."""
    m = copy.deepcopy(manifest)
    m["name"] = name
    for a in m["arguments"]:
        a["io"] = io.get(a["name"], a["io"])
    return m


def test_each_kernel_becomes_a_functional_op_and_an_out_op(package, torch):
    pkg, _ = package(fixture("b5_copy_symM"), renamed(fixture("b5_copy_symM"), "update", B="inout"))
    ops = pkg.register_torch_ops("mylib")
    assert [(op.name, op.schema, op.mutates, op.device_types) for op in torch.defined] == [
        ("mylib::b5_copy_symM", "(Tensor A) -> Tensor", (), "cuda"),
        ("mylib::b5_copy_symM_out", "(Tensor A, Tensor(a!) B) -> ()", ("B",), "cuda"),
        ("mylib::update", "(Tensor A, Tensor(a!) B) -> ()", ("B",), "cuda"),
        ("mylib::update_out", "(Tensor A, Tensor(a!) B) -> ()", ("B",), "cuda")]
    assert ops.b5_copy_symM is torch.defined[0] and ops.update_out is torch.defined[3]
    assert all(op.fake is not None for op in torch.defined)


def test_the_functional_op_allocates_launches_and_returns_the_output(package, torch):
    pkg, driver = package(fixture("b5_copy_symM"))
    ops = pkg.register_torch_ops("mylib")
    a = Tensor((128, 1024))
    out = ops.b5_copy_symM(a)
    assert (out.shape, out.dtype, out.get_device()) == ((128, 1024), FLOAT16, 0)
    assert [launch.params for launch in driver.launches] == [[BASE, out.data_ptr(), 128]]
    b = Tensor((128, 1024), BASE + 0x100000)
    assert ops.b5_copy_symM_out(a, b) is None
    assert driver.launches[-1].params == [BASE, BASE + 0x100000, 128]


def test_the_fake_implementation_shapes_outputs_from_the_manifest(package, torch):
    pkg, driver = package(fixture("b6_tma_symMN"))
    ops = pkg.register_torch_ops("mylib")
    empties = []
    torch.empty = lambda shape, dtype, device: empties.append((shape, dtype, device)) or "empty"
    a = Tensor((192, 64), device="meta")
    assert ops.b6_tma_symMN.fake(a) == "empty"
    assert empties == [([192, 64], FLOAT16, a.device)]
    assert ops.b6_tma_symMN_out.fake(a, Tensor((192, 64), device="meta")) is None
    assert not driver.launches                   # a fake implementation reaches no CUDA


def test_the_fake_implementation_refuses_what_a_call_refuses(package, torch):
    pkg, _ = package(fixture("b6_tma_symMN"))
    ops = pkg.register_torch_ops("mylib")
    with pytest.raises(ValueError, match=r"argument 'A' has shape \(100, 64\); expected \(M, N\)"
                                         r" with M a multiple of 64"):
        ops.b6_tma_symMN.fake(Tensor((100, 64), device="meta"))
    with pytest.raises(TypeError, match="argument 'A' has dtype float32"):
        ops.b6_tma_symMN.fake(Tensor((64, 64), dtype=FLOAT32, device="meta"))
    with pytest.raises(ValueError, match=r"argument 'B' has shape \(128, 64\)"):
        ops.b6_tma_symMN_out.fake(Tensor((64, 64), device="meta"),
                                  Tensor((128, 64), device="meta"))


def test_the_fake_implementation_reads_no_data_pointer(package, torch):
    """torch.compile traces with fake tensors, which have no data pointer to read."""
    pkg, _ = package(fixture("b5_copy_symM"))
    ops = pkg.register_torch_ops("mylib")
    torch.empty = lambda shape, dtype, device: (shape, dtype)

    class FakeTensor(Tensor):
        def data_ptr(self):
            raise RuntimeError("Cannot access data pointer of Tensor (e.g. FakeTensor)")

    FakeTensor.__module__ = "torch"
    assert ops.b5_copy_symM.fake(FakeTensor((64, 1024))) == ([64, 1024], FLOAT16)


def test_registering_again_gives_the_same_ops(package, torch):
    pkg, _ = package(fixture("b5_copy_symM"))
    first = pkg.register_torch_ops("mylib")
    assert pkg.register_torch_ops("mylib") is first and len(torch.defined) == 2
    pkg.register_torch_ops("other")
    assert [op.name for op in torch.defined[2:]] == ["other::b5_copy_symM",
                                                     "other::b5_copy_symM_out"]


def test_a_kernel_named_like_another_kernels_out_op_is_refused(package, torch):
    pkg, _ = package(fixture("b5_copy_symM"), renamed(fixture("b5_copy_symM"), "b5_copy_symM_out"))
    with pytest.raises(ValueError, match="kernel 'b5_copy_symM_out' has the name of another "
                                         "kernel's out-variant op; rename it"):
        pkg.register_torch_ops("mylib")
    assert not torch.defined


def test_a_namespace_must_be_an_identifier(package, torch):
    pkg, _ = package(fixture("b5_copy_symM"))
    with pytest.raises(ValueError, match="namespace 'my lib' is not a Python identifier"):
        pkg.register_torch_ops("my lib")
