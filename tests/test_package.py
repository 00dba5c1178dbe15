"""The generated Python package: layout, wrapper API, stubs, argument checks, atomic writing.

Everything here runs without a GPU: arrays are fakes exposing __cuda_array_interface__ (or a
DLPack capsule built with ctypes) and no CUDA call is reached."""
import ast
import copy
import ctypes
import importlib
import inspect
import json
import os
import stat
import subprocess
import sys
import uuid

import pytest

from conftest import ROOT
from tlspec import package
from tlspec import native_launch
from tlspec.package import KernelArtifact, write_package

MANIFEST = {
    "format": 1, "name": "copy_tiles", "doc": "Copy A to B tile by tile.",
    "entry": "copy_tiles_kernel", "cubin": "copy_tiles.cubin", "source": "copy_tiles.cu",
    "arch": "sm_90a",
    "arguments": [
        {"name": "A", "dtype": "float16", "shape": [{"dim": "M"}, {"dim": "N"}], "io": "in",
         "doc": "The source."},
        {"name": "B", "dtype": "float16", "shape": [{"dim": "M"}, {"dim": "N"}], "io": "out",
         "doc": "The destination."}],
    "dims": {"M": {"value": None, "multiple_of": 64, "min": 64, "max": None},
             "N": {"value": 256, "multiple_of": None, "min": None, "max": None}},
    "params": [{"kind": "pointer", "argument": "B"}, {"kind": "tensormap", "map": 0},
               {"kind": "dim", "dim": "M", "ctype": "int32"}],
    "grid": [{"op": "ceildiv", "args": [{"dim": "M"}, 64]}, 4, 1], "block": [256, 1, 1],
    "dynamic_shared_bytes": {"op": "*", "args": [64, 64, 2]},
    "tensormaps": [{"argument": "A", "dtype": "float16", "rank": 2,
                    "dims": [{"dim": "N"}, {"dim": "M"}],
                    "strides": [{"op": "*", "args": [{"dim": "N"}, 2]}],
                    "box": [64, 64], "element_strides": [1, 1], "interleave": "none",
                    "swizzle": "128B", "l2_promotion": "256B", "oob_fill": "none"}],
    "checks": [{"expr": {"dim": "M"}, "op": "<=", "bound": 1 << 20,
                "message": "M is at most 2**20"}],
}


def artifact(manifest=MANIFEST):
    return KernelArtifact(manifest["name"], copy.deepcopy(manifest), "// cuda source\n",
                          b"\x7fELF fake cubin")


def import_package(path):
    sys.path.insert(0, str(path.parent))
    try:
        return importlib.import_module(path.name)
    finally:
        sys.path.remove(str(path.parent))


@pytest.fixture
def pkg(tmp_path):
    out = write_package(tmp_path / f"kernels_{uuid.uuid4().hex[:8]}", [artifact()])
    return import_package(out)


class FakeArray:
    """A device array as seen through __cuda_array_interface__ (no memory behind it)."""

    def __init__(self, shape, typestr="<f2", ptr=0x7F00_0000_0000, strides=None, version=3):
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": typestr,
                                         "data": (ptr, False), "strides": strides,
                                         "version": version}


# --------------------------------------------------------------------------------------------
# layout, signature, docstring, stub
# --------------------------------------------------------------------------------------------
def test_layout_and_marker(tmp_path):
    out = write_package(tmp_path / "kern", [artifact()])
    names = sorted(p.name for p in out.iterdir())
    runtime = ["_runtime.py", "_arrays.py", "_checks.py", "_driver.py", "_exprs.py",
               "_launch.py", "_native.py", "_oob.py", "_plan.py", "_tensormaps.py",
               "_torch_ops.py"]
    launcher = ["_native_launch.abi3.so"] if native_launch.library()[0] else []
    assert names == sorted(["__init__.py", "__init__.pyi", "_kernel_images.py",
                            "_tensormap_rules.py", *runtime, *launcher,
                            "_tlspec_package.json", "py.typed",
                            "copy_tiles.py", "copy_tiles.pyi", "copy_tiles.json",
                            "copy_tiles.cubin", "copy_tiles.cu"])
    marker = json.loads((out / "_tlspec_package.json").read_text())
    assert marker["kernels"] == ["copy_tiles"] and marker["format"] == 1 and marker["tlspec"]
    assert (out / "_runtime.py").read_text() == (ROOT / "codegen" / "runtime.py").read_text()
    for name in runtime[1:]:
        assert (out / name).read_text() == (ROOT / "codegen" / name).read_text()
    assert (out / "copy_tiles.cubin").read_bytes() == b"\x7fELF fake cubin"
    assert not list(tmp_path.glob(".kern.*"))          # no temporary left behind


def test_signature_and_docstring(pkg):
    fn = pkg.copy_tiles
    sig = inspect.signature(fn)
    assert str(sig) == "(A, B=None, *, stream=None)"
    doc = inspect.getdoc(fn)
    assert doc.startswith("Copy A to B tile by tile.")
    assert "A: float16 (M, N), in. The source." in doc
    assert "B: float16 (M, N), out (allocated when omitted). The destination." in doc
    assert "M: a multiple of 64, >= 64" in doc and "N: = 256" in doc
    for section in ("Args:", "Returns:", "Raises:", "TypeError", "ValueError"):
        assert section in doc
    assert pkg.__all__ == ["copy_tiles"]


HOSTILE_TEXT = ('NUL \x00, """triple quotes""", a backslash \\ and \\n, caf\u00e9 \u2028 line '
                'separator, CR \r, tab \t, escape \x1b[0m, lone surrogate \ud800, "ending quote"')


@pytest.mark.parametrize("where", ["kernel", "argument"])
def test_any_doc_text_survives_into_an_importable_docstring(tmp_path, where):
    """A NUL in `doc` was written into the generated docstring raw: the package did not import.
    Any text a spec's doc can hold (YAML's double-quoted escapes reach every code point) must
    import and show exactly."""
    manifest = copy.deepcopy(MANIFEST)
    if where == "kernel":
        manifest["doc"] = HOSTILE_TEXT
    else:
        manifest["arguments"][0]["doc"] = HOSTILE_TEXT
    out = write_package(tmp_path / f"kernels_{where}", [artifact(manifest)])
    pkg = import_package(out)
    assert HOSTILE_TEXT in pkg.copy_tiles.__doc__
    ast.parse((out / "copy_tiles.py").read_text(encoding="utf-8"))


def test_a_blank_doc_gets_the_default_first_line(tmp_path):
    manifest = dict(copy.deepcopy(MANIFEST), doc="  \n ")
    pkg = import_package(write_package(tmp_path / "kernels_blank", [artifact(manifest)]))
    assert inspect.getdoc(pkg.copy_tiles).startswith("Launch the copy_tiles kernel.\n\nArgs:")


def test_stub_matches_the_wrapper(tmp_path):
    out = write_package(tmp_path / "kern", [artifact()])
    tree = ast.parse((out / "copy_tiles.pyi").read_text())
    (fn,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert fn.name == "copy_tiles"
    assert [a.arg for a in fn.args.args] == ["A", "B"]
    assert [a.arg for a in fn.args.kwonlyargs] == ["stream"]
    assert len(fn.args.defaults) == 1
    assert ast.unparse(fn.returns) == "Any"
    wrapper = ast.parse((out / "copy_tiles.py").read_text())
    (wfn,) = [n for n in wrapper.body if isinstance(n, ast.FunctionDef)]
    assert [a.arg for a in wfn.args.args] == [a.arg for a in fn.args.args]


def test_package_stub_reexports_every_kernel(tmp_path):
    out = write_package(tmp_path / "kern", [artifact(), artifact(dict(MANIFEST, name="other"))])
    tree = ast.parse((out / "__init__.pyi").read_text())
    imports = [(n.module, [(a.name, a.asname) for a in n.names])
               for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert imports == [("copy_tiles", [("copy_tiles", "copy_tiles")]),
                       ("other", [("other", "other")])]
    (all_,) = [n for n in tree.body if isinstance(n, ast.Assign)]
    assert ast.literal_eval(all_.value) == ["copy_tiles", "other"]


def test_outputs_and_inputs_after_outputs(tmp_path):
    m = copy.deepcopy(MANIFEST)
    m["name"] = "two_out"
    m["arguments"] = [dict(m["arguments"][1], name="X"), dict(m["arguments"][0], name="Y"),
                      dict(m["arguments"][1], name="Z", io="inout")]
    m["params"] = [{"kind": "pointer", "argument": n} for n in "XYZ"]
    m["tensormaps"] = []
    mod = import_package(write_package(tmp_path / f"k{uuid.uuid4().hex[:8]}", [artifact(m)]))
    assert str(inspect.signature(mod.two_out)) == "(X=None, Y=None, Z=None, *, stream=None)"
    assert "(X, Z), in argument order." in inspect.getdoc(mod.two_out)
    with pytest.raises(TypeError, match="missing required argument 'Y'"):
        mod.two_out(None, None, FakeArray((64, 256)))
    stub = ast.parse((tmp_path / mod.__name__ / "two_out.pyi").read_text())
    assert ast.unparse(stub.body[-1].returns) == "Tuple[Any, Any]"


def test_importing_does_not_touch_cuda(tmp_path):
    out = write_package(tmp_path / "kern_import", [artifact()])
    code = ("import sys; import kern_import\n"
            "assert not any(m.startswith('cuda') for m in sys.modules), 'cuda imported'\n"
            "assert 'tlspec' not in sys.modules and 'numpy' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=out.parent)


# --------------------------------------------------------------------------------------------
# the expression evaluator
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op, args, value", [
    ("+", [7, 3, 2], 12), ("-", [7, 3], 4), ("*", [7, 3, 2], 42), ("//", [7, 2], 3),
    ("//", [-7, 2], -4), ("%", [7, 3], 1), ("ceildiv", [7, 2], 4), ("ceildiv", [8, 2], 4),
    ("min", [7, 3, 5], 3), ("max", [7, 3, 5], 7), ("neg", [7], -7),
    ("truncdiv", [7, 2], 3), ("truncdiv", [-7, 2], -3), ("truncdiv", [7, -2], -3),
    ("truncdiv", [-7, -2], 3), ("truncmod", [7, 3], 1), ("truncmod", [-7, 3], -1),
    ("truncmod", [7, -3], 1), ("truncdiv", [2**62 + 1, 3], (2**62 + 1) // 3)])
def test_evaluator_ops(pkg, op, args, value):
    rt = pkg.copy_tiles.__globals__["_runtime"]
    assert rt.evaluate({"op": op, "args": args}, {}) == value


def test_evaluator_dims_nesting_and_errors(pkg):
    rt = pkg.copy_tiles.__globals__["_runtime"]
    e = {"op": "+", "args": [{"op": "*", "args": [{"dim": "M"}, 2]}, {"dim": "N"}]}
    assert rt.evaluate(e, {"M": 5, "N": 1}) == 11
    assert rt.render(e) == "((M * 2) + N)"
    for bad in ({"dim": "Q"}, {"op": "**", "args": [2, 3]}, {"op": "-", "args": [1]},
                {"op": "//", "args": [1, 0]}, {"op": "truncmod", "args": [1, 0]}, "M", True, 1.5):
        with pytest.raises(ValueError):
            rt.evaluate(bad, {"M": 1})


# --------------------------------------------------------------------------------------------
# argument checks (all raise before any CUDA call)
# --------------------------------------------------------------------------------------------
def test_wrong_dtype_is_a_type_error(pkg):
    with pytest.raises(TypeError, match=r"copy_tiles\(\): argument 'A' has dtype float32; "
                                        r"expected float16"):
        pkg.copy_tiles(FakeArray((64, 256), "<f4"), FakeArray((64, 256)))


def test_not_an_array(pkg):
    with pytest.raises(TypeError, match="argument 'A'.*is not a GPU array"):
        pkg.copy_tiles([[1.0]], FakeArray((64, 256)))


def test_wrong_shape(pkg):
    with pytest.raises(ValueError) as e:
        pkg.copy_tiles(FakeArray((4096, 128)), FakeArray((4096, 256)))
    assert str(e.value) == ("copy_tiles(): argument 'A' has shape (4096, 128); "
                            "expected (M, N) with M a multiple of 64 and M >= 64")
    with pytest.raises(ValueError, match=r"has shape \(64,\) \(1 dimensions\)"):
        pkg.copy_tiles(FakeArray((64,)), FakeArray((64, 256)))


def test_dim_constraint(pkg):
    with pytest.raises(ValueError, match=r"argument 'A' has shape \(100, 256\); expected \(M, N\) "
                                         r"with M a multiple of 64 and M >= 64 \(got M = 100\)"):
        pkg.copy_tiles(FakeArray((100, 256)), FakeArray((100, 256)))


def test_symbolic_dims_bind_from_the_first_argument(pkg):
    with pytest.raises(ValueError, match=r"argument 'B' has shape \(128, 256\); expected .* "
                                         r"\(M = 64 from argument 'A'\)"):
        pkg.copy_tiles(FakeArray((64, 256)), FakeArray((128, 256)))
    rt = pkg.copy_tiles.__globals__["_runtime"]
    kernel = pkg.copy_tiles.__globals__["_KERNEL"]
    views, env = rt.check_arguments(kernel, (FakeArray((192, 256)), FakeArray((192, 256))))
    assert env == {"M": 192, "N": 256}
    assert [v.shape for v in views] == [(192, 256), (192, 256)]


def test_checks_from_the_manifest(pkg):
    big = 1 << 21
    with pytest.raises(ValueError, match=r"M is at most 2\*\*20 \(M = 2097152, expected <= "):
        pkg.copy_tiles(FakeArray((big, 256)), FakeArray((big, 256)))


def test_misaligned_pointer(pkg):
    with pytest.raises(ValueError, match="argument 'B' has data pointer 0x7f0000000008, not "
                                         "16-byte aligned"):
        pkg.copy_tiles(FakeArray((64, 256)), FakeArray((64, 256), ptr=0x7F00_0000_0008))


def test_non_contiguous(pkg):
    with pytest.raises(ValueError, match="argument 'A' is not C-contiguous"):
        pkg.copy_tiles(FakeArray((64, 256), strides=(2, 128)), FakeArray((64, 256)))
    # explicit C-contiguous byte strides and CAI version 2 are fine
    rt = pkg.copy_tiles.__globals__["_runtime"]
    kernel = pkg.copy_tiles.__globals__["_KERNEL"]
    rt.check_arguments(kernel, (FakeArray((64, 256), strides=(512, 2), version=2),
                                FakeArray((64, 256))))


def test_checks_come_before_any_cuda_call(pkg, monkeypatch):
    rt = pkg.copy_tiles.__globals__["_runtime"]

    def no_cuda():
        raise AssertionError("CUDA reached")

    monkeypatch.setattr(rt, "_cuda", no_cuda)
    with pytest.raises(ValueError, match="not 16-byte aligned"):
        pkg.copy_tiles(FakeArray((64, 256), ptr=0x7F00_0000_0004), FakeArray((64, 256)))
    with pytest.raises(AssertionError, match="CUDA reached"):
        pkg.copy_tiles(FakeArray((64, 256)), FakeArray((64, 256)))


def test_launch_plans_are_cached_per_signature(pkg, monkeypatch):
    kernel = pkg.copy_tiles.__globals__["_KERNEL"]
    launched = []
    monkeypatch.setattr(kernel, "_launch", lambda views, plan, stream: launched.append(plan))
    a, b = FakeArray((192, 256)), FakeArray((192, 256), ptr=0x7F00_1000_0000)
    assert pkg.copy_tiles(a, b) is b
    pkg.copy_tiles(FakeArray((192, 256), ptr=0x7F00_2000_0000), b)
    assert launched[0] is launched[1] and len(kernel._plans) == 1
    plan = launched[0]
    assert (plan.grid, plan.block, plan.smem) == ((3, 4, 1), (256, 1, 1), 8192)
    assert plan.map_layouts == [((256, 192), (512,))]
    # a cached signature still gets its pointers checked
    with pytest.raises(ValueError, match="argument 'A' has data pointer 0x7f0000000008"):
        pkg.copy_tiles(FakeArray((192, 256), ptr=0x7F00_0000_0008), b)
    pkg.copy_tiles(FakeArray((128, 256)), FakeArray((128, 256)))
    assert len(kernel._plans) == 2 and launched[-1].grid == (2, 4, 1)


def test_parameters_are_packed_in_device_order(pkg):
    rt = pkg.copy_tiles.__globals__["_runtime"]
    kernel = pkg.copy_tiles.__globals__["_KERNEL"]
    views, env = rt.check_arguments(kernel, (FakeArray((192, 256), ptr=0x7F00_0000_0100),
                                             FakeArray((192, 256), ptr=0x7F00_0000_0200)))
    plan = rt.Plan(kernel, env, views)

    class TensorMap:                      # stands in for a cuda.bindings CUtensorMap
        def __init__(self):
            self.storage = (ctypes.c_uint8 * 128)()

        def getPtr(self):
            return ctypes.addressof(self.storage)

    tm = TensorMap()
    buffer = plan.packer.pack([v.ptr for v in views], [tm])
    slots = (ctypes.c_void_p * 3).from_address(buffer.address)
    # params: pointer B, tensormap 0, dim M (int32)
    assert ctypes.c_uint64.from_address(slots[0]).value == 0x7F00_0000_0200
    assert slots[1] == tm.getPtr()
    assert ctypes.c_int32.from_address(slots[2]).value == 192


def test_dim_parameters_must_fit_their_c_type(pkg):
    rt = pkg.copy_tiles.__globals__["_runtime"]
    kernel = pkg.copy_tiles.__globals__["_KERNEL"]
    with pytest.raises(ValueError, match=r"copy_tiles\(\): M = 2147483648 does not fit in int32"):
        rt.Plan(kernel, {"M": 2 ** 31, "N": 256}, [None, None])


def test_cpu_arrays_are_checked_before_their_device_is_refused(pkg):
    """numpy arrays (DLPack on the CPU) get the checks of GPU arrays, then the device check."""
    np = pytest.importorskip("numpy")
    cases = [
        ((np.zeros((100, 256), np.float16), np.zeros((100, 256), np.float16)), ValueError,
         r"argument 'A' has shape \(100, 256\); expected .* \(got M = 100\)"),
        ((np.zeros((64, 256), np.float32), np.zeros((64, 256), np.float16)), TypeError,
         "argument 'A' has dtype float32; expected float16"),
        ((np.zeros((256, 64), np.float16).T, np.zeros((64, 256), np.float16)), ValueError,
         "argument 'A' is not C-contiguous"),
        ((np.zeros((64, 256), np.float16), np.zeros((64, 256), np.float16)), ValueError,
         "argument 'A' is on the cpu device; expected a CUDA device array"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            pkg.copy_tiles(*args)


def test_dlpack_array(pkg):
    rt = pkg.copy_tiles.__globals__["_runtime"]
    shape = (ctypes.c_int64 * 2)(64, 256)
    managed = rt._DLManagedTensor()
    t = managed.dl_tensor
    t.data, t.ndim, t.shape, t.byte_offset = 0x7F00_0000_0000, 2, shape, 16
    t.device.device_type, t.device.device_id = 2, 0
    t.dtype.code, t.dtype.bits, t.dtype.lanes = 2, 16, 1
    new = ctypes.pythonapi.PyCapsule_New
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]

    class DLArray:
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, stream=None):
            return new(ctypes.addressof(managed), b"dltensor", None)

    v = rt.adapt(DLArray())
    assert (v.ptr, v.shape, v.strides, v.dtype, v.device) == (
        0x7F00_0000_0010, (64, 256), None, "float16", "cuda")
    kernel = pkg.copy_tiles.__globals__["_KERNEL"]
    rt.check_arguments(kernel, (DLArray(), FakeArray((64, 256))))


def test_dtype_table(pkg):
    rt = pkg.copy_tiles.__globals__["_runtime"]
    assert set(rt.DTYPES) == {"float16", "bfloat16", "float32", "float64", "int8", "int16",
                              "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                              "float8_e4m3", "float8_e5m2"}
    assert rt.adapt(FakeArray((1,), "|u1")).dtype == "uint8"
    assert rt.adapt(FakeArray((1,), "<i8")).dtype == "int64"


def test_stream_handles(pkg):
    rt = pkg.copy_tiles.__globals__["_runtime"]

    class WithPtr:
        ptr = 1234

    class WithCudaStream:
        cuda_stream = 99

    assert rt.stream_handle(5) == 5
    assert rt.stream_handle(WithPtr()) == 1234
    assert rt.stream_handle(WithCudaStream()) == 99
    with pytest.raises(TypeError, match="stream must be"):
        rt.stream_handle("default")


def test_missing_output_without_torch(pkg, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)      # makes `import torch` fail
    with pytest.raises(TypeError, match="argument 'B' was not given and torch is not available"):
        pkg.copy_tiles(FakeArray((64, 256)))


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def test_failure_mid_write_leaves_out_unchanged(tmp_path, monkeypatch):
    out = write_package(tmp_path / "kern", [artifact()])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []

    def failing(path, data):
        calls.append(path)
        if len(calls) == 4:
            raise OSError("disk full")
        real(path, data)

    real = package._write_file
    monkeypatch.setattr(package, "_write_file", failing)
    changed = copy.deepcopy(MANIFEST)
    changed["doc"] = "Changed."
    with pytest.raises(OSError, match="disk full"):
        write_package(out, [artifact(changed)])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kern"]


def test_failure_in_swap_restores_out(tmp_path, monkeypatch):
    out = write_package(tmp_path / "kern", [artifact()])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = package.os.rename

    def rename(src, dst):
        if str(src).startswith(str(tmp_path / ".kern.new-")):
            raise OSError("rename failed")
        real(src, dst)

    monkeypatch.setattr(package.os, "rename", rename)
    with pytest.raises(OSError, match="rename failed"):
        write_package(out, [artifact()])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kern"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_the_package_folder_has_the_mode_mkdir_gives(tmp_path, umask):
    """It was made with tempfile.mkdtemp (mode 0o700): no other user or container could import
    the package."""
    old = os.umask(umask)
    try:
        out = write_package(tmp_path / "kern", [artifact()])
        write_package(out, [artifact()])                    # a rewrite too
        (tmp_path / "plain").mkdir()
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask


def test_rewrite_replaces_the_package(tmp_path):
    out = write_package(tmp_path / "kern", [artifact()])
    (out / "stale.py").write_text("")
    write_package(out, [artifact()])
    assert not (out / "stale.py").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kern"]


def test_refuses_a_foreign_directory(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="non-empty directory that tlspec did not write"):
        write_package(foreign, [artifact()])
    assert (foreign / "notes.txt").read_text() == "keep me"
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        write_package(tmp_path / "afile", [artifact()])
    empty = tmp_path / "empty"
    empty.mkdir()
    write_package(empty, [artifact()])


@pytest.mark.parametrize("change", [
    {"name": "class"}, {"name": "_hidden"}, {"format": 2},
    {"arguments": [dict(MANIFEST["arguments"][0], name="stream")]},
    {"arguments": [dict(MANIFEST["arguments"][0], io="both")]}])
def test_invalid_manifests_are_refused(tmp_path, change):
    m = dict(copy.deepcopy(MANIFEST), **change)
    with pytest.raises(ValueError):
        write_package(tmp_path / "kern", [KernelArtifact(m["name"], m, "", b"")])
    assert not (tmp_path / "kern").exists()


def test_templates_are_found_in_the_source_tree():
    assert package.codegen_dir() == ROOT / "codegen"


# --------------------------------------------------------------------------------------------
# docs/artifacts.md: the manifest example is the GPU fixture's, and the ```python blocks that need
# no GPU run (tests/gpu runs the others)
# --------------------------------------------------------------------------------------------
def doc_blocks(info):
    text = (ROOT / "docs" / "artifacts.md").read_text()
    blocks, current = [], None
    for line in text.splitlines():
        if current is None and line.startswith("```") and line[3:].strip() == info:
            current = []
        elif current is not None and line.startswith("```"):
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_docs_manifest_example_is_the_gpu_fixture():
    (manifest,) = [json.loads(b) for b in doc_blocks("json manifest")]
    fixture = ROOT / "tests" / "gpu" / "fixtures" / "copy_tiles.json"
    assert manifest == json.loads(fixture.read_text())


def test_docs_manifest_example_builds(tmp_path):
    (manifest,) = [json.loads(b) for b in doc_blocks("json manifest")]
    mod = import_package(write_package(tmp_path / f"k{uuid.uuid4().hex[:8]}",
                                       [KernelArtifact("copy_tiles", manifest, "", b"")]))
    assert str(inspect.signature(mod.copy_tiles)) == "(A, B=None, *, stream=None)"


def test_docs_python_examples_run(tmp_path, monkeypatch):
    (manifest,) = [json.loads(b) for b in doc_blocks("json manifest")]
    runnable = [b for b in doc_blocks("python") if "torch" not in b]
    assert runnable
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [m for m in sys.modules if m == "kernels" or m.startswith("kernels.")]:
        monkeypatch.delitem(sys.modules, name)
    for block in runnable:
        exec(compile(block, "docs/artifacts.md", "exec"), {"MANIFEST": manifest})
    for name in [m for m in sys.modules if m == "kernels" or m.startswith("kernels.")]:
        del sys.modules[name]
