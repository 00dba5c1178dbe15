"""The ctypes launcher (codegen/_launch.py) without a GPU: a package's calls against the fake
libcuda of bench/host_overhead.py (tests/fake_driver_launches.py). Every case runs twice:
through the Python path alone (TLSPEC_NATIVE_LAUNCH=0, a package without a compiled launcher)
and with the compiled launcher (codegen/_native_launch.c), which launches the calls it
remembers from C."""
import json
import shutil

import pytest
from conftest import ROOT
from fake_driver_launches import BASE, run

MODE = {"native": True}      # set by the fixture below for each case


@pytest.fixture(autouse=True, params=["python", "native"])
def launcher(request):
    MODE["native"] = request.param == "native"
    yield request.param
    MODE["native"] = True


def launches(kernel, nparams, body):
    return run(kernel, nparams, body, MODE["native"])["records"]

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")

def test_simt_launches_pass_each_calls_pointers_stream_and_dims():
    got = launches("b5_copy_symM", 3, f"""
        a, b = Tensor((128, 1024), {BASE}, half), Tensor((128, 1024), {BASE + 0x100000}, half)
        c, d = Tensor((128, 1024), {BASE + 0x200000}, half), Tensor((128, 1024), {BASE + 0x300000}, half)
        for _ in range(2):
            pkg.b5_copy_symM(a, b)
            pkg.b5_copy_symM(c, d)
        pkg.b5_copy_symM(a, b, stream=77)
    """)
    assert [(r["grid"], r["block"], r["smem"], r["attrs"]) for r in got] == \
        [([2, 8, 1], [256, 1, 1], 0, 0)] * 5
    assert [r["params"] for r in got] == [
        [BASE, BASE + 0x100000, 128], [BASE + 0x200000, BASE + 0x300000, 128]] * 2 + [
        [BASE, BASE + 0x100000, 128]]
    assert [r["stream"] for r in got] == [0, 0, 0, 0, 77]     # the fake torch's stream is 0
    assert len({r["function"] for r in got}) == 1 and got[0]["function"]


def test_tma_launches_pass_the_map_encoded_for_each_pointer():
    got = launches("b6_tma_symMN", 4, f"""
        for i in range(2):
            a = Tensor((128, 64), {BASE} + i * 0x100000, half)
            b = Tensor((128, 64), {BASE + 0x80000} + i * 0x100000, half)
            pkg.b6_tma_symMN(a, b)
            pkg.b6_tma_symMN(a, b)
    """)
    # params: map A, map B, M, N; the fake map's first 8 bytes are the address it was made for
    assert [r["params"] for r in got] == [
        [BASE + i * 0x100000, BASE + 0x80000 + i * 0x100000, 128, 64]
        for i in (0, 0, 1, 1)]


def test_a_cluster_launch_carries_the_cluster_attribute():
    manifest = json.loads((ROOT / "tests/gpu/fixtures/b5_copy_symM.json").read_text())
    assert "cluster" not in manifest
    got = launches("b5_copy_symM", 3, f"""
        import json
        kernel = pkg.b5_copy_symM.__globals__["_KERNEL"]
        kernel.cluster = [2, 1, 1]
        pkg.b5_copy_symM(Tensor((64, 1024), {BASE}, half), Tensor((64, 1024), {BASE + 0x100000}, half))
    """)
    assert [(r["attrs"], r["attr_id"], r["cluster"]) for r in got] == [(1, 4, [2, 1, 1])]


def test_threads_launch_their_own_pointers():
    got = launches("b5_copy_symM", 3, f"""
        sys.setswitchinterval(1e-6)
        pairs = [(Tensor((64, 1024), {BASE} + k * 0x200000, half),
                  Tensor((64, 1024), {BASE + 0x100000} + k * 0x200000, half)) for k in range(8)]

        def work(k):
            for _ in range(200):
                pkg.b5_copy_symM(*pairs[k], stream=k + 1)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    """)
    assert len(got) == 1600
    expected = {k + 1: [BASE + k * 0x200000, BASE + 0x100000 + k * 0x200000, 64]
                for k in range(8)}
    assert all(r["params"] == expected[r["stream"]] for r in got)
    assert sorted(r["stream"] for r in got) == [k for k in range(1, 9) for _ in range(200)]


def test_threads_making_plans_and_evicting_launches_launch_their_own_pointers():
    """8 threads, 300 calls each, every call on new pointers (more than a plan keeps launches
    for, so the caches evict while other threads read them), two threads per shape."""
    got = launches("b5_copy_symM", 3, f"""
        sys.setswitchinterval(1e-6)

        def work(k):
            m = 64 * (k % 4 + 1)
            for i in range(300):
                a = {BASE} + k * 0x10000000 + i * 0x10000
                pkg.b5_copy_symM(Tensor((m, 1024), a, half), Tensor((m, 1024), a + 0x8000, half))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    """)
    assert len(got) == 2400
    for r in got:
        a, b, m = r["params"]
        k = (a - BASE) // 0x10000000
        assert b == a + 0x8000 and m == 64 * (k % 4 + 1) and r["grid"] == [m // 64, 8, 1]
    assert len({r["params"][0] for r in got}) == 2400


def test_a_launch_follows_a_change_of_the_current_context():
    """The launch last made for a call's pointers is launched without asking which context is
    current; once the caller has made another context current, the driver refuses that function
    (CUDA_ERROR_INVALID_HANDLE) and the call launches in the new context instead: the kernel
    loaded there, the same parameters."""
    done = run("b5_copy_symM", 3, f"""
        a, b = Tensor((64, 1024), {BASE}, half), Tensor((64, 1024), {BASE + 0x100000}, half)
        pkg.b5_copy_symM(a, b)
        pkg.b5_copy_symM(a, b)
        other = ctypes.c_char.in_dll(lib, "other_context")
        assert lib.cuCtxSetCurrent(ctypes.c_void_p(ctypes.addressof(other))) == 0
        pkg.b5_copy_symM(a, b)
        pkg.b5_copy_symM(a, b)
    """, MODE["native"])
    got = done["records"]
    if MODE["native"]:     # the third call refused in C, relaunched and remembered anew
        assert done["stats"] == {"hits": 2, "misses": 2, "remembered": 1}
    assert len(got) == 4
    assert got[0]["function"] == got[1]["function"] != got[2]["function"] == got[3]["function"]
    assert all(r["params"] == [BASE, BASE + 0x100000, 64] for r in got)


@pytest.mark.parametrize("calls_before", [0, 1, 2])
def test_a_failing_launch_names_the_call_and_the_drivers_error(calls_before):
    """A first launch and a launch already made (the Python path's, the compiled launcher's
    after two calls) fail alike; the next call launches."""
    done = run("b5_copy_symM", 3, f"""
        a, b = Tensor((64, 1024), {BASE}, half), Tensor((64, 1024), {BASE + 0x100000}, half)
        for _ in range({calls_before}):
            pkg.b5_copy_symM(a, b)
        ctypes.c_int.in_dll(lib, "fail_launches").value = 1
        try:
            pkg.b5_copy_symM(a, b)
        except RuntimeError as e:
            said = str(e)
        ctypes.c_int.in_dll(lib, "fail_launches").value = 0
        pkg.b5_copy_symM(a, b)
    """, MODE["native"])
    got = done["said"]
    assert len(done["records"]) == calls_before + 1
    assert got == ("b5_copy_symM(): cuLaunchKernelEx(copy_symM_kernel, grid=(1, 8, 1), "
                   "block=(256, 1, 1), smem=0) failed: CUDA_ERROR_FAKE: fake driver")
