"""The transpose's loops (tlspec.compiler.lower.transpose), in both forms, run on the CPU by
tests/tir_eval.py, thread after thread, over a shared-memory pool of random bytes: every element of
dst is the element of src at the transposed position, for each layout on either side (row-major,
padded, 32 / 64 / 128-byte swizzles: tir_eval.tile_offset, written from the hardware's definition of
TMA's swizzle), each element size, batch dimensions and thread counts that do not divide the work;
and nothing of the pool outside dst changes. The GPU tests check the compiled kernels (tests/gpu)."""
import numpy as np
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from pipeline_support import run_through, tile_ir, transpose_kernel
from tvm import tirx
from tir_tma import tile_offset
from tir_run import run_threads

DTYPES = {"int8": 1, "float16": 2, "float32": 4, "float64": 8}


def transposed_on_cpu(text: str, shape, dtype: str, src_layout: str, dst_layout: str,
                      threads: int):
    func = run_through(tile_ir(text), "LowerTileOp")["main"]
    placed = {}

    tvm_ffi.structural_walk(func.body, (tirx.DeclBuffer, lambda d: placed.update(
        {d.buffer.name: int(d.buffer.elem_offset)})), order="pre")
    allocated = []
    tvm_ffi.structural_walk(func.body, (tirx.AllocBuffer, lambda a: allocated.append(
        a.buffer.name)), order="pre")
    assert ("block" in allocated) == ("form: blocks" in text)      # the form asked for ran
    elem = DTYPES[dtype]
    rng = np.random.default_rng(7)
    pool = rng.integers(1, 256, int(func.attrs["tlspec.shared_bytes"]), dtype=np.uint8)
    before = pool.copy()
    dst_shape = (*shape[:-2], shape[-1], shape[-2])
    src_base, dst_base = placed["_flat_S"] * elem, placed["_flat_D"] * elem
    run_threads(func, "/stages/2/transpose", {"tlspec_smem.data": pool}, threads)
    written = np.zeros(len(pool), bool)
    for index in np.ndindex(*dst_shape):
        at = dst_base + tile_offset(dst_layout, dst_shape, elem, index)
        source = (*index[:-2], index[-1], index[-2])
        frm = src_base + tile_offset(src_layout, shape, elem, source)
        assert bytes(pool[at:at + elem]) == bytes(before[frm:frm + elem]), (index, source)
        written[at:at + elem] = True
    assert (pool[~written] == before[~written]).all(), "bytes outside dst changed"


LAYOUTS = ["row_major", "padded", "swizzle_32B", "swizzle_64B", "swizzle_128B"]


FORMS = {"columns": "", "blocks": ", form: blocks"}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dst_layout", LAYOUTS)
@pytest.mark.parametrize("src_layout", ["row_major", "padded", "swizzle_128B"])
def test_fp16_tiles_of_every_layout(src_layout, dst_layout, form):
    shape = (32, 64)
    transposed_on_cpu(transpose_kernel(shape, "float16", src_layout, dst_layout, 128, FORMS[form]), shape,
                      "float16", src_layout, dst_layout, 128)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_every_element_size(dtype, form):
    shape = (16, 32)
    transposed_on_cpu(transpose_kernel(shape, dtype, "padded", "swizzle_64B", 64, FORMS[form]), shape, dtype,
                      "padded", "swizzle_64B", 64)


@pytest.mark.parametrize("form", FORMS)
def test_batched_tiles_and_threads_that_do_not_divide_the_work(form):
    shape = (3, 8, 24)
    transposed_on_cpu(transpose_kernel(shape, "float16", "row_major", "padded", 96, FORMS[form]), shape,
                      "float16", "row_major", "padded", 96)


@pytest.mark.parametrize("shape, threads", [((64, 128), 256), ((128, 64), 512), ((64, 64), 32),
                                            ((8, 8), 32), ((24, 40), 64)])
def test_blocks_of_tiles_of_other_shapes(shape, threads):
    """Blocks of 4, 2, 8 and 1 rows x 8 columns (specs/transpose's tile of 64 x 128 with 256
    threads, its transposed shape with 512, a few threads, a single block), and block grids
    that are not powers of two (24 x 40)."""
    transposed_on_cpu(transpose_kernel(shape, "float16", "padded", "swizzle_128B" if shape[0] == 64 else
                           "padded", threads, FORMS["blocks"]), shape, "float16", "padded",
                      "swizzle_128B" if shape[0] == 64 else "padded", threads)
