"""The records explain reads: the IR after PipelinePlanning and MergeSharedMemoryAllocations in,
decisions, plans, tiles and mbarriers out; and the hook of codegen.lower that hands them over."""
from tlspec.compiler.codegen import lower
from tlspec.compiler.pipeline import PASSES
from tlspec.explain.collect import PLACED, PLANNED, Observer

from pipeline_support import run_through, tile_ir
from test_compile_async import SERIAL_PIPELINE

PIPELINED = (SERIAL_PIPELINE.replace("shape: [64, 64], dtype", "shape: [3, 64, 64], dtype")
             .replace("dst: A_s}", "dst: 'A_s[k % 3, :, :]'}")
             .replace("src: A_s,", "src: 'A_s[k % 3, :, :]',"))


def observed(text: str) -> Observer:
    observer = Observer()
    mod = tile_ir(text)
    for name in (PLANNED, PLACED):
        observer(name, run_through(mod, name))
    return observer


def test_records_of_a_pipelined_tma_copy():
    records = observed(PIPELINED).records()
    assert [(d.pointer, d.kind, d.instruction) for d in records.decisions] == [
        ("/stages/0/pipeline/stages/0/copy", "tma_copy", "tma"),    # once, though issued twice
        ("/stages/0/pipeline/stages/1/copy", "copy", "tma")]
    (plan,) = records.plans
    assert (plan.pointer, plan.loads) == ("/stages/0/pipeline", [0])
    (tile,) = records.tiles
    assert (tile.name, tile.shape, tile.offset, tile.bytes) == ("A_s", [3, 64, 64], 0, 3 * 8192)
    assert (records.mbarrier_offset, records.mbarriers) == (3 * 8192, 3)     # one per slot
    assert records.shared_bytes == 3 * 8192 + 32         # the pool ends on 16 bytes


def test_a_kernel_without_shared_memory_has_no_tiles():
    text = SERIAL_PIPELINE.replace("target: sm_90a", "target: sm_80")
    records = observed(text).records()
    assert {d.instruction for d in records.decisions} == {"sync"}
    assert records.plans[0].loads == [] or records.plans[0].why.startswith("runs as written")


def test_observer_keeps_only_the_modules_it_reads():
    observer = Observer()
    observer("LayoutInference", object())
    assert observer.modules == {} and observer.records().decisions == []


def test_lower_shows_the_module_after_every_pass_in_order():
    seen = []
    lower(tile_ir(SERIAL_PIPELINE), "sm_90a", observe=lambda name, mod: seen.append(name))
    assert seen == [p.name for p in PASSES]


def test_the_record_of_a_strided_tma_load_says_its_element_strides():
    text = (PIPELINED.replace('src: "A[bx*64 : +64, k*64 : +64]"',
                              'src: "A[bx*128 : +64 : 2, k*64 : +64]"')
            .replace("grid: {bx: M // 64}", "grid: {bx: M // 128}"))
    load = observed(text).records().decisions[0]
    assert (load.kind, load.instruction) == ("tma_copy", "tma")
    assert load.why.endswith("with element strides [2, 1] (a 128 x 64 box traversed, 64 x 64 "
                             "elements loaded)")
