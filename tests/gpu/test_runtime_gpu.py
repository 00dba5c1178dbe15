"""The generated package on a real GPU: fixture kernels from tests/gpu/fixtures/ (see README)."""
import importlib
import json
import sys
import threading
import uuid
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the GPU tests need torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from test_package import doc_blocks  # noqa: E402  (tests/ is on sys.path: its conftest)
from tlspec.package import KernelArtifact, write_package  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name):
    return KernelArtifact(name, json.loads((FIXTURES / f"{name}.json").read_text()),
                          (FIXTURES / f"{name}.cu").read_text(),
                          (FIXTURES / f"{name}.cubin").read_bytes())


def build(tmp_path, *names):
    out = write_package(tmp_path / f"gpu_{uuid.uuid4().hex[:8]}", [fixture(n) for n in names])
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(out.name)
    finally:
        sys.path.remove(str(tmp_path))


def poisoned_like(x):
    out = torch.empty_like(x)
    out.view(torch.int16).fill_(-1)       # 0xFFFF: a NaN pattern the kernel must overwrite
    return out


def same_bits(x, y) -> bool:
    return torch.equal(x.view(torch.int16), y.view(torch.int16))


def copy_checked(kernel, *shape):
    """kernel(a, b) on a random fp16 `a` and a poisoned `b`, then b == a bit for bit; (a, b)."""
    a = torch.randn(*shape, dtype=torch.float16, device="cuda")
    b = poisoned_like(a)
    assert kernel(a, b) is b
    torch.cuda.synchronize()
    assert same_bits(a, b)
    return a, b


def test_b1_copy(tmp_path):
    copy_checked(build(tmp_path, "b1_copy_sync").b1_copy_sync, 1024, 1024)


def test_b1_allocates_output_and_uses_stream(tmp_path):
    pkg = build(tmp_path, "b1_copy_sync")
    a = torch.randn(1024, 1024, dtype=torch.float16, device="cuda")
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        b = pkg.b1_copy_sync(a)                         # torch's current stream: s
    s.synchronize()
    assert b.shape == a.shape and b.dtype == a.dtype and b.is_cuda
    assert same_bits(a, b)
    c = poisoned_like(a)
    pkg.b1_copy_sync(a, c, stream=s)
    pkg.b1_copy_sync(a, poisoned_like(a), stream=s.cuda_stream)
    s.synchronize()
    assert same_bits(a, c)


def test_b1_errors(tmp_path):
    pkg = build(tmp_path, "b1_copy_sync")
    with pytest.raises(ValueError, match="argument 'A' is on the cpu device"):
        pkg.b1_copy_sync(torch.zeros(1024, 1024, dtype=torch.float16))
    with pytest.raises(TypeError, match="argument 'A' has dtype float32"):
        pkg.b1_copy_sync(torch.zeros(1024, 1024, device="cuda"))
    a = torch.zeros(1024, 1024, dtype=torch.float16, device="cuda")
    with pytest.raises(ValueError, match="not C-contiguous"):
        pkg.b1_copy_sync(a.t())


@pytest.mark.parametrize("m", [64, 1088])
def test_b5_symbolic_rows(tmp_path, m):
    pkg = build(tmp_path, "b5_copy_symM")
    copy_checked(pkg.b5_copy_symM, m, 1024)
    with pytest.raises(ValueError, match="multiple of 64"):
        pkg.b5_copy_symM(torch.zeros(100, 1024, dtype=torch.float16, device="cuda"))


def test_a_cached_plan_still_checks_each_call(tmp_path):
    # a torch tensor's plan is found by its shape, strides, dtype and device, read straight from
    # it: each way a tensor can differ from the cached one while keeping its shape still raises
    pkg = build(tmp_path, "b5_copy_symM")
    a, b = copy_checked(pkg.b5_copy_symM, 64, 1024)
    flat = torch.empty(64 * 1024 + 8, dtype=torch.float16, device="cuda")
    refused = [
        (flat[1:1 + 64 * 1024].view(64, 1024), ValueError,
         "has data pointer 0x[0-9a-f]+, not 16-byte aligned"),
        (torch.empty(1024, 64, dtype=torch.float16, device="cuda").t(), ValueError,
         "is not C-contiguous"),
        (a.float(), TypeError, "has dtype float32"),
        (a.cpu(), ValueError, "is on the cpu device"),
        (a[:32], ValueError, r"has shape \(32, 1024\)"),
    ]
    for x, error, message in refused:
        with pytest.raises(error, match=f"argument 'A' {message}"):
            pkg.b5_copy_symM(x, b)
    torch.cuda.synchronize()
    assert same_bits(a, b)
    assert len(pkg.b5_copy_symM.__globals__["_KERNEL"]._plans) == 1


@pytest.mark.parametrize("shape", [(4096, 4096), (1088, 192)])
def test_b6_tma_symbolic(tmp_path, shape):
    pkg = build(tmp_path, "b6_tma_symMN")
    copy_checked(pkg.b6_tma_symMN, *shape)
    # A second call with new pointers and the same shape, and one with another shape, reuse or
    # re-encode the tensor maps correctly.
    copy_checked(pkg.b6_tma_symMN, *shape)
    copy_checked(pkg.b6_tma_symMN, 128, 64)


@pytest.mark.parametrize("m", [64, 4096])
def test_copy_tiles_tma_load_and_plain_store(tmp_path, m):
    # device parameters (tensormap, pointer, dim): an order that is not the argument order
    pkg = build(tmp_path, "copy_tiles")
    a, _ = copy_checked(pkg.copy_tiles, m, 256)
    outputs = [pkg.copy_tiles(a) for _ in range(2)]      # allocated: a new plan, then reused
    torch.cuda.synchronize()
    for out in outputs:
        assert same_bits(a, out)


def test_docs_torch_examples_run(tmp_path, monkeypatch):
    blocks = [b for b in doc_blocks("python") if "import torch" in b]
    assert blocks
    write_package(tmp_path / "kernels", [fixture("copy_tiles")])
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        for block in blocks:
            exec(compile(block, "docs/artifacts.md", "exec"), {})
    finally:
        for name in [m for m in sys.modules if m == "kernels" or m.startswith("kernels.")]:
            del sys.modules[name]


def test_threads_share_a_plan_safely(tmp_path):
    # one signature, so one launch plan and one parameter buffer for every thread
    pkg = build(tmp_path, "copy_tiles")
    pairs = [(torch.randn(256, 256, dtype=torch.float16, device="cuda"),
              torch.empty(256, 256, dtype=torch.float16, device="cuda")) for _ in range(8)]
    torch.cuda.synchronize()

    def work(k):
        for _ in range(50):
            for a, b in pairs[k::4]:
                b.view(torch.int16).fill_(-1)
                pkg.copy_tiles(a, b)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    torch.cuda.synchronize()
    for a, b in pairs:
        assert same_bits(a, b)


def test_a_launch_made_in_one_thread_runs_in_a_thread_without_a_context(tmp_path):
    """The second call launches the launch the first one made without asking for the context;
    in a new thread, where no context is current yet, the driver refuses it
    (CUDA_ERROR_INVALID_CONTEXT) and the call makes the device's primary context current and
    launches there: bit-exact, and the thread's context is the primary one afterwards."""
    from cuda.bindings import driver

    kernel = build(tmp_path, "b5_copy_symM").b5_copy_symM
    a, b = copy_checked(kernel, 128, 1024)
    seen = {}

    b.view(torch.int16).fill_(-1)
    torch.cuda.synchronize()

    def work():                  # no torch call here: it would make a context current first
        seen["before"] = int(driver.cuCtxGetCurrent()[1])
        kernel(a, b, stream=0)
        seen["after"] = int(driver.cuCtxGetCurrent()[1])
        driver.cuCtxSynchronize()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen["before"] == 0
    primary = driver.cuDevicePrimaryCtxRetain(driver.cuDeviceGet(0)[1])[1]
    assert seen["after"] == int(primary)
    torch.cuda.synchronize()
    assert same_bits(a, b)
