"""LowerHopperIntrin: tirx lowers the TMA copies; copies with identical tensor maps share one
descriptor (one kernel parameter)."""
import pytest

tvm = pytest.importorskip("tvm", reason="the passes run on tvm IR")
import tvm_ffi
from pipeline_support import run_through, tile_ir
from tvm import tirx

from tlspec.compiler.passes.lower_hopper_intrin import ENCODE

KERNEL = """
tlspec: 1
name: tma_copies
target: sm_90a
dims:
  M: {m}
  N: {n}
buffers:
  A: {{scope: global, shape: [M, N], dtype: float16, io: in}}
  B: {{scope: global, shape: [M, N], dtype: float16, io: out}}
  S16: {{scope: shared.dyn, shape: [16, 64], dtype: float16}}
  S32: {{scope: shared.dyn, shape: [32, 64], dtype: float16}}
launch:
  grid: {{bx: "ceildiv(M, 32)"}}
  threads: 128
stages:
"""
LOAD = '  - copy: {{src: "A[bx*32 : +{rows}, {col} : +64]", dst: S{rows}, prefer_instruction: tma}}\n'
STORE = '  - copy: {{src: S{rows}, dst: "B[bx*32 : +{rows}, {col} : +64]", prefer_instruction: tma}}\n'
CONSTANT = {"m": 4096, "n": 256}
SYMBOLIC = {"m": "{symbolic: true}", "n": "{symbolic: true, multiple_of: 8}"}


def spec(dims: dict, copies: list[tuple[int, int]]) -> str:
    """Each (rows, col) of `copies`: a TMA load of A's rows x 64 tile at column `col`, then its
    store to B."""
    return KERNEL.format(**dims) + "".join(
        LOAD.format(rows=r, col=c) + STORE.format(rows=r, col=c) for r, c in copies)


def encodings(mod) -> list:
    found = []
    tvm_ffi.structural_walk(mod["main"].body, (tvm.ir.Call, lambda c: found.append(c) if isinstance(
        c.op, tvm.ir.Op) and c.op.name == ENCODE else None), order="pre")
    return found


def descriptors_used(mod) -> set[str]:
    """The descriptor variables the code reads."""
    names = set()
    tvm_ffi.structural_walk(mod["main"].body, (tirx.Var, lambda v: names.add(v) if "tensormap"
                                               in v.name else None), order="pre")
    return names


@pytest.mark.parametrize("dims", [CONSTANT, SYMBOLIC], ids=["constant", "symbolic"])
def test_copies_with_the_same_map_share_one_descriptor(dims):
    """Four loads of A and four stores to B with one box each: two encodings, and the bulk copies
    read only those two descriptors."""
    mod = run_through(tile_ir(spec(dims, [(16, 0), (16, 64), (16, 128), (16, 192)])),
                      "LowerHopperIntrin")
    calls = encodings(mod)
    assert len(calls) == 2
    kept = {call.args[0] for call in calls}
    used = descriptors_used(mod)
    assert len(used) == 2 and all(any(v.same_as(k) for k in kept) for v in used)


def test_different_boxes_keep_their_own_descriptors():
    """A 16-row and a 32-row tile of the same tensors: four maps, none shared."""
    mod = run_through(tile_ir(spec(CONSTANT, [(16, 0), (32, 64), (16, 128)])), "LowerHopperIntrin")
    assert len(encodings(mod)) == 4


def test_the_kernel_takes_one_parameter_per_distinct_map():
    mod = run_through(tile_ir(spec(CONSTANT, [(16, c) for c in (0, 64, 128, 192)] + [(32, 0)])),
                      "SplitHostDevice")
    kernel = mod["tma_copies_kernel"]
    assert sorted(p.name for p in kernel.params) == ["A_tensormap", "A_tensormap", "B_tensormap",
                                                     "B_tensormap"]
