"""tlspec kernels inside PyTorch programs on a GPU (tests/gpu/torchint, compiled into
build/tlspec_torchint; TLSPEC_TORCHINT: the package directory), every output compared bit-exactly
with an independent torch reference (indexing, clone) after being poisoned:

- the package's kernels as torch.library custom ops (register_torch_ops): the functional op
  allocates and returns the outputs, the _out op writes the given ones, an inout argument is
  mutated; eager, under torch.compile(fullgraph=True) with static and dynamic shapes, and with
  mode="reduce-overhead" (CUDA graphs made by torch); the fake implementation refuses what the
  kernel refuses, while tracing;
- CUDA graph capture of wrapper calls and ops, on an explicit stream and on torch's current
  stream, replayed many times on refilled inputs;
- calls from 8 threads at once, each on its own stream, tensors of each thread's own shapes,
  and from threads on two GPUs where there are two;
- arrays through __cuda_array_interface__ and DLPack objects (and CuPy, JAX where installed);
- every ```python example of docs/torch.md, run in order.

Imports only the compiled package, torch and pytest.
"""
import re
import sys
import threading

import pytest
from gpu_support import POISON, ROOT, assert_guards, assert_same, bits, compiled_package, \
    guarded, random, torch

kernels = compiled_package("TLSPEC_TORCHINT", "tlspec_torchint", "tests/gpu/torchint")
NS = "tlspec_ti"
ops = kernels.register_torch_ops(NS)
V, D = 4096, 256


def poisoned_allocations(shape, dtype=torch.float16):
    """Poison the block torch's caching allocator hands out next for `shape`: an output that the
    op allocates itself then starts poisoned (a kernel that skips an element leaves poison)."""
    x = torch.empty(shape, dtype=dtype, device="cuda")
    bits(x).fill_(POISON[dtype])
    torch.cuda.synchronize()
    del x


def indices(r, distinct=False):
    values = torch.randperm(V, device="cuda")[:r] if distinct else \
        torch.randint(0, V, (r,), device="cuda")
    return values.to(torch.int32)


def run_threads(target, args_list):
    """Run target(*args) in one thread per args; re-raise the first exception of any thread."""
    errors = []

    def wrapped(*args):
        try:
            target(*args)
        except BaseException as e:        # noqa: BLE001  (reported in the main thread)
            errors.append(e)

    threads = [threading.Thread(target=wrapped, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# --------------------------------------------------------------------------------------------
# custom ops, eager
# --------------------------------------------------------------------------------------------
def test_registration_gives_both_ops_with_their_schemas():
    assert kernels.register_torch_ops(NS) is ops
    schemas = {name: str(getattr(torch.ops.tlspec_ti, name).default._schema)
               for name in ("ti_copy", "ti_copy_out", "ti_gather", "ti_scatter")}
    assert schemas == {
        "ti_copy": "tlspec_ti::ti_copy(Tensor A) -> Tensor",
        "ti_copy_out": "tlspec_ti::ti_copy_out(Tensor A, Tensor(a!) B) -> ()",
        "ti_gather": "tlspec_ti::ti_gather(Tensor table, Tensor idx) -> Tensor",
        "ti_scatter": "tlspec_ti::ti_scatter(Tensor(a!) table, Tensor idx, Tensor rows) -> ()"}


@pytest.mark.parametrize("r", [16, 48, 1024])
def test_the_functional_op_allocates_its_output(r):
    table, idx = random((V, D)), indices(r)
    poisoned_allocations((r, D))
    out = torch.ops.tlspec_ti.ti_gather(table, idx)
    torch.cuda.synchronize()
    assert_same(out, table[idx.long()])


def test_the_out_op_writes_the_given_output():
    a = random((192, 384))
    b = guarded((192, 384))
    assert torch.ops.tlspec_ti.ti_copy_out(a, b) is None
    torch.cuda.synchronize()
    assert_same(b, a)
    assert_guards(b)


def test_an_inout_argument_is_mutated():
    table, idx, rows = random((V, D)), indices(64, distinct=True), random((64, D))
    want = table.clone()
    want[idx.long()] = rows
    torch.ops.tlspec_ti.ti_scatter(table, idx, rows)
    torch.cuda.synchronize()
    assert_same(table, want)


def test_the_ops_refuse_what_the_wrappers_refuse():
    with pytest.raises(ValueError, match=r"ti_gather\(\): argument 'idx' has shape \(10,\)"):
        torch.ops.tlspec_ti.ti_gather(random((V, D)), indices(10))
    with pytest.raises(TypeError, match=r"ti_gather\(\): argument 'idx' has dtype int64"):
        torch.ops.tlspec_ti.ti_gather(random((V, D)), indices(16).long())


def test_meta_tensors_get_the_manifests_output_shapes():
    table = torch.empty(V, D, dtype=torch.float16, device="meta")
    out = torch.ops.tlspec_ti.ti_gather(table, torch.empty(96, dtype=torch.int32, device="meta"))
    assert (out.shape, out.dtype, out.device.type) == ((96, D), torch.float16, "meta")


# --------------------------------------------------------------------------------------------
# torch.compile
# --------------------------------------------------------------------------------------------
def test_compile_fullgraph_traces_through_the_ops():
    torch._dynamo.reset()

    def f(table, idx, a):
        rows = torch.ops.tlspec_ti.ti_gather(table, idx)
        copied = torch.ops.tlspec_ti.ti_copy(a)
        return -rows, rows.flip(0), copied.t().contiguous()

    compiled = torch.compile(f, fullgraph=True, dynamic=False)
    for r in (32, 32, 64):
        table, idx, a = random((V, D)), indices(r), random((128, 256))
        neg, flipped, copied_t = compiled(table, idx, a)
        torch.cuda.synchronize()
        assert_same(neg, -table[idx.long()])
        assert_same(flipped, table[idx.long()].flip(0))
        assert_same(copied_t, a.t().contiguous())


def test_compile_with_dynamic_shapes():
    torch._dynamo.reset()
    compiled = torch.compile(lambda table, idx: torch.ops.tlspec_ti.ti_gather(table, idx) * 1,
                             fullgraph=True, dynamic=True)
    for r in (16, 48, 96, 160):
        table, idx = random((V, D)), indices(r)
        assert_same(compiled(table, idx), table[idx.long()])


def test_compile_with_mutation_and_out_ops():
    torch._dynamo.reset()

    @torch.compile(fullgraph=True, dynamic=False)
    def f(table, idx, rows, a, b):
        torch.ops.tlspec_ti.ti_scatter(table, idx, rows)
        torch.ops.tlspec_ti.ti_copy_out(a, b)
        return table[:4].clone(), b + 0

    table, idx, rows = random((V, D)), indices(64, distinct=True), random((64, D))
    a, b = random((64, 128)), torch.empty(64, 128, dtype=torch.float16, device="cuda")
    bits(b).fill_(POISON[torch.float16])
    want = table.clone()
    want[idx.long()] = rows
    head, b_plus = f(table, idx, rows, a, b)
    torch.cuda.synchronize()
    assert_same(table, want)
    assert_same(head, want[:4])
    assert_same(b, a)
    assert_same(b_plus, a)


def test_compile_refuses_while_tracing_with_the_kernels_message():
    torch._dynamo.reset()
    compiled = torch.compile(lambda t, i: torch.ops.tlspec_ti.ti_gather(t, i), fullgraph=True,
                             dynamic=False)
    with pytest.raises(Exception, match=re.escape("ti_gather(): argument 'idx' has shape (10,)")):
        compiled(random((V, D)), indices(10))


def test_compile_reduce_overhead_replays_bit_exact():
    """mode="reduce-overhead": torch's own CUDA graphs around the compiled code."""
    torch._dynamo.reset()
    compiled = torch.compile(lambda a: torch.ops.tlspec_ti.ti_copy(a).flip(1),
                             fullgraph=True, dynamic=False, mode="reduce-overhead")
    a = random((256, 512))
    for _ in range(20):
        a.copy_(random((256, 512)))
        out = compiled(a).clone()
        torch.cuda.synchronize()
        assert_same(out, a.flip(1))


# --------------------------------------------------------------------------------------------
# CUDA graphs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("explicit", [True, False], ids=["explicit-stream", "current-stream"])
def test_wrapper_calls_are_captured_and_replayed_bit_exact(explicit):
    a, b = random((256, 512)), guarded((256, 512))
    table, idx, out = random((V, D)), indices(128), guarded((128, D))
    kernels.ti_copy(a, b)                       # warm-up: module loaded, plans made
    kernels.ti_gather(table, idx, out)
    torch.cuda.synchronize()
    stream = torch.cuda.Stream()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        if explicit:
            kernels.ti_copy(a, b, stream=stream)
            kernels.ti_gather(table, idx, out, stream=stream.cuda_stream)
        else:
            kernels.ti_copy(a, b)
            kernels.ti_gather(table, idx, out)
    for _ in range(100):
        a.copy_(random((256, 512)))
        table.copy_(random((V, D)))
        idx.copy_(indices(128))
        bits(b).fill_(POISON[torch.float16])
        bits(out).fill_(POISON[torch.float16])
        graph.replay()
        torch.cuda.synchronize()
        assert_same(b, a)
        assert_same(out, table[idx.long()])
    assert_guards(b)
    assert_guards(out)


def test_capture_of_new_pointers_and_of_an_allocating_call():
    """A call on pointers first seen during capture (tensor maps encoded then), and a call whose
    output the wrapper allocates from the graph's pool."""
    kernels.ti_copy(random((64, 128)), torch.empty(64, 128, dtype=torch.float16, device="cuda"))
    a, b = random((128, 256)), guarded((128, 256))
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        kernels.ti_copy(a, b)
        allocated = kernels.ti_copy(a)
    for _ in range(50):
        a.copy_(random((128, 256)))
        bits(b).fill_(POISON[torch.float16])
        bits(allocated).fill_(POISON[torch.float16])
        graph.replay()
        torch.cuda.synchronize()
        assert_same(b, a)
        assert_same(allocated, a)


def test_ops_are_captured_and_replayed_bit_exact():
    table, idx, rows = random((V, D)), indices(64, distinct=True), random((64, D))
    torch.ops.tlspec_ti.ti_scatter(table, idx, rows)
    torch.ops.tlspec_ti.ti_gather(table, idx)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        torch.ops.tlspec_ti.ti_scatter(table, idx, rows)
        gathered = torch.ops.tlspec_ti.ti_gather(table, idx)
    for _ in range(50):
        table.copy_(random((V, D)))
        rows.copy_(random((64, D)))
        bits(gathered).fill_(POISON[torch.float16])
        want = table.clone()
        want[idx.long()] = rows
        graph.replay()
        torch.cuda.synchronize()
        assert_same(table, want)
        assert_same(gathered, rows)


# --------------------------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------------------------
def copy_many(k, calls, device="cuda"):
    """On its own stream: ti_copy of a tensor of this thread's own shape, `calls` times on
    alternating output tensors, each checked."""
    with torch.cuda.device(device):
        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream):
            a = random((64 * (k % 4 + 1), 128 * (k % 3 + 1)))
            outs = [torch.empty_like(a) for _ in range(2)]
            for i in range(calls):
                out = outs[i % 2]
                bits(out).fill_(POISON[torch.float16])
                kernels.ti_copy(a, out)
                if i % 25 == 0:
                    table = torch.full((V, D), k, dtype=torch.float16, device=a.device)
                    gathered = kernels.ti_gather(table, indices(16))
                    assert bool((gathered == k).all())
                assert bits(out).eq(bits(a)).all().item(), f"thread {k}, call {i}"
        stream.synchronize()


def test_threads_on_their_own_streams():
    a = random((64, 128))
    kernels.ti_copy(a, torch.empty_like(a))
    torch.cuda.synchronize()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        run_threads(copy_many, [(k, 100) for k in range(8)])
    finally:
        sys.setswitchinterval(interval)


def test_threads_without_item_syncs_stay_exact():
    """8 threads, 200 launches each without a host sync between them, on their own streams
    and their own pointers; checked once at the end."""
    pairs = [(random((128, 256)), guarded((128, 256))) for _ in range(8)]
    torch.cuda.synchronize()

    def work(k):
        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream):
            for _ in range(200):
                kernels.ti_copy(*pairs[k])
        stream.synchronize()

    run_threads(work, [(k,) for k in range(8)])
    for a, b in pairs:
        assert_same(b, a)
        assert_guards(b)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_threads_on_two_devices():
    run_threads(copy_many, [(k, 50, f"cuda:{k % 2}") for k in range(4)])


# --------------------------------------------------------------------------------------------
# other array kinds
# --------------------------------------------------------------------------------------------
class Cai:
    """Only __cuda_array_interface__, of a torch tensor."""

    def __init__(self, t):
        self.t, self.__cuda_array_interface__ = t, t.__cuda_array_interface__


class DLPack:
    """Only __dlpack__ and __dlpack_device__, of a torch tensor."""

    def __init__(self, t):
        self.t = t

    def __dlpack__(self, **kw):
        return self.t.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self.t.__dlpack_device__()


@pytest.mark.parametrize("wrap", [Cai, DLPack], ids=["cuda-array-interface", "dlpack"])
def test_other_array_kinds_launch_bit_exact(wrap):
    for _ in range(3):                          # the plan is found again on the second call
        a, b = random((192, 256)), guarded((192, 256))
        kernels.ti_copy(wrap(a), wrap(b), stream=torch.cuda.current_stream().cuda_stream)
        torch.cuda.synchronize()
        assert_same(b, a)
        assert_guards(b)


def test_cupy_arrays():
    cupy = pytest.importorskip("cupy")
    a = cupy.asarray(random((64, 128)).view(torch.int16).cpu().numpy()).view(cupy.float16)
    b = cupy.full((64, 128), POISON[torch.float16], dtype=cupy.int16).view(cupy.float16)
    kernels.ti_copy(a, b, stream=cupy.cuda.get_current_stream().ptr)
    cupy.cuda.get_current_stream().synchronize()
    assert bool((a.view(cupy.int16) == b.view(cupy.int16)).all())


def test_jax_arrays(monkeypatch):
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")     # leave torch its memory
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        pytest.skip("jax has no GPU here")
    a = jax.device_put(jnp.arange(64 * 128, dtype=jnp.float16).reshape(64, 128) + 1, gpus[0])
    b = jax.device_put(jnp.zeros((64, 128), jnp.float16), gpus[0])
    a.block_until_ready()
    b.block_until_ready()
    kernels.ti_copy(a, b, stream=0)
    torch.cuda.synchronize()
    assert bool((jnp.asarray(b) == jnp.asarray(a)).all())


# --------------------------------------------------------------------------------------------
# docs/torch.md
# --------------------------------------------------------------------------------------------
def python_blocks(path):
    text = path.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_docs_torch_examples_run():
    blocks = python_blocks(ROOT / "docs" / "torch.md")
    assert len(blocks) >= 6
    torch._dynamo.reset()
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/torch.md", "exec"), namespace)
