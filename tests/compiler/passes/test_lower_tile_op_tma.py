"""LowerTileOp's TMA copies: what tirx's dispatch is handed and what the mbarrier expects.

- A load into one slot arms its mbarrier with the box's bytes (the slot), not the whole tile's:
  TMA completes the box's bytes, so a count of the tile would never be reached.
- A swizzled tile whose rows TMA pads to the span is handed to tirx as its storage rows
  (`<tile>_rows`, dense there), the box still the global region's.
- A tensor of an element type tirx has no tensor map for (int16) is handed over as a view of
  the unsigned integers of its size (before: tirx refused the copy, so a plain int16 copy, which
  the compiler made a TMA copy, did not compile)."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm
import tvm_ffi
from copy_kernels import copy_kernel
from pipeline_support import run_through, tile_ir
from tvm.tirx.tile_primitive import TilePrimitiveCall

from tlspec.compiler.analysis import region_parts


def kernel(tile, region, store, dtype="float16", layout="auto"):
    return copy_kernel({"A_s": (tile, layout)}, [
        "- for:", "    var: k", "    extent: 4", "    stages:",
        f'      - copy: {{src: "A[{region}]", dst: "{store}", prefer_instruction: tma}}',
        f'      - copy: {{src: "{store}", dst: "B[{region}]", prefer_instruction: tma}}'],
        dtype=dtype)


def lowered(text):
    """(the TMA copies tirx will lower, the byte counts the mbarriers are armed with)."""
    body = run_through(tile_ir(text), "LowerTileOp")["main"].body
    copies, armed = [], []
    tvm_ffi.structural_walk(body, (TilePrimitiveCall, copies.append), order="pre")
    tvm_ffi.structural_walk(body, (tvm.ir.expr.Call, lambda c: armed.append(int(c.args[1]))
                                   if "expect_tx" in str(c.op) else None), order="pre")
    return copies, armed


def regions(call):
    """(name, dtype, extents) of the copy's destination and source."""
    out = []
    for region in call.args[:2]:
        buffer, _, extents = region_parts(region)
        out.append((buffer.name, str(buffer.dtype), [int(e) for e in extents]))
    return out


def test_a_slot_load_expects_the_slots_bytes():
    copies, armed = lowered(kernel([3, 64, 64], "bx*64 : +64, k*64 : +64", "A_s[k % 3, :, :]"))
    assert armed == [64 * 64 * 2]
    assert regions(copies[0]) == [("A_s", "float16", [1, 64, 64]), ("A", "float16", [64, 64])]


def test_padded_swizzled_rows_are_handed_over_as_storage_rows():
    copies, armed = lowered(kernel([64, 48], "bx*64 : +64, k*48 : +48", "A_s",
                                   layout="swizzle_128B"))
    assert armed == [64 * 48 * 2]
    assert regions(copies[0]) == [("_rows_A_s", "float16", [64, 64]), ("A", "float16", [64, 48])]
    assert regions(copies[1]) == [("B", "float16", [64, 48]), ("_rows_A_s", "float16", [64, 64])]


def test_int16_tensors_are_handed_over_as_uint16():
    copies, _ = lowered(kernel([16, 64], "bx*16 : +16, k*64 : +64", "A_s", dtype="int16"))
    assert regions(copies[0]) == [("A_s", "int16", [16, 64]), ("A", "uint16", [16, 64])]
    assert regions(copies[1]) == [("B", "uint16", [16, 64]), ("A_s", "int16", [16, 64])]


def test_a_warp_specialized_producer_issues_from_its_own_first_thread():
    """The producer's arrivals and loads are issued by thread n (the first after the n consumer
    threads); the consumers' release of a slot is an arrival of every consumer thread."""
    text = copy_kernel({"A_s": ((2, 64, 64), "swizzle_128B")}, [
        "- pipeline:", "    var: k", "    extent: 4", "    num_stages: 2",
        "    warp_specialize: true", "    stages:",
        '      - copy: {src: "A[bx*64 : +64, k*64 : +64]", dst: "A_s[k % 2, :, :]"}',
        '      - copy: {src: "A_s[k % 2, :, :]", dst: "B[bx*64 : +64, k*64 : +64]"}'])
    script = run_through(tile_ir(text), "LowerTileOp")["main"].script()
    producer = script[script.index('"producer"'):]
    consumer = script[script.index('"consumer"'):script.index('"producer"')]
    assert producer.count("if tid == 128:") == 3          # the role, its arrival, its load
    lines = consumer.splitlines()
    at = [i for i, line in enumerate(lines) if '"arrive"' in line]
    assert len(at) == 1 and "if tid" not in lines[at[0] - 1]     # no thread picked
