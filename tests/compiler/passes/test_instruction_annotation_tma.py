"""InstructionAnnotation's choice of TMA: whenever the descriptor keeps the driver's rules
(tlspec.tensormap_rules) and TMA would place the elements where the tile keeps them.

Before: a copy into one slot of a multi-slot tile (docs/spec.md's multi-buffering pattern) or
from a row into a 1-D tile was never TMA ("the copy covers part of the tile", "different ranks"),
so `prefer_instruction: tma` on either, which validates, failed to compile."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
from copy_kernels import copy_kernel, one_d_copy
from pipeline_support import run_through, tile_ir

from tlspec.compiler import ops
from tlspec.compiler.analysis import tile_calls
from tlspec.compiler.errors import take_stage_error
from tlspec.validate import validate_text


def kernel(tile, load, store="A_s", *, dtype="float16", n="{symbolic: true, multiple_of: 8}",
           prefer="", layout="auto", loop=False):
    """B = A through `tile` (a shape), loaded from A[`load`] into `store` (a region of the tile),
    optionally in a `for k` loop of 4."""
    stages = [f'- copy: {{src: "A[{load}]", dst: "{store}"{prefer}}}',
              f'- copy: {{src: "{store}", dst: "B[{load}]", prefer_instruction: sync}}']
    if loop:
        stages = ["- for:", "    var: k", "    extent: 4", "    stages:"] + \
            ["      " + s for s in stages]
    return copy_kernel({"A_s": (tile, layout)}, stages, dtype=dtype,
                       dims=f"{{M: symbolic, N: {n}}}",
                       grid='{bx: "ceildiv(N, 64)", by: "ceildiv(M, 64)"}')


def load(text):
    """(instruction, why) of the first stage, the load."""
    mod = run_through(tile_ir(text), "InstructionAnnotation")
    config = ops.config_of(next(tile_calls(mod["main"].body)))
    return str(config["tlspec.instruction"]), str(config["tlspec.why"])


def refusal(text):
    """(pointer, message) of the located error that refuses `text`: validation's, where the spec
    already says it, else the compiler's."""
    result = validate_text(text)
    if not result.ok:
        [diagnostic] = result.diagnostics
        return diagnostic.pointer, diagnostic.message
    with pytest.raises(Exception) as caught:
        run_through(tile_ir(text), "InstructionAnnotation")
    error = take_stage_error(caught.value)
    assert error is not None, caught.value
    return error.pointer, error.message


SLOT = dict(tile=[3, 64, 64], load="by*64 : +64, k*64 : +64", store="A_s[k % 3, :, :]", loop=True)
ROW = dict(tile=[64], load="by, bx*64 : +64", store="A_s")


@pytest.mark.parametrize("case", [SLOT, dict(SLOT, layout="swizzle_128B"), ROW,
                                  dict(tile=[64, 48], load="by*64 : +64, bx*64 : +48",
                                       layout="swizzle_128B"),
                                  dict(tile=[4, 64], load="by*4 : +4, bx*64 : +64",
                                       layout="swizzle_128B"),
                                  dict(tile=[8, 64], load="by*8 : +8, bx*64 : +64",
                                       dtype="int16"),
                                  dict(tile=[64, 64], load="by*64 : +64, bx*64 - 8 : +64"),
                                  dict(tile=[64, 1, 64], load="by*64 : +64, bx*64 : +64",
                                       layout="swizzle_128B"),
                                  dict(tile=[1, 64, 1, 64], load="by*64 : +64, bx*64 : +64")],
                         ids=["slot", "swizzled slot", "row into 1-D", "96-byte swizzled rows",
                              "4 swizzled rows", "int16", "halo of 16 bytes",
                              "unit dim inside the tile", "unit dims around the tile"])
def test_tma_is_chosen(case):
    assert load(kernel(**case))[0] == "tma"


@pytest.mark.parametrize("case", [SLOT, ROW], ids=["slot", "row into 1-D"])
def test_prefer_instruction_tma_compiles(case):
    assert load(kernel(**case, prefer=", prefer_instruction: tma")) == (
        "tma", "prefer_instruction: tma")


@pytest.mark.parametrize("case, why, refused", [
    (dict(tile=[64, 64], load="by*64 : +64, bx*64 : +32", store="A_s[:, 0 : 32]"),
     "the copy covers a part of the tile 'A_s' that is not contiguous",
     ("/stages/0/copy/dst", "prefer_instruction tma: the region 'A_s[:, 0 : 32]' is not a "
                            "contiguous part of 'A_s'")),
    (dict(tile=[2, 4, 4], load="by*4 : +4, bx*64 + 4 : +4", store="A_s[1, :, :]",
          dtype="float32", n="{symbolic: true, multiple_of: 4}"),
     "the copied part of 'A_s' starts at byte 64 of it, not a multiple of 128",
     ("/stages/0/copy/dst", "prefer_instruction tma: the region 'A_s[1, :, :]' starts at byte 64 "
                            "of 'A_s'; TMA needs a multiple of 128")),
    (dict(tile=[64, 64], load="by*64 : +64, bx*64 : +64", n="{symbolic: true, multiple_of: 4}"),
     "a row stride of 'A' (N elements) is not proven to be a multiple of 16 bytes",
     ("/stages/0/copy/prefer_instruction", "this copy cannot use TMA: a row stride of 'A' (N "
                                           "elements) is not proven to be a multiple of 16 bytes")),
    (dict(tile=[64, 128], load="by*64 : +64, bx*64 : +128", layout="swizzle_128B"),
     "the box's innermost extent spans 256 bytes, more than the 128-byte swizzle",
     ("/stages/0/copy/dst", "prefer_instruction tma: with layout swizzle_128B, the box's "
                            "innermost extent spans 256 bytes, more than the 128-byte swizzle")),
    (dict(tile=[8, 512], load="by*8 : +8, bx*64 : +512"),
     "TMA boxes have 1 to 256 elements per dimension; this one has 512",
     ("/stages/0/copy/src", "prefer_instruction tma: TMA boxes have 1 to 256 elements per "
                            "dimension; this one has 512 (TMA box 'A[by*8 : +8, bx*64 : +512]')")),
    # the GPU faults (illegal instruction) on an innermost coordinate off 16 bytes: found by
    # the differential batch of seed 23 (halos of 2 uint16 and 1 float64 by TMA)
    (dict(tile=[64, 64], load="by*64 : +64, bx*64 - 2 : +64"),
     "the region of 'A' starts at element bx * 64 - 2 of its innermost dimension, not proven to "
     "be a multiple of 16 bytes (a TMA coordinate there must be)",
     ("/stages/0/copy/prefer_instruction", "this copy cannot use TMA: the region of 'A' starts "
      "at element bx * 64 - 2 of its innermost dimension, not proven to be a multiple of 16 "
      "bytes (a TMA coordinate there must be)")),
], ids=["not contiguous", "slot at byte 64", "unproven stride", "wider than the swizzle",
        "box of 512", "innermost start off 16 bytes"])
def test_a_copy_tma_cannot_do_is_a_simt_loop_or_a_located_error(case, why, refused):
    """Without prefer_instruction, a SIMT loop that says why; with prefer_instruction: tma, an
    error located by validation where the spec says it already, else by the compiler at the
    option."""
    assert load(kernel(**case)) == ("sync", f"SIMT loop ({why})")
    assert refusal(kernel(**case, prefer=", prefer_instruction: tma")) == refused


@pytest.mark.parametrize("n, instruction", [(1024, "tma"), ("{symbolic: true, multiple_of: 4}",
                                                            "tma"), (1001, "sync"),
                                            ("{symbolic: true}", "sync")])
def test_a_1d_tensor_is_tma_only_when_its_length_spans_a_multiple_of_16_bytes(n, instruction):
    """On an H200, rank-1 copies of 1 and 1023 float32 elements did not copy bit-exactly."""
    assert load(one_d_copy(n, load=None))[0] == instruction


def test_a_store_that_may_start_before_the_tensor_is_not_tma():
    """A TMA store from a coordinate before the tensor faults on the GPU (an aligned variant of
    tests/gpu/fill's halo_store_f32 did, at row by*16 - 1): such a store is a SIMT loop, which
    skips the elements before the start; prefer_instruction: tma on it is a located error."""
    def text(prefer=""):
        stages = ['- copy: {src: "A[by*64 : +64, bx*64 : +64]", dst: A_s}',
                  f'- copy: {{src: A_s, dst: "B[by*64 - 1 : +64, bx*64 : +64]"{prefer}}}']
        return copy_kernel({"A_s": ((64, 64), "swizzle_128B")}, stages,
                           grid='{bx: "ceildiv(N, 64)", by: "ceildiv(M, 64)"}')
    mod = run_through(tile_ir(text()), "InstructionAnnotation")
    store = ops.config_of(list(tile_calls(mod["main"].body))[1])
    why = ("the region of 'B' may start before the tensor in dimension 0 (at by * 64 - 1), and "
           "a TMA store cannot")
    assert str(store["tlspec.instruction"]) == "sync" and why in str(store["tlspec.why"])
    assert refusal(text(", prefer_instruction: tma")) == (
        "/stages/1/copy/prefer_instruction", f"this copy cannot use TMA: {why}")


def triangular(prefer: str = "") -> str:
    """A TMA-able load in `for k` whose extent depends on the outer `for i` (a triangle)."""
    return copy_kernel({"A_s": ((16,), "auto")}, [
        "- for:", "    var: i", "    extent: 3", "    stages:",
        "    - for:", "        var: k", "        extent: i + 1", "        stages:",
        f'        - copy: {{src: "A[i, k*16 : +16]", dst: A_s{prefer}}}',
        '        - copy: {src: A_s, dst: "B[i, k*16 : +16]"}'],
        dtype="float32", dims="{M: 3, N: 64}", grid="{bx: 1}")


def test_a_load_in_a_loop_whose_trip_count_depends_on_an_outer_loop_is_a_simt_loop():
    """Its mbarrier's phase would be counted as if every inner loop ran as often (the helper's
    find F5: the wait used the parity of k + i*(i+1), not of i*(i+1)/2 + k, and hung)."""
    instruction, why = load(triangular())
    assert instruction == "sync"
    assert "loop 'k' runs a number of times that depends on 'i'" in why
    pointer, message = refusal(triangular(", prefer_instruction: tma"))
    assert pointer.endswith("/copy/prefer_instruction")
    assert message == ("this copy cannot use TMA: its mbarrier's phase is counted from the loops "
                       "around it, and loop 'k' runs a number of times that depends on 'i'")
