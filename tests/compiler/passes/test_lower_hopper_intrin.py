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


def ptx_chains(mod) -> list[str]:
    """The cp.async.bulk.tensor instructions of the kernel, as PTX spells them."""
    found = []

    def visit(call):
        if isinstance(call.op, tvm.ir.Op) and call.op.name.startswith(
                "tirx.ptx.cp_async_bulk_tensor"):
            words = [str(a.value) for a in call.args if isinstance(a, tvm.ir.StringImm)]
            found.append((".".join(["cp", *[w for w in words if w]]), len(call.args) - len(words)))

    tvm_ffi.structural_walk(mod["main"].body, (tvm.ir.Call, visit), order="pre")
    return found


def test_gather4_and_scatter4_are_tmas_tile_modes_on_one_descriptor():
    """tirx lowers the gather4 (its tma_explicit `gather4`) and tlspec's scatter4 dispatch: each
    a 2-D instruction of 5 coordinates (the column, 4 rows) on the table's one tensor map (a box
    of 1 row x 64 columns); the copies to and from `out` keep their plain tile mode."""
    from copy_kernels import gather4_kernel, gather4_stages

    stages = gather4_stages() + ['- scatter: {src: G_s, dst: "table[:, 64 : +64]", '
                                 'index: "idx[bx*8 : +8]", rows: 4}', '- tma_store_wait: {pending: 0}']
    mod = run_through(tile_ir(gather4_kernel(stages, out="out")), "LowerHopperIntrin",
                      arch="sm_100a")
    chains = ptx_chains(mod)
    gather4 = "cp.async.bulk.tensor.2d.shared::cluster.global.tile::gather4." \
              "mbarrier::complete_tx::bytes.cta_group::1"
    scatter4 = "cp.async.bulk.tensor.2d.global.shared::cta.tile::scatter4.bulk_group"
    # operands: shared address, map, 5 coordinates, mbarrier / map, 5 coordinates, shared address
    # (in the loops of 2 instructions that LowerTileOp made)
    assert chains.count((gather4, 8)) == 1 and chains.count((scatter4, 7)) == 1
    table = [c for c in encodings(mod) if "table" in c.args[0].name]
    assert len(table) == 1
    assert [int(a) for a in table[0].args[2:8]] == [256, 1000, 512, 64, 1, 1]
