"""for and pipeline loops in the interpreter: nested loops, a start other than 0, symbolic
extents, loops over the slots of a multi-slot tile, a fragment refilled every iteration."""
from __future__ import annotations

import pytest

from interpret_support import assert_same, kernel, poisoned, random, spec
from tlspec.interpret import InterpretError

VECTORS = """
    A: {scope: global, shape: [N], dtype: float16, io: in}
    B: {scope: global, shape: [N], dtype: float16, io: out}
"""


@pytest.mark.parametrize("m, n", [(64, 32), (128, 100), (64, 4)])
def test_nested_loops_with_a_start(m, n):
    copy = kernel(spec("for_nested", dims="{M: {symbolic: true, multiple_of: 64}, N: symbolic}",
                       grid="{bx: M // 64}", buffers="""
        A:   {scope: global, shape: [M, N], dtype: float32, io: in}
        B:   {scope: global, shape: [M, N], dtype: float32, io: out}
        A_s: {scope: shared, shape: [32, 32], dtype: float32}
    """, stages="""
        - for:
            var: r
            start: 1
            extent: 2
            stages:
              - for:
                  var: k
                  extent: ceildiv(N, 32)
                  stages:
                    - copy: {src: "A[bx*64 + (r - 1)*32 : +32, k*32 : +32]", dst: A_s}
                    - copy: {src: A_s, dst: "B[bx*64 + (r - 1)*32 : +32, k*32 : +32]"}
    """))
    a = random((m, n), "float32")
    assert_same(copy(a), a)


@pytest.mark.parametrize("kind", ["for", "pipeline"])
def test_slots_alternate(kind):
    """Tile k goes to slot k % 2 and is stored one iteration later, from the other slot."""
    copy = kernel(spec("slots", dims="{N: symbolic}", buffers="""
        A:   {scope: global, shape: [4, N], dtype: bfloat16, io: in}
        B:   {scope: global, shape: [4, N], dtype: bfloat16, io: out}
        A_s: {scope: shared, shape: [2, 4, 8], dtype: bfloat16}
    """, stages=f"""
        - copy: {{src: "A[:, 0 : +8]", dst: "A_s[0, :, :]"}}
        - {kind}:
            var: k
            extent: ceildiv(N, 8) - 1
            stages:
              - copy: {{src: "A[:, (k + 1)*8 : +8]", dst: "A_s[(k + 1) % 2, :, :]"}}
              - sync_threads:
              - copy: {{src: "A_s[k % 2, :, :]", dst: "B[:, k*8 : +8]"}}
        - copy: {{src: "A_s[(ceildiv(N, 8) - 1) % 2, :, :]", dst: "B[:, (ceildiv(N, 8) - 1)*8 : +8]"}}
    """))
    a = random((4, 37), "bfloat16")
    assert_same(copy(a), a)


def test_a_fragment_refilled_in_a_loop_starting_at_1():
    copy = kernel(spec("for_fragment", dims="{M: symbolic, N: {symbolic: true, min: 17}}",
                       grid='{bx: "ceildiv(M, 4)"}', buffers="""
        A:   {scope: global, shape: [M, N], dtype: int8, io: in}
        B:   {scope: global, shape: [M, N], dtype: int8, io: out}
        A_r: {scope: fragment, shape: [4, 16], dtype: int8}
    """, stages="""
        - copy: {src: "A[bx*4 : +4, 0 : +16]", dst: A_r}
        - copy: {src: A_r, dst: "B[bx*4 : +4, 0 : +16]"}
        - for:
            var: k
            start: 1
            extent: ceildiv(N, 16) - 1
            stages:
              - copy: {src: "A[bx*4 : +4, k*16 : +16]", dst: A_r}
              - copy: {src: A_r, dst: "B[bx*4 : +4, k*16 : +16]"}
    """))
    a = random((9, 50), "int8")
    assert_same(copy(a), a)


def test_a_loop_that_runs_no_iteration_at_a_call_moves_nothing():
    """As the compiled kernel's loop: an extent of 0 at a call runs no iteration."""
    copy = kernel(spec("for_empty", dims="{N: symbolic}", buffers=VECTORS, stages="""
        - for: {var: k, extent: N // 8, stages: [copy: {src: "A[k*8 : +8]", dst: "B[k*8 : +8]"}]}
    """))
    a = random((16,))
    assert_same(copy(a), a)
    b = poisoned((7,))
    copy(random((7,)), b)
    assert_same(b, poisoned((7,)))


def test_loop_variables_are_named_where_a_fault_happens():
    copy = kernel(spec("for_fault", dims="{N: symbolic}", grid="{bx: 2}", buffers=VECTORS + """
    A_s: {scope: shared, shape: [8], dtype: float16}
    """, stages="""
        - for:
            var: k
            extent: 2
            stages:
              - copy: {src: "A[bx*16 + k*8 : +N // 4]", dst: "A_s[0 : +N // 4]"}
              - copy: {src: "A_s[0 : +N // 4]", dst: "B[bx*16 + k*8 : +N // 4]"}
    """))
    a = random((32,))
    assert_same(copy(a), a)
    with pytest.raises(InterpretError, match=r"copy in block \(bx=0\), k = 0: region 'A_s\[0 : "
                                             r"\+N // 4\]' covers \[0, 9\) in dimension 0, "
                                             r"outside the shared tile 'A_s' \(extent 8\)"):
        copy(random((36,)))
