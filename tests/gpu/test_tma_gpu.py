"""The TMA kernels of tests/gpu/matrix/tma.tlspec.yaml on the GPU, bit-exact against the input,
outputs poisoned and inside poisoned guard regions: tensor maps the driver must accept (rank 1,
a row into a 1-D tile, swizzled tiles after a padded one, int16 and float8 data) and TMA where
the language promises it (one slot of a multi-slot tile, swizzled rows narrower than the span,
swizzled tiles of 4 rows), on sizes that divide the tiles and sizes that do not.

Before these fixes every call of the rank-1 kernels failed in cuTensorMapEncodeTiled
(CUDA_ERROR_INVALID_VALUE: cuda-python passed NULL for the empty stride list), the float8 one
failed in the run time (a tensor map dtype it did not know), the one with three swizzled tiles
hung (every descriptor parameter of A got the last map of A: fixed by helper 'scale', e50bcc3),
and the others did not compile or compiled to SIMT loops. 1-D tensors are copied by TMA only
when their length spans a multiple of 16 bytes (shorter tails did not copy bit-exactly). Imports only the compiled matrix package, torch and pytest (see
test_matrix_gpu.py: TLSPEC_MATRIX, default build/tlspec_matrix).
"""
import pytest
from gpu_support import assert_guards, assert_same, compiled_package, guarded, random, torch

kernels = compiled_package("TLSPEC_MATRIX", "tlspec_matrix", "tests/gpu/matrix")


def copies(name, shape, dtype, outputs):
    """Run kernel `name` on a random A of `shape`; each of its `outputs` must equal A."""
    a = random(shape, dtype)
    outs = [guarded(shape, dtype) for _ in range(outputs)]
    getattr(kernels, name)(a, *outs)
    torch.cuda.synchronize()
    for i, out in enumerate(outs):
        assert_same(out, a, f"output {i}")
        assert_guards(out, f"output {i}")


def cases(*sizes):
    return [pytest.param(size, id="x".join(map(str, size))) for size in sizes]


@pytest.mark.parametrize("shape", cases((4,), (256,), (1000,), (4100,)))
def test_rank_1(shape):
    """A 1-D tensor through a 256-element tile: rank-1 tensor maps, loaded and stored."""
    copies("tma_1d_f32", shape, torch.float32, 1)


@pytest.mark.parametrize("shape", cases((4,), (1020,), (1024,), (5000,)))
def test_rank_1_chunks_in_a_loop(shape):
    copies("tma_1d_for_f32", shape, torch.float32, 1)


@pytest.mark.parametrize("shape", cases((1, 256), (7, 256), (300, 256)))
def test_a_row_into_a_1d_tile(shape):
    copies("tma_row_f32", shape, torch.float32, 2)


@pytest.mark.parametrize("shape", cases((64, 48), (64, 96), (1, 8), (100, 136), (333, 1000)))
def test_swizzled_rows_narrower_than_the_span(shape):
    """96-byte rows in swizzle_128B tiles: TMA load -> TMA and SIMT stores, SIMT load -> TMA
    store."""
    copies("tma_swizzle_96_f16", shape, torch.float16, 3)


@pytest.mark.parametrize("shape", cases((64, 64), (64, 448), (100, 136), (333, 1000), (1, 8)))
def test_one_slot_of_a_multi_slot_tile(shape):
    """Slot k % 3 of each block's tile, reused every third tile (448 columns: seven tiles)."""
    copies("tma_slots_f16", shape, torch.float16, 2)


@pytest.mark.parametrize("shape", cases((4, 64), (1, 8), (13, 200), (333, 1000)))
def test_swizzled_tiles_of_four_rows(shape):
    copies("tma_rows4_bf16", shape, torch.bfloat16, 2)


@pytest.mark.parametrize("shape", cases((16, 64), (1, 8), (77, 136), (333, 1000)))
def test_swizzled_tiles_after_a_padded_one(shape):
    copies("tma_after_padded_f16", shape, torch.float16, 4)


@pytest.mark.parametrize("shape", cases((16, 64), (1, 8), (77, 136)))
def test_int16(shape):
    copies("tma_int16", shape, torch.int16, 1)


@pytest.mark.parametrize("shape", cases((16, 128), (1, 16), (77, 272)))
def test_float8(shape):
    copies("tma_float8", shape, torch.float8_e4m3fn, 1)
