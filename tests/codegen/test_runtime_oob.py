"""The debug mode's wrapper (codegen/_oob.py) without a GPU: the compiled kernels of
tests/gpu/oob_error/debug.tlspec.yaml on test_launch_path's fake driver, extended with device
memory, synchronization and stream capture, whose launches write the fault record a kernel
would. The record is allocated once per context and passed as the hidden parameter; every call
synchronizes its stream; a fault is raised as the interpreter's located error (compared with the
interpreter's own text, run on inputs with that very fault), the record cleared so that the
next call runs; a call under graph capture is refused before it launches.
tests/gpu/test_oob_error_gpu.py runs the kernels for real."""
import ctypes
import json
import os
from importlib.util import find_spec

import numpy as np
import pytest

from conftest import ROOT, compile_here
from test_launch_path import BASE, Dtype, Driver, Names, Tensor, build, package, torch  # noqa: F401

pytestmark = pytest.mark.skipif(find_spec("tvm") is None,
                                reason="compiling the kernels needs apache-tvm")
SPEC = ROOT / "tests" / "gpu" / "oob_error" / "debug.tlspec.yaml"
INT32, INT64 = Dtype("int32"), Dtype("int64")


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    out = tmp_path_factory.mktemp("oob") / "tlspec_oob_debug"
    compile_here(out, SPEC)
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")
            if not p.name.startswith("_")}


class FaultDriver(Driver):
    """Driver with device memory (ctypes buffers), synchronization and capture; a launch
    writes `fault` (the record's words after the flag) into the record it is given."""
    CUstreamCaptureStatus = Names()

    def __init__(self, manifest):
        super().__init__(len(manifest["params"]))
        self.slot = [p["kind"] for p in manifest["params"]].index("fault_record")
        self.memory, self.calls, self.fault, self.capturing = {}, [], None, False

    def cuMemAlloc(self, size):
        buffer = ctypes.create_string_buffer(b"\xff" * size)     # not zero until memset
        self.memory[ctypes.addressof(buffer)] = buffer
        self.calls.append(("alloc", self.current))
        return 0, ctypes.addressof(buffer)

    def cuMemsetD8(self, pointer, value, size):
        ctypes.memset(pointer, value, size)
        return (0,)

    def cuMemsetD8Async(self, pointer, value, size, stream):
        self.calls.append(("clear", stream))
        return self.cuMemsetD8(pointer, value, size)

    def cuCtxSynchronize(self):
        return (0,)

    def cuStreamSynchronize(self, stream):
        self.calls.append(("sync", stream))
        return (0,)

    def cuMemcpyDtoH(self, host, device, size):
        ctypes.memmove(host, device, size)
        return (0,)

    def cuStreamIsCapturing(self, stream):
        return 0, ("CU_STREAM_CAPTURE_STATUS_ACTIVE" if self.capturing else
                   "CU_STREAM_CAPTURE_STATUS_NONE")

    def cuLaunchKernel(self, *args):
        ret = super().cuLaunchKernel(*args)
        record = self.launches[-1].params[self.slot]
        words = (ctypes.c_int64 * 24).from_address(record)
        assert words[0] == 0, "a launch found the record not cleared"
        if self.fault is not None:
            words[0] = 1
            words[1:1 + len(self.fault)] = self.fault
        return ret


def record(site, block, rows=(), values=(), loops=()):
    """The words a kernel writes after the flag: site, blockIdx x, y, z, rows, values, loops."""
    def padded(words, n):
        return list(words) + [0] * (n - len(words))

    return [site, *padded(block, 3), *padded(rows, 3), *padded(values, 8), *padded(loops, 8)]


def interpreted_error(name, arrays):
    """The interpreter's located error for kernel `name` of SPEC on numpy `arrays`."""
    from tlspec.interpret import InterpretError, load

    with pytest.raises(InterpretError) as error:
        getattr(load(SPEC), name)(*arrays)
    return str(error.value)


def test_the_record_is_a_hidden_parameter_allocated_once_per_context(build, manifests):
    manifest = manifests["paged_debug_f16"]
    assert {"kind": "fault_record"} in manifest["params"]
    assert [a["name"] for a in manifest["arguments"]] == ["cache", "block_table", "out"]
    driver = FaultDriver(manifest)
    fn, _ = build(manifest, driver)
    cache, table, out = (Tensor((3, 16, 72)), Tensor((2, 2), BASE + 0x100000, INT32),
                         Tensor((2, 20, 72), BASE + 0x200000))
    for _ in range(3):
        fn(cache, table, out)
    assert driver.calls == [("alloc", 0x1000)] + [("sync", 1000)] * 3      # one sync per call
    records = {launch.params[driver.slot] for launch in driver.launches}
    assert len(records) == 1 and records.pop() in driver.memory
    driver.devices[0x2000] = 0
    driver.current = 0x2000                   # another context: a record of its own
    fn(cache, table, out)
    assert driver.calls[-2:] == [("alloc", 0x2000), ("sync", 1000)]


def test_a_fault_raises_the_interpreters_located_error_and_clears_the_record(build, manifests):
    manifest = manifests["paged_debug_f16"]
    driver = FaultDriver(manifest)
    fn, _ = build(manifest, driver)
    cache, table, out = (Tensor((10, 16, 72)), Tensor((2, 3), BASE + 0x100000, INT32),
                         Tensor((2, 40, 72), BASE + 0x200000))
    driver.fault = record(1, (1, 1), rows=[16], values=[99])     # site 1: index 0's value
    with pytest.raises(IndexError) as error:
        fn(cache, table, out)
    assert type(error.value).__name__ == "OutOfRangeError"
    numpy_table = np.array([[0, 1, 2], [3, 99, 4]], np.int32)
    expected = interpreted_error("paged_debug_f16", [
        np.zeros((10, 16, 72), np.float16), numpy_table, np.zeros((2, 40, 72), np.float16)])
    assert str(error.value) == expected
    assert "outside [0, 10) of dimension 0 of 'cache'" in expected
    assert "hint: out_of_range: error stops here; with 'fill' the row is filled" in expected
    assert driver.calls[-3:] == [("sync", 1000), ("clear", 1000), ("sync", 1000)]
    driver.fault = None
    fn(cache, table, out)                     # the record was cleared: the next call runs


def test_a_read_outside_an_index_tensor_names_the_read(build, manifests):
    manifest = manifests["paged_debug_f16"]
    driver = FaultDriver(manifest)
    fn, _ = build(manifest, driver)
    driver.fault = record(0, (2, 0), rows=[32], values=[0, 2])   # site 0: the block_table read
    with pytest.raises(IndexError) as error:
        fn(Tensor((3, 16, 72)), Tensor((2, 2), BASE + 0x100000, INT32),
           Tensor((2, 48, 72), BASE + 0x200000))
    assert str(error.value) == interpreted_error("paged_debug_f16", [
        np.zeros((3, 16, 72), np.float16), np.zeros((2, 2), np.int32),
        np.zeros((2, 48, 72), np.float16)])


def test_an_index_region_in_a_loop_names_the_position_and_the_loop(build, manifests):
    manifest = manifests["rows_chunks_debug_i8"]
    driver = FaultDriver(manifest)
    fn, _ = build(manifest, driver)
    idx = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, -5, 2], np.int64)
    driver.fault = record(0, (1,), values=[1, -5], loops=[0])
    with pytest.raises(IndexError) as error:
        fn(Tensor((16, 128), dtype=Dtype("int8")), Tensor((19,), BASE + 0x100000, INT64),
           Tensor((19, 128), BASE + 0x200000, Dtype("int8")))
    expected = interpreted_error("rows_chunks_debug_i8", [
        np.zeros((16, 128), np.int8), idx, np.zeros((19, 128), np.int8)])
    assert str(error.value) == expected
    assert "block (bx=1), c = 0: index position 1 of 'idx[bx*16 : +16]' holds -5" in expected


def test_a_call_under_graph_capture_is_refused_before_it_launches(build, manifests):
    manifest = manifests["rows_scatter_debug_f32"]
    driver = FaultDriver(manifest)
    fn, _ = build(manifest, driver)
    f32 = Dtype("float32")
    args = (Tensor((8, 64), dtype=f32), Tensor((4,), BASE + 0x100000, INT32),
            Tensor((4, 64), BASE + 0x200000, f32))
    driver.capturing = True
    with pytest.raises(RuntimeError, match=r"out_of_range: error \(the debug mode\), which "
                                           r"synchronizes after each launch.*CUDA graph capture"):
        fn(*args)
    assert not driver.launches and not driver.calls          # nothing allocated nor launched
    driver.capturing = False
    fn(*args)
    assert len(driver.launches) == 1



@pytest.fixture(scope="module")
def doc_example(tmp_path_factory):
    """docs/spec.md's debug-mode example compiled as paged.tlspec.yaml (from its folder, so that
    the errors name it so): (folder, manifest, the text the document shows after it)."""
    from doc_examples import fenced_blocks
    from tlspec.compiler.driver import compile_paths

    blocks = fenced_blocks(ROOT / "docs" / "spec.md")
    at = next(i for i, b in enumerate(blocks) if "name: paged_debug\n" in b.text)
    folder = tmp_path_factory.mktemp("doc_example")
    (folder / "paged.tlspec.yaml").write_text(blocks[at].text)
    here = os.getcwd()
    os.chdir(folder)
    try:
        assert compile_paths(["paged.tlspec.yaml"], str(folder / "out"), workers=1).ok
    finally:
        os.chdir(here)
    manifest = json.loads((folder / "out" / "paged_debug.json").read_text())
    return folder, manifest, blocks[at + 1].text.rstrip("\n")


def test_the_example_of_docs_spec_md_raises_what_the_document_shows(package, doc_example,
                                                                     monkeypatch):
    """Called with 10 pages and block_table[1, 1] = 99, the example's wrapper raises the text
    the document shows, which is also the interpreter's."""
    folder, manifest, shown = doc_example
    driver = FaultDriver(manifest)
    module = package(manifest)
    monkeypatch.setattr(module._runtime, "_cuda", lambda: driver)
    driver.fault = record(1, (1, 1), rows=[16], values=[99])
    with pytest.raises(IndexError) as error:
        module.paged_debug(Tensor((10, 16, 128)), Tensor((2, 2), BASE + 0x100000, INT32),
                           Tensor((2, 32, 128), BASE + 0x200000))
    assert str(error.value) == shown
    from tlspec.interpret import InterpretError, load

    monkeypatch.chdir(folder)
    with pytest.raises(InterpretError) as interpreted:
        load("paged.tlspec.yaml").paged_debug(
            np.zeros((10, 16, 128), np.float16), np.array([[0, 1], [2, 99]], np.int32),
            np.zeros((2, 32, 128), np.float16))
    assert str(interpreted.value) == shown
