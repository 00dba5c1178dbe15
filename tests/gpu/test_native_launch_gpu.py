"""The compiled launcher (codegen/_native_launch.c) with real torch tensors on a GPU, through the
package of tests/gpu/torchint (build/tlspec_torchint, compiled where a C compiler was): torch
publishes its DLPack C exchange API, repeated calls launch from C (the launcher's `hits`), and
what the C side keys a launch on (pointers with storage offsets, strides of views, torch's
current stream) gives bit-exact outputs, each compared with an independent torch reference
after poisoning. Every other GPU test's wrapper calls go through the same launcher.

Imports only the compiled package, torch and pytest."""
import pytest
from gpu_support import POISON, assert_guards, assert_same, bits, compiled_package, guarded, \
    random, torch

kernels = compiled_package("TLSPEC_TORCHINT", "tlspec_torchint", "tests/gpu/torchint")
runtime = kernels._runtime
native = runtime._native


def launcher(wrapper):
    found = wrapper.__globals__["_KERNEL"]._native
    assert found is not None, f"the package has no compiled launcher: {native.REASON}"
    return found


def test_torch_publishes_the_exchange_api_the_launcher_reads():
    assert native._module.has_exchange_api(torch.Tensor), torch.__version__
    x = torch.empty(64, 256, dtype=torch.float16, device="cuda")[:, ::2]
    assert native._module.exported_strides(x) == x.stride()
    print(f"torch {torch.__version__}: a unit dim's stride exported as it is: "
          f"{native.unit_dims_exact()}")


def test_repeated_calls_launch_from_c_bit_exact():
    a, b = random((256, 512)), guarded((256, 512))
    before = launcher(kernels.ti_copy).stats()["hits"]
    for _ in range(20):
        a.copy_(random((256, 512)))
        bits(b).fill_(POISON[torch.float16])
        assert kernels.ti_copy(a, b) is b
        torch.cuda.synchronize()
        assert_same(b, a)
    assert_guards(b)
    assert launcher(kernels.ti_copy).stats()["hits"] >= before + 18


def test_views_at_offsets_and_with_strides_launch_their_own_pointers():
    table = random((4096, 256))
    rows = torch.randint(0, 4096, (64,), dtype=torch.int32, device="cuda")
    base = torch.empty(4 * 64 * 256 + 256, dtype=torch.float16, device="cuda")
    for _ in range(3):
        for k in range(4):                       # outputs at four offsets of one allocation
            out = base[256 + k * 64 * 256: 256 + (k + 1) * 64 * 256].view(64, 256)
            bits(base).fill_(POISON[torch.float16])
            kernels.ti_gather(table, rows, out)
            torch.cuda.synchronize()
            assert_same(out, table[rows.long()])
            assert bits(base[:256]).eq(POISON[torch.float16]).all()
    # the same pointer and shape with other strides: another key, so the checks run again
    big = random((128, 512))
    flat = big.view(-1)[:128 * 256].view(128, 256)          # strides (256, 1)
    strided = big[:, :256]                                  # strides (512, 1), same pointer
    dst = guarded((128, 256))
    for _ in range(2):
        kernels.ti_copy(flat, dst)
    torch.cuda.synchronize()
    assert_same(dst, flat)
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.ti_copy(strided, dst)
    assert launcher(kernels.ti_gather).stats()["hits"] > 0


def test_the_current_stream_is_the_one_launched_on():
    """On a side stream: a long sleep, then A refilled, then the copy; had the copy been
    launched on another stream it would read A before the refill."""
    a, b = random((256, 512)), guarded((256, 512))
    kernels.ti_copy(a, b)
    side = torch.cuda.Stream()
    before = launcher(kernels.ti_copy).stats()["hits"]
    for _ in range(3):
        fresh = random((256, 512))
        torch.cuda.synchronize()
        with torch.cuda.stream(side):
            torch.cuda._sleep(20_000_000)
            a.copy_(fresh)
            bits(b).fill_(POISON[torch.float16])
            kernels.ti_copy(a, b)
        side.synchronize()
        assert_same(b, fresh)
    assert launcher(kernels.ti_copy).stats()["hits"] >= before + 2


def test_an_out_ops_repeated_calls_launch_from_c():
    ops = kernels.register_torch_ops("tlspec_native")
    a, b = random((128, 256)), guarded((128, 256))
    before = launcher(kernels.ti_copy).stats()["hits"]
    for _ in range(5):
        bits(b).fill_(POISON[torch.float16])
        ops.ti_copy_out(a, b)
        torch.cuda.synchronize()
        assert_same(b, a)
    assert launcher(kernels.ti_copy).stats()["hits"] >= before + 4
