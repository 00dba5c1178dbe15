"""Strided loads by TMA element strides on the GPU (tests/gpu/tma_stride/tma_stride.tlspec.yaml,
compiled into build/tlspec_tma_stride): every output compared bit-exactly with torch's own
strided slicing, random non-zero inputs (random bits for the 1-byte types), outputs poisoned and
guarded, ragged shapes whose last tiles lie partly past the tensor (TMA reads zeros there, and
the rows past the output's end are not written):

- every s-th row (`a[::s]`), s = 2, 3, 4, 8, in float16, float32, int8 and float8_e4m3 (moved
  as bytes): one TMA load per tile whose tensor map traverses 16 x s rows by an element stride
  of s;
- the odd rows (`a[1::s]`): the traversal starts at an odd coordinate;
- steps on both outer dimensions of a 3-D tensor (`a[::2, ::3]`);
- a pitched view (`torch.as_strided`, rows 16-byte multiples apart) read every other row;
- strided loads into swizzle_128B slots of a pipeline, issued iterations ahead and by a
  warp-specialized producer (their bytes complete on the pipeline's mbarriers);
- what TMA cannot traverse, by SIMT loops: a step on the contiguous dimension (`a[:, ::s]`,
  float16 and float8_e4m3) and a step of 9.

Each test also reads the compiled package's manifest (<kernel>.json): the strided kernels must
have a tensor map of A with the steps as element strides (so the test fails if the compiler fell
back to a SIMT loop), the others none.

Imports only the compiled package, torch and pytest (TLSPEC_TMA_STRIDE: the package directory).
"""
import json
from pathlib import Path

import pytest
from gpu_support import assert_guards, assert_same, cases, compiled_package, guarded, random, \
    torch

kernels = compiled_package("TLSPEC_TMA_STRIDE", "tlspec_tma_stride", "tests/gpu/tma_stride")
PACKAGE = Path(kernels.__file__).parent
DTYPES = {"f16": torch.float16, "f32": torch.float32, "i8": torch.int8,
          "e4m3": torch.float8_e4m3fn}
# (M, N): N a multiple of 16 (the rows of every dtype 16-byte multiples); M ragged, from one row
SHAPES = cases((1, 16), (17, 48), (100, 1008), (257, 64), (1000, 208))


def ceildiv(a, b):
    return -(-a // b)


def element_strides(name: str, argument: str = "A") -> list | None:
    """The element strides (innermost first) of the tensor map of `argument` in every variant
    of kernel `name` (the base kernel and a size-specialized `__aligned` one), None where a
    variant has no map of it (a SIMT loop reads it)."""
    found = set()
    for path in PACKAGE.glob(f"{name}*.json"):
        if path.stem in (name, f"{name}__aligned"):
            maps = json.loads(path.read_text()).get("tensormaps", [])
            read = next((t for t in maps if t["argument"] == argument), None)
            found.add(None if read is None else tuple(read["element_strides"]))
    assert found, f"no manifest of {name} in {PACKAGE}"
    return [None if s is None else list(s) for s in found]


def run(name, a, out_shape, dtype):
    out = guarded(out_shape, dtype)
    getattr(kernels, name)(a, out)
    torch.cuda.synchronize()
    return out


def check(out, want, what):
    assert_same(out, want, what)
    assert_guards(out, what)


@pytest.mark.parametrize("tag", DTYPES)
@pytest.mark.parametrize("step", [2, 3, 4, 8])
@pytest.mark.parametrize("m, n", SHAPES)
def test_every_sth_row_by_tma_element_strides(tag, step, m, n):
    name, dtype = f"rows_s{step}_{tag}", DTYPES[tag]
    assert element_strides(name) == [[1, step]], "the strided load is not one TMA copy"
    a = random((m, n), dtype)
    out = run(name, a, (ceildiv(m, step), n), dtype)
    check(out, a[::step].contiguous(), "B")


@pytest.mark.parametrize("step", [2, 3])
@pytest.mark.parametrize("m, n", cases((2, 16), (18, 48), (101, 1008), (258, 64)))
def test_the_odd_rows_start_the_traversal_at_row_1(step, m, n):
    name = f"odd_rows_s{step}_f16"
    assert element_strides(name) == [[1, step]]
    a = random((m, n))
    out = run(name, a, (ceildiv(m - 1, step), n), torch.float16)
    check(out, a[1::step].contiguous(), "B")


@pytest.mark.parametrize("nb, r, c", cases((1, 1, 4), (3, 50, 68), (5, 100, 256), (4, 48, 64)))
def test_steps_on_two_outer_dimensions(nb, r, c):
    assert element_strides("batch_rows_f32") == [[1, 3, 2]]
    a = random((nb, r, c), torch.float32)
    out = run("batch_rows_f32", a, (ceildiv(nb, 2), ceildiv(r, 3), c), torch.float32)
    check(out, a[::2, ::3].contiguous(), "B")


@pytest.mark.parametrize("m, n, ld", [(1, 8, 8), (33, 104, 112), (100, 1000, 1024),
                                      (64, 64, 128)])
def test_every_other_row_of_a_pitched_view(m, n, ld):
    assert element_strides("pitched_rows_f16") == [[1, 2]]
    a = torch.as_strided(random((m * ld,)), (m, n), (ld, 1))
    out = run("pitched_rows_f16", a, (ceildiv(m, 2), n), torch.float16)
    check(out, a[::2].contiguous(), "B")


@pytest.mark.parametrize("name, step", [("pipelined_rows_s2_f16", 2),
                                        ("specialized_rows_s4_f16", 4)])
def test_strided_loads_into_the_swizzled_slots_of_a_pipeline(name, step):
    assert element_strides(name) == [[1, step]]
    a = random((1000, 512))
    out = run(name, a, (ceildiv(1000, step), 512), torch.float16)
    check(out, a[::step].contiguous(), "B")


@pytest.mark.parametrize("tag, step", [("f16", 2), ("f16", 3), ("f16", 4), ("f16", 8),
                                       ("e4m3", 2)])
@pytest.mark.parametrize("m, n", cases((1, 1), (17, 130), (100, 1000), (16, 512)))
def test_a_step_on_the_contiguous_dimension_is_a_simt_loop(tag, step, m, n):
    name, dtype = f"cols_s{step}_{tag}", DTYPES[tag]
    assert element_strides(name) == [None], "TMA cannot stride the innermost dimension"
    a = random((m, n), dtype)
    out = run(name, a, (m, ceildiv(n, step)), dtype)
    check(out, a[:, ::step].contiguous(), "B")


@pytest.mark.parametrize("m, n", SHAPES)
def test_a_step_of_9_is_a_simt_loop(m, n):
    assert element_strides("rows_s9_f16") == [None], "TMA element strides are at most 8"
    a = random((m, n))
    out = run("rows_s9_f16", a, (ceildiv(m, 9), n), torch.float16)
    check(out, a[::9].contiguous(), "B")
