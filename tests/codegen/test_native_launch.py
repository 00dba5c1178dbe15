"""The compiled launcher (codegen/_native_launch.c, codegen/_native.py) without a GPU, against
the fake libcuda and the fake DLPack exchange API of bench/host_overhead.py: which calls it
launches from C (`hits`) and which it leaves to the Python path (`misses`), and that either way
each launch gets its own call's pointers, dims and stream (test_launch_ctypes.py runs the
launch cases in both modes)."""
import ctypes
import importlib.util
import shutil
import sys

import pytest
from conftest import ROOT
from fake_driver_launches import BASE, run

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
PAIR = f"""
def pair(k, m=64):
    return (Tensor((m, 1024), {BASE} + k * 0x200000, half),
            Tensor((m, 1024), {BASE + 0x100000} + k * 0x200000, half))
"""


def params(k, m=64):
    return [BASE + k * 0x200000, BASE + 0x100000 + k * 0x200000, m]


def test_a_repeated_call_launches_from_c_after_the_first():
    got = run("b5_copy_symM", 3, PAIR + """
a, b = pair(0)
results = [pkg.b5_copy_symM(a, b) is b for _ in range(5)]
said = all(results)
""")
    assert got["said"] is True                      # the output is returned, as by the wrapper
    assert [r["params"] for r in got["records"]] == [params(0)] * 5
    assert got["stats"] == {"hits": 4, "misses": 1, "remembered": 1}


def test_more_pointer_pairs_than_it_remembers_each_launch_their_own():
    got = run("b5_copy_symM", 3, PAIR + """
pairs = [pair(k) for k in range(40)]
for _ in range(3):
    for a, b in pairs:
        pkg.b5_copy_symM(a, b)
""")
    assert [r["params"] for r in got["records"]] == [params(k) for k in range(40)] * 3
    assert got["stats"]["remembered"] == 16 and got["stats"]["hits"] + \
        got["stats"]["misses"] == 120


def test_shapes_streams_and_the_current_stream_are_part_of_the_key():
    got = run("b5_copy_symM", 3, PAIR + """
import fake_exchange
for _ in range(2):
    pkg.b5_copy_symM(*pair(0))                  # the current stream: 0
    pkg.b5_copy_symM(*pair(0, 128))             # another shape: M = 128
    pkg.b5_copy_symM(*pair(0), stream=7)
fake_exchange.set_stream(55)                    # torch's current stream changes
for _ in range(2):
    pkg.b5_copy_symM(*pair(0))
""")
    assert [(r["stream"], r["params"]) for r in got["records"]] == \
        [(0, params(0)), (0, params(0, 128)), (7, params(0))] * 2 + [(55, params(0))] * 2
    assert got["stats"] == {"hits": 4, "misses": 4, "remembered": 4}


def test_calls_it_cannot_repeat_take_the_python_path():
    """An omitted output, a stream object, arrays without an exchange API and a tensor whose
    export fails all launch through the Python path, correctly."""
    got = run("b5_copy_symM", 3, PAIR + """
import types
a, b = pair(0)
for _ in range(2):
    out = pkg.b5_copy_symM(a)                               # the output allocated
    pkg.b5_copy_symM(a, b, stream=types.SimpleNamespace(cuda_stream=9))
    pkg.b5_copy_symM(h.CaiArray((64, 1024), a._ptr), h.CaiArray((64, 1024), b._ptr))
    c, d = pair(1)
    c._dl = None                                            # its export raises
    pkg.b5_copy_symM(c, d)
said = type(out).__name__
""")
    records = got["records"]
    assert [r["params"][2] for r in records] == [64] * 8
    assert [r["stream"] for r in records] == [0, 9, 0, 0] * 2
    assert [r["params"][:2] for r in records[3::4]] == [params(1)[:2]] * 2
    assert got["said"] == "PooledTensor"
    assert got["stats"]["hits"] == 0 and got["stats"]["misses"] == 8


def test_threads_calling_at_once_launch_their_own_pointers():
    got = run("b5_copy_symM", 3, PAIR + """
sys.setswitchinterval(1e-6)
pairs = [pair(k) for k in range(24)]

def work(k):     # two pairs a thread, and now and then a third: remembered launches replaced
    for i in range(300):
        pkg.b5_copy_symM(*pairs[k * 3 + (i % 2 if i % 10 else 2)], stream=k + 1)

threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
""")
    assert len(got["records"]) == 2400
    for r in got["records"]:
        k = (r["params"][0] - BASE) // 0x200000
        assert r["params"] == params(k)
    assert got["stats"]["hits"] > 0


def test_without_the_launcher_the_python_path_launches_alike():
    calls = PAIR + """
for _ in range(3):
    pkg.b5_copy_symM(*pair(0))
    pkg.b5_copy_symM(*pair(1), stream=3)
"""
    native, python = run("b5_copy_symM", 3, calls), run("b5_copy_symM", 3, calls, native=False)
    assert python["stats"] is None and native["stats"]["hits"] == 4
    strip = [[(r["stream"], r["params"], r["grid"]) for r in got["records"]]
             for got in (native, python)]
    assert strip[0] == strip[1]


# -- the Launcher's rules, in this process (no driver: nothing here is launched) ----------------
@pytest.fixture(scope="module")
def native(tmp_path_factory):
    """(the compiled launcher's module, bench/host_overhead.py with its fake exchange API)."""
    from tlspec import native_launch
    data, why = native_launch.library()
    assert data, why
    folder = tmp_path_factory.mktemp("native")
    (folder / native_launch.LIBRARY).write_bytes(data)
    spec = importlib.util.spec_from_file_location("_native_launch",
                                                  folder / native_launch.LIBRARY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.path.insert(0, str(ROOT / "bench"))
    import host_overhead
    host_overhead.load_fake_exchange(folder)
    return module, host_overhead


def remembers(native, values, stream=None, hstream=0, pointers=None, unit_dims=False):
    module, h = native
    launcher = module.Launcher(len(values), (1,), lambda values, stream: "python path")
    pointers = pointers or tuple(v._ptr for v in values)
    return launcher.remember(tuple(values), stream, hstream, pointers, 1, 2, 3, 4, object(),
                             unit_dims)


def tensors(h, m=64, n=1024):
    half = h._Dtype("float16")
    return [h.Tensor((m, n), BASE, half), h.Tensor((m, n), BASE + 0x100000, half)]


def test_a_unit_dim_is_remembered_only_where_its_stride_is_reported_as_it_is(native):
    h = native[1]
    assert remembers(native, tensors(h))
    assert not remembers(native, tensors(h, m=1))
    assert remembers(native, tensors(h, m=1), unit_dims=True)


def test_it_remembers_only_the_stream_and_pointers_it_would_look_up(native):
    h = native[1]
    assert not remembers(native, tensors(h), hstream=5)           # stream None is stream 0
    assert remembers(native, tensors(h), stream=5, hstream=5)
    assert not remembers(native, tensors(h), stream=object(), hstream=0)
    assert not remembers(native, tensors(h), pointers=(BASE, BASE + 0x200000))
    assert not remembers(native, [h.CaiArray((64, 1024), BASE)] * 2, pointers=(BASE, BASE))


def test_a_call_not_remembered_returns_the_python_paths_answer(native):
    module, h = native
    launcher = module.Launcher(2, (1,), lambda values, stream: ("python path", stream))
    assert launcher.call(tuple(tensors(h)), 3) == ("python path", 3)
    assert launcher.call((None, None), None) == ("python path", None)
    assert launcher.stats() == {"hits": 0, "misses": 2, "remembered": 0}
    with pytest.raises(TypeError, match="takes 2 arguments"):
        launcher.call(())
    with pytest.raises(ValueError, match="bad output"):
        module.Launcher(2, (2,), print)
    for n in (0, module.MAX_ARRAYS + 1):            # a kernel of more arrays has none
        with pytest.raises(ValueError, match="from 1 to MAX_ARRAYS arrays"):
            module.Launcher(n, (), print)


def test_exported_strides_are_read_through_the_types_exchange_api(native):
    module, h = native
    assert module.exported_strides(tensors(h)[0]) == (1024, 1)
    assert module.exported_strides(object()) is None


def test_a_wrapper_choosing_a_variant_shares_one_launcher_among_its_kernels():
    """The aligned wrapper of test_aligned_call.py's manifests: each call launches the kernel
    chosen for its dims (the variant for N a multiple of 16), from C once seen."""
    got = run("b5_copy_symM", 4, f"""
sys.path.insert(0, {str(ROOT / "tests" / "codegen")!r})
import copy, importlib
from test_aligned_call import manifest
from tlspec.package import KernelArtifact, write_package
general = manifest("copy")
general["aligned"] = {{"kernel": "copy__aligned", "multiple_of": {{"N": 16}}}}
aligned = KernelArtifact("copy__aligned", manifest("copy__aligned", 16), "", b"aligned")
write_package(directory / "apkg", [KernelArtifact("copy", general, "", b"general",
                                                  aligned=aligned)])
import apkg
module = sys.modules["apkg.copy"]
for _ in range(3):
    for n in (64, 40):
        a, b = Tensor((8, n), {BASE}, half), Tensor((8, n), {BASE + 0x10000}, half)
        apkg.copy(a, b)
        module._KERNEL((a, b), None)     # the general kernel called directly (a torch op's way)
said = [module._NATIVE.stats(), module._KERNEL._native, module._ALIGNED._native]
""")
    records = got["records"]
    assert [r["params"] for r in records] == [[BASE, BASE + 0x10000, 8, n]
                                              for n in (64, 64, 40, 40)] * 3
    aligned, general = records[0]["function"], records[1]["function"]
    assert aligned != general
    # the wrapper's N = 64 call launches the variant every time, though the general kernel
    # was launched directly on the same arrays in between; N = 40 is the general kernel's
    assert [r["function"] for r in records] == [aligned, general, general, general] * 3
    assert got["said"] == [{"hits": 4, "misses": 2, "remembered": 2}, None, None]


def test_subclasses_of_one_exporter_are_launched_from_c_alike():
    """torch.nn.Parameter next to torch.Tensor: the same exchange API, so one key."""
    got = run("b5_copy_symM", 3, f"""
class Parameter(Tensor):
    pass

Parameter.__module__ = "torch"
a = Parameter((64, 1024), {BASE}, half)
b = Tensor((64, 1024), {BASE + 0x100000}, half)
for _ in range(4):
    pkg.b5_copy_symM(a, b)
""")
    assert [r["params"] for r in got["records"]] == [params(0)] * 4
    assert got["stats"] == {"hits": 3, "misses": 1, "remembered": 1}


def test_only_a_dlpack_1_3_capsule_is_taken_for_an_exchange_api(native):
    """An address given as an int (an earlier form, which may point at an older table) or a
    capsule of another name: the Python path."""
    module, h = native
    py = ctypes.pythonapi
    py.PyCapsule_New.restype, py.PyCapsule_GetPointer.restype = ctypes.py_object, ctypes.c_void_p
    py.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    py.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    # the fake's own (working) table, offered in the two forms not taken
    table = py.PyCapsule_GetPointer(h.Tensor.__dlpack_c_exchange_api__, b"dlpack_exchange_api")
    name = ctypes.create_string_buffer(b"other_api")
    assert remembers(native, tensors(h))
    for api in (table, py.PyCapsule_New(table, name, None)):
        class Other(h.Tensor):
            __dlpack_c_exchange_api__ = api
        Other.__module__ = "torch"
        half = h._Dtype("float16")
        values = [Other((64, 1024), BASE, half), Other((64, 1024), BASE + 0x100000, half)]
        assert not remembers(native, values)


def test_arrays_of_another_framework_take_the_python_path_even_with_an_exchange_api():
    """For stream=None the Python path launches on torch's current stream, which another
    exporter's current_work_stream need not report: only torch tensors are repeated from C."""
    got = run("b5_copy_symM", 3, f"""
import struct
streams = [0]
torch._C._cuda_getCurrentRawStream = lambda device: streams[0]

class XArray(h.CaiArray):
    def __init__(self, shape, ptr):
        super().__init__(shape, ptr)
        self._dl = struct.pack("<QiiiBBH4q", ptr, 2, 0, 2, 2, 16, 1, *shape, shape[1], 1)

XArray.__module__ = "mylib"
XArray.__dlpack_c_exchange_api__ = h.Tensor.__dlpack_c_exchange_api__
a, b = XArray((64, 1024), {BASE}), XArray((64, 1024), {BASE + 0x100000})
for stream in (0, 0, 55, 55):
    streams[0] = stream                  # torch.cuda.set_stream(...)
    pkg.b5_copy_symM(a, b)
""")
    assert [r["stream"] for r in got["records"]] == [0, 0, 55, 55]
    assert got["stats"]["hits"] == 0


def test_a_finalizer_run_by_a_released_launch_finds_its_slot_empty(native):
    """Releasing a remembered launch's objects may run Python code that reaches the Launcher
    (forget, call): the slot is emptied before they are released (a double free otherwise)."""
    module, h = native
    values = tuple(tensors(h))
    launcher = module.Launcher(2, (1,), lambda values, stream: "python path")
    seen = []

    class Keep:
        def __del__(self):
            seen.append((launcher.stats()["remembered"], launcher.call((None, None), None)))
            launcher.forget()

    pointers = tuple(v._ptr for v in values)
    for _ in range(2):       # the second replaces the first in its slot, then forget empties it
        assert launcher.remember(values, None, 0, pointers, 1, 2, 3, 4, Keep(), False)
    launcher.forget()
    assert seen == [(1, "python path"), (0, "python path")]
    assert launcher.stats()["remembered"] == 0
