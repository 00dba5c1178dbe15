"""Compile time that grows linearly with the number of stages: tlspec's own passes before the
TMA lowering (InstructionAnnotation to ThreadSync) on one kernel of 500 guarded gathers, and the
whole compile (NVRTC included) of 100.

Measured on the 2-core CI machine (CPU time): about 1 s; 7.8 s while the guard passes rebuilt an
analyzer with every loop variable seen so far for each access (quadratic). The bound is four
times the linear figure: a pass that becomes quadratic again fails it. What follows these passes
is tvm's and NVIDIA's (tirx's TMA lowering, FlattenBuffer, NVRTC), measured by
bench/bench_compile_scale.py and recorded in bench/RESULTS.md."""
import time

import pytest

pytest.importorskip("tvm", reason="the passes run on tvm IR")
from pipeline_support import gathers, run_through, tile_ir

STAGES = 500
BOUND_SECONDS = 4.0


def test_tlspec_passes_take_time_linear_in_the_number_of_stages():
    mod = tile_ir(gathers(STAGES))
    start = time.process_time()
    run_through(mod, "ThreadSync")
    assert time.process_time() - start < BOUND_SECONDS


WHOLE_STAGES = 100
WHOLE_BOUND_SECONDS = 10.0


def test_a_kernel_of_many_guarded_stages_compiles_in_bounded_time(tmp_path):
    """The whole compile, NVRTC included (it runs in this process), of 100 guarded gathers:
    about 1.5 s of CPU since UnrollBudget keeps their loops rolled, 8 s when every loop was
    unrolled (NVRTC's time grows faster than the code; bench/RESULTS.md). N is symbolic, so the
    compile makes the kernel's aligned variant too (shape specialization): twice that. The bound
    is three times the figure: unrolling past the budget again fails it."""
    from tlspec.compiler import driver
    spec = tmp_path / "gathers.tlspec.yaml"
    spec.write_text(gathers(WHOLE_STAGES))
    start = time.process_time()
    result = driver.compile_paths([str(spec)], str(tmp_path / "out"))
    assert result.ok, [str(d) for d in result.diagnostics]
    assert time.process_time() - start < WHOLE_BOUND_SECONDS
    assert "#pragma unroll 1" in (tmp_path / "out" / "gathers.cu").read_text()
    assert (tmp_path / "out" / "gathers__aligned.cu").is_file()
