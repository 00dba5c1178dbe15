"""ProducerConsumerWarpSpecialized: a pipeline loop whose loads are TMA copies, asked for with
`warp_specialize: true`, splits the kernel after its allocations into the consumers (the
launch's n threads: the whole kernel, the loop's loads replaced by a wait on `full[k % S]` and
an arrival of every thread on `empty[k % S]`) and a producer (P more threads, of which thread n
runs the loops around the specialized loops and, in each, waits on `empty`, arms `full` with the
iteration's bytes and issues the loads). The parities come from each ring slot's own uses."""
import pytest

pytest.importorskip("tvm", reason="the compiler's passes need apache-tvm")
import tvm_ffi
from copy_kernels import copy_kernel, loop_lines
from pipeline_support import run_through, tile_ir
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from tlspec.compiler import ops
from tlspec.compiler.errors import StageError, take_stage_error
from tlspec.compiler.lower.common import simplify, substitute
from tlspec.compiler.passes.producer_consumer_warp_specialized import (CHOICE_ATTR, EVERY_THREAD,
                                                                       LEADER, RING, ROLE_ATTR,
                                                                       WS_ATTR)

REGION = "bx*64 : +64, k*64 : +64"
BODY = [f'- copy: {{src: "A[{REGION}]", dst: "A_s[k % 3, :, :]"}}',
        f'- copy: {{src: "A_s[k % 3, :, :]", dst: "B[{REGION}]", prefer_instruction: sync}}']
TILES = {"A_s": ((3, 64, 64), "swizzle_128B"), "D_s": ((3, 32, 64), "swizzle_128B"),
         "C_s": ((64, 64), "swizzle_128B")}


def specialized(stages, *, threads=128, last="ProducerConsumerWarpSpecialized"):
    return run_through(tile_ir(copy_kernel(TILES, stages, threads=threads)), last)["main"]


def ws_loop(body=BODY, **options):
    return loop_lines(body, warp_specialize=options.pop("warp_specialize", "true"), **options)


def split_of(func) -> tirx.IfThenElse:
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.IfThenElse, lambda s: found.append(s)
                                        if isinstance(s.then_case, tirx.AttrStmt)
                                        and s.then_case.attr_key == ROLE_ATTR else None),
                            order="pre")
    assert len(found) == 1
    return found[0]


def calls(stmt) -> list[TilePrimitiveCall]:
    found = []
    tvm_ffi.structural_walk(stmt, (TilePrimitiveCall, found.append), order="pre")
    return found


def loops(stmt) -> list[tirx.For]:
    found = []
    tvm_ffi.structural_walk(stmt, (tirx.For, found.append), order="pre")
    return found


def at(expr, values: dict) -> int:
    for var, value in values.items():
        expr = substitute(expr, var, tirx.IntImm("int32", value))
    return int(simplify(expr))


def thread_extents(func) -> dict[str, int]:
    found = {}

    def visit(stmt):
        d = getattr(stmt, "def")
        found[d.def_ids[0].name] = int(d.extents[0])

    tvm_ffi.structural_walk(func.body, (tirx.ScopeIdDefStmt, visit), order="pre")
    return found


def test_the_kernel_splits_into_consumers_and_a_producer_thread():
    func = specialized(ws_loop())
    split = split_of(func)
    assert str(split.condition) == "tid < 128"
    assert split.then_case.value.value == "consumer" and split.else_case.value.value == "producer"
    producer = split.else_case.body
    assert isinstance(producer, tirx.IfThenElse) and str(producer.condition) == "tid == 128"
    assert thread_extents(func)["tid"] == 256          # a producer warp group more
    assert dict(func.attrs[WS_ATTR]) == {"consumers": 128, "producers": 128}


def test_the_consumers_wait_for_the_slot_run_the_body_and_release_it():
    split = split_of(specialized(ws_loop()))
    consumer = calls(split.then_case)
    assert [ops.kind_of(c) for c in consumer] == ["barrier_wait", "copy", "barrier_arrive"]
    wait, _, release = consumer
    assert ops.config_of(wait)[RING] and ops.config_of(release)[EVERY_THREAD]
    k = loops(split.then_case)[0].loop_var
    assert [at(wait.args[0], {k: i}) for i in range(4)] == [0, 1, 2, 0]        # full[k % 3]
    assert [at(release.args[0], {k: i}) for i in range(4)] == [3, 4, 5, 3]     # empty[k % 3]
    assert [at(wait.args[1], {k: i}) for i in range(7)] == [0, 0, 0, 1, 1, 1, 0]


def test_the_producer_waits_for_a_released_slot_arms_it_and_loads():
    split = split_of(specialized(ws_loop()))
    producer = calls(split.else_case)
    assert [ops.kind_of(c) for c in producer] == ["barrier_wait", "barrier_arrive", "tma_copy"]
    wait, arm, load = producer
    k = loops(split.else_case)[0].loop_var
    assert k.name == "k_p"
    # a fresh barrier reports parity 1 complete: the first num_stages iterations do not wait
    assert [at(wait.args[1], {k: i}) for i in range(7)] == [1, 1, 1, 0, 0, 0, 1]
    assert int(arm.args[1]) == 64 * 64 * 2
    assert ops.config_of(arm)[LEADER] == 128 and ops.config_of(load)[LEADER] == 128
    assert at(load.args[2], {k: 4}) == 1                                     # on full[k % 3]


def test_the_rings_follow_the_specs_barriers():
    stages = ["- alloc_barrier: {name: bar, count: 2}",
              "- barrier_arrive: {barrier: 'bar[1]', expect_tx: 8192}",
              "- tma_copy: {src: 'A[bx*64 : +64, 0 : +64]', dst: C_s, barrier: 'bar[1]'}",
              "- barrier_wait: {barrier: 'bar[1]', parity: 0}",
              "- copy: {src: C_s, dst: 'B[bx*64 : +64, 0 : +64]'}", *ws_loop()]
    barriers = {k: [int(x) for x in v]
                for k, v in specialized(stages).attrs["tlspec.barriers"].items()}
    assert barriers == {"bar": [0, 2, 1], "_ws0_full": [2, 3, 1], "_ws0_empty": [5, 3, 128]}


def test_a_loop_reentered_by_an_enclosing_loop_continues_the_rings_phases():
    body = [f'- copy: {{src: "A[bx*64 : +64, r*320 + k*64 : +64]", dst: "A_s[k % 3, :, :]"}}',
            f'- copy: {{src: "A_s[k % 3, :, :]", dst: "B[bx*64 : +64, r*320 + k*64 : +64]", '
            'prefer_instruction: sync}']
    stages = loop_lines(ws_loop(body, extent="5"), kind="for", var="r", extent="3")
    split = split_of(specialized(stages))
    r_p, k_p = (loop.loop_var for loop in loops(split.else_case))
    assert r_p.name == "r_p"                     # the producer runs the enclosing loop as well
    wait = calls(split.else_case)[0]
    r, k = (loop.loop_var for loop in loops(split.then_case))
    full = calls(split.then_case)[0]
    # slot 0 is used at k = 0, 3: twice per entry; entry 1's first use is its third
    assert at(full.args[1], {r: 1, k: 0}) == 0 and at(full.args[1], {r: 1, k: 3}) == 1
    assert at(wait.args[1], {r_p: 1, k_p: 0}) == 1 and at(wait.args[1], {r_p: 0, k_p: 3}) == 0


def test_every_specialized_loop_is_in_the_producer_and_stages_around_them_stay():
    copy_c = ["- copy: {src: 'A[bx*64 : +64, 0 : +64]', dst: C_s}",
              "- copy: {src: C_s, dst: 'B[bx*64 : +64, 0 : +64]'}"]
    body2 = [b.replace("k", "j").replace("A_s", "D_s").replace("bx*64 : +64", "bx*64 : +32")
             for b in BODY]                                     # a ring of its own
    stages = [*copy_c, *ws_loop(), *ws_loop(body2, var="j"), copy_c[1]]
    split = split_of(specialized(stages))
    assert [loop.loop_var.name for loop in loops(split.else_case)] == ["k_p", "j_p"]
    assert [ops.kind_of(c) for c in calls(split.else_case)] == \
        ["barrier_wait", "barrier_arrive", "tma_copy"] * 2
    consumer = [ops.kind_of(c) for c in calls(split.then_case)]
    assert consumer == ["copy", "copy", *["barrier_wait", "copy", "barrier_arrive"] * 2, "copy"]


def test_a_block_that_is_not_a_warp_group_gets_a_producer_warp():
    func = specialized(ws_loop(), threads=64)
    assert thread_extents(func)["tid"] == 96
    assert dict(func.attrs[WS_ATTR]) == {"consumers": 64, "producers": 32}


@pytest.mark.parametrize("choice, why", [("auto", "auto: not specialized"),
                                         ("false", "warp_specialize: false")])
def test_auto_and_false_leave_the_loop_to_the_software_pipeline(choice, why):
    func = specialized(ws_loop(warp_specialize=choice), last="InjectSoftwarePipeline")
    assert WS_ATTR not in func.attrs
    loop = [lp for lp in loops(func.body) if lp.loop_var.name == "k"][0]
    assert str(loop.annotations[CHOICE_ATTR]["why"]).startswith(why)
    assert "k_ahead" in [lp.loop_var.name for lp in loops(func.body)]


def test_the_software_pipeline_leaves_a_specialized_loop_alone():
    func = specialized(ws_loop(), last="InjectSoftwarePipeline")
    assert "k_ahead" not in [lp.loop_var.name for lp in loops(func.body)]


def refused(stages, threads=128) -> StageError:
    with pytest.raises(Exception) as raised:
        specialized(stages, threads=threads)
    error = take_stage_error(raised.value)
    assert error is not None and error.pointer.endswith("/warp_specialize"), raised.value
    return error


@pytest.mark.parametrize("stages, threads, reason", [
    (ws_loop([BODY[0].replace('"}', '", prefer_instruction: cp_async}'), BODY[1]]), 128,
     "its load /stages/0/pipeline/stages/0/copy is not a TMA copy: "),
    (["- copy: {src: 'A[bx*64 : +64, 0 : +64]', dst: 'A_s[0, :, :]'}", *ws_loop()], 128,
     "a stage outside the loop touches 'A_s'"),
    (ws_loop(), 1024, "launch.threads (1024) leaves no room for a producer warp"),
    (ws_loop([BODY[0].replace("k % 3", "0"), BODY[1].replace("k % 3", "0")]), 128,
     "it is not pipelined: no copy into a shared tile"),
])
def test_a_loop_that_cannot_be_specialized_is_refused_with_the_reason(stages, threads, reason):
    error = refused(stages, threads)
    assert "cannot be warp-specialized: " + reason in error.message, error.message


def test_a_body_that_writes_what_the_loads_read_is_refused():
    body = [BODY[0], f'- copy: {{src: "A_s[k % 3, :, :]", dst: "A[{REGION}]"}}']
    text = copy_kernel(TILES, ws_loop(body)).replace("io: in}", "io: inout}", 1)
    with pytest.raises(Exception) as raised:
        run_through(tile_ir(text), "ProducerConsumerWarpSpecialized")
    assert "the body writes 'A'" in take_stage_error(raised.value).message
