"""tlspec's lowering pipeline: the named passes in order, registered with tvm's pipeline registry
as "tlspec" (so `tvm.compile(mod, tir_pipeline="tlspec")` runs it too).

tlspec's own passes (one module each in `passes/`) come first; tvm's passes turn the result into
flat, vectorized, host/device-split code for CUDA code generation. `tlspec passes` prints this
list.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import tvm
from tvm import tirx
from tvm.backend.cuda import transforms as cuda_transforms
from tvm.tirx import compilation_pipeline as tvm_pipeline

from .passes.align_vector_loads import AlignVectorLoads
from .passes.annotate_warp_group_reg_alloc import AnnotateWarpGroupRegAlloc
from .passes.apply_eviction_hints import ApplyEvictionHints
from .passes.cluster_planning import ClusterPlanning
from .passes.inject_fence_proxy import InjectFenceProxy
from .passes.inject_software_pipeline import InjectSoftwarePipeline
from .passes.instruction_annotation import InstructionAnnotation
from .passes.layout_inference import LayoutInference
from .passes.legalize_negative_index import LegalizeNegativeIndex
from .passes.legalize_safe_memory_access import LegalizeSafeMemoryAccess
from .passes.lower_hopper_intrin import LowerHopperIntrin
from .passes.lower_shared_barrier import LowerSharedBarrier
from .passes.lower_symbolic_division import LowerSymbolicDivision
from .passes.lower_tile_op import LowerTileOp
from .passes.merge_shared_memory_allocations import MergeSharedMemoryAllocations
from .passes.pipeline_planning import PipelinePlanning
from .passes.producer_consumer_warp_specialized import ProducerConsumerWarpSpecialized
from .passes.split_host_device import SplitHostDevice
from .passes.thread_sync import ThreadSync
from .passes.unroll_budget import UnrollBudget
from .passes.vectorize_loop import VectorizeLoop

NAME = "tlspec"


@dataclass(frozen=True)
class PassInfo:
    name: str
    owner: str                          # "tlspec" or "tvm"
    summary: str
    make: Callable[[], tvm.transform.Pass]


def _tvm(name: str, summary: str, make) -> PassInfo:
    return PassInfo(name, "tvm", summary, make)


def _tlspec(name: str, summary: str, make) -> PassInfo:
    return PassInfo(name, "tlspec", summary, make)


PASSES: list[PassInfo] = [
    _tlspec("InstructionAnnotation", "choose TMA, cp.async or a SIMT loop (and its vector width) "
            "per copy, and why", InstructionAnnotation),
    _tlspec("LayoutInference", "choose each shared tile's layout: row-major, padded or swizzled",
            LayoutInference),
    _tlspec("PipelinePlanning", "choose the loads of each pipeline loop that run num_stages - 1 "
            "iterations ahead, or why the loop runs as written", PipelinePlanning),
    _tlspec("ProducerConsumerWarpSpecialized", "pipeline loops whose TMA loads a producer warp "
            "issues, handing slots to the consumer threads through full / empty mbarrier rings",
            ProducerConsumerWarpSpecialized),
    _tlspec("InjectSoftwarePipeline", "pipeline loops as a prologue and a steady loop of "
            "explicit TMA / cp.async loads, barriers and waits", InjectSoftwarePipeline),
    _tlspec("ClusterPlanning", "cluster barriers where blocks copy into each other's shared "
            "memory: before the first copy, between a tile's use and a copy into it, before exit",
            ClusterPlanning),
    _tlspec("MergeSharedMemoryAllocations", "place all shared tiles and mbarriers in one dynamic "
            "shared-memory pool", MergeSharedMemoryAllocations),
    _tlspec("AnnotateWarpGroupRegAlloc", "setmaxnreg: registers from a producer warp group "
            "to the consumers, where that raises their count", AnnotateWarpGroupRegAlloc),
    _tlspec("LowerTileOp", "replace tile operations by vector loops, cp.async loops, or TMA "
            "copies with their mbarrier protocol", LowerTileOp),
    _tlspec("LowerSharedBarrier", "initialise the mbarriers when the kernel starts: one thread, "
            "their arrival counts, the proxy fence and a block barrier", LowerSharedBarrier),
    _tlspec("LegalizeNegativeIndex", "guard global accesses that may be negative (halos, "
            "padding): loads read the fill (zero), stores skipped", LegalizeNegativeIndex),
    _tlspec("LegalizeSafeMemoryAccess", "guard global accesses past a tensor's end (partial "
            "tiles): loads read the fill (zero), stores skipped", LegalizeSafeMemoryAccess),
    _tlspec("ApplyEvictionHints", "eviction_policy on SIMT stages: loads staged in registers, "
            "hinted ld/st.global with an L2 cache policy", ApplyEvictionHints),
    _tlspec("InjectFenceProxy", "fence.proxy.async before a TMA copy of what threads wrote "
            "(a tile it stores, a tensor it loads)", InjectFenceProxy),
    _tlspec("ThreadSync", "__syncthreads() between stages that share a tile or a tensor, "
            "and before an mbarrier threads waited on is armed again", ThreadSync),
    _tlspec("LowerHopperIntrin", "lower TMA copies with tirx: tensor-map encoding on the host, "
            "cp.async.bulk.tensor; never the scalar fallback", lambda: LowerHopperIntrin),
    _tvm("UnifyThreadBinding", "one thread-index variable per launch dimension",
         lambda: tvm.s_tir.transform.UnifyThreadBinding()),
    _tvm("StmtSimplify", "simplify", lambda: tirx.transform.StmtSimplify()),
    _tvm("LowerTIRxOpaque", "lower tirx's block and thread constructs",
         lambda: tirx.transform.LowerTIRxOpaque()),
    _tlspec("LowerSymbolicDivision", "floor division by a symbolic divisor as C division (with "
            "a floor correction where signs are unknown), out of FlattenBuffer's iter-map "
            "analysis", LowerSymbolicDivision),
    _tvm("FlattenBuffer", "multi-dimensional buffers to flat memory",
         lambda: tirx.transform.FlattenBuffer()),
    _tvm("BF16ComputeLegalize", "bfloat16 arithmetic in float32",
         lambda: tirx.transform.BF16ComputeLegalize()),
    _tvm("NarrowDataType", "32-bit index arithmetic where it fits",
         lambda: tirx.transform.NarrowDataType(32)),
    _tlspec("VectorizeLoop", "vector loads and stores; an error when a stage misses its width",
            lambda: VectorizeLoop),
    _tlspec("UnrollBudget", "past a code-size budget, loops marked for unrolling stay loops "
            "(#pragma unroll 1): NVRTC's time grows faster than the code", lambda: UnrollBudget),
    _tvm("UnrollLoop", "unroll the loops marked for unrolling", lambda: tirx.transform.UnrollLoop()),
    _tvm("StmtSimplify", "simplify", lambda: tirx.transform.StmtSimplify()),
    _tvm("FP8ComputeLegalize", "float8 arithmetic legalized",
         lambda: tirx.transform.FP8ComputeLegalize()),
    _tvm("VerifyMemory", "check that the device code touches only device memory",
         lambda: tirx.transform.VerifyMemory()),
    _tlspec("AlignVectorLoads", "vector loads that only the dims' multiple_of proves aligned: "
            "their index rewritten so that CUDA code generation emits them whole",
            AlignVectorLoads),
    _tlspec("SplitHostDevice", "split into host code (TMA encoding, launch) and the CUDA kernel",
            lambda: SplitHostDevice),
    _tvm("LowerIket", "CUDA launch-parameter lowering", lambda: cuda_transforms.LowerIket()),
    _tvm("MakePackedAPI", "the host function's calling convention",
         lambda: tirx.transform.MakePackedAPI()),
    _tvm("FP8StorageLegalize", "float8 storage", lambda: tirx.transform.FP8StorageLegalize()),
    _tvm("BF16StorageLegalize", "bfloat16 storage", lambda: tirx.transform.BF16StorageLegalize()),
]


def passes() -> list[tvm.transform.Pass]:
    return [info.make() for info in PASSES]


def _factory():
    @tvm.transform.module_pass(opt_level=0, name="tlspec_pipeline")
    def pipeline(mod, _ctx):
        return tvm.ir.transform.Sequential(passes())(mod)

    return pipeline, tvm_pipeline.finalize_host_passes, tvm_pipeline.finalize_device_passes


tvm_pipeline.register_tir_pipeline(NAME, _factory)
