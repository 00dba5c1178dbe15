"""One kernel's explanation as plain data (what `--format json` prints, and the text is drawn
from): its stages with the compiler's decisions, its shared memory, registers and occupancy, and
the bytes and roofline time of a launch."""
from __future__ import annotations

from typing import Any

import yaml

from ..compiler.cuda_compile import frame_size, register_count
from ..model import Kernel
from .collect import MBARRIER_BYTES, Records
from .occupancy import occupancy
from .traffic import GPU, GPUS, Traffic

INSTRUCTIONS = {"tma": "TMA", "bulk": "cp.async.bulk", "cp_async": "cp.async", "sync": "SIMT"}


def spec_text(kernel: Kernel, pointer: str) -> str:
    """The value at `pointer` of the kernel's document, as one line of YAML (a loop's body
    stands as the number of its stages: they are explained one by one)."""
    value: Any = kernel.document.data
    for token in pointer.split("/")[1:]:
        value = value[int(token)] if isinstance(value, list) else value[token]
    if value is None:                # sync_threads: written without options
        return ""
    if isinstance(value, dict) and isinstance(value.get("stages"), list):
        value = {**value, "stages": f"{len(value['stages'])} stages"}
    return yaml.safe_dump(value, default_flow_style=True, width=10 ** 6, sort_keys=False).strip()


def _where(kernel: Kernel, pointer: str) -> str:
    return str(kernel.document.location(pointer))


def _stages(kernel: Kernel, records: Records) -> list[dict]:
    decided = {d.pointer: d for d in records.decisions}
    plans = {p.pointer: p for p in records.plans}
    stages = []
    for stage in kernel.walk():
        entry = {"pointer": stage.pointer, "where": _where(kernel, stage.pointer),
                 "kind": stage.kind, "spec": spec_text(kernel, stage.pointer),
                 "instruction": None, "why": None, "vector": None, "threads": None}
        decision = decided.get(stage.pointer)
        if decision is not None:
            entry.update(instruction=INSTRUCTIONS.get(decision.instruction, decision.instruction),
                         why=decision.why, vector=decision.vector, threads=decision.threads)
        plan = plans.get(stage.pointer)
        if plan is not None:
            entry["pipeline"] = {"loads": plan.loads, "why": plan.why}
        stages.append(entry)
    return stages


def _shared(records: Records) -> dict:
    mbarriers = None
    if records.mbarriers:
        mbarriers = {"count": records.mbarriers, "offset": records.mbarrier_offset,
                     "bytes": records.mbarriers * MBARRIER_BYTES}
    return {"bytes": records.shared_bytes,
            "tiles": [{"name": t.name, "shape": t.shape, "layout": t.layout,
                       "swizzle_bytes": t.swizzle_bytes, "bytes": t.bytes, "offset": t.offset}
                      for t in records.tiles],
            "mbarriers": mbarriers}


def _roofline(gpu: GPU, moved: Traffic) -> dict:
    measured = gpu.measured_gb_per_s
    return {"gpu": gpu.name, "gb_per_s": gpu.gb_per_s,
            "microseconds": round(moved.microseconds(gpu.gb_per_s), 3),
            "measured_gb_per_s": measured,
            "measured_microseconds": round(moved.microseconds(measured), 3) if measured else None}


def explain_kernel(kernel: Kernel, artifact, records: Records, moved: Traffic,
                   warnings: list[dict], tune: dict | None = None) -> dict:
    """`tune`: a kernel with tunable parameters' values explained (`choice`) and where they come
    from (`from`: the tune record's choice for a size class, or the first candidates and why)."""
    manifest = artifact.manifest
    threads = kernel.launch.threads
    registers = register_count(artifact.cubin, manifest["entry"])
    local = frame_size(artifact.cubin, manifest["entry"])
    fit = occupancy(kernel.target.name, threads, registers, manifest["dynamic_shared_bytes"])
    return {
        "kernel": kernel.name,
        "where": _where(kernel, "/name"),
        "target": kernel.target.name,
        **({} if tune is None else {"tune": tune}),
        "stages": _stages(kernel, records),
        "warnings": warnings,
        "shared_memory": _shared(records),
        "threads": threads,
        "registers": registers,
        # the cubin records the local memory a thread uses, not what of it spills are: none
        # when there is none, else unknown (a fragment indexed at run time lives there too)
        "local_memory_bytes": local,
        "spills": 0 if local == 0 else None,
        "occupancy": {"blocks_per_sm": fit.blocks_per_sm, "limited_by": fit.limiters,
                      "limits": fit.limits, "warps_per_sm": fit.warps_per_sm,
                      "max_warps_per_sm": fit.max_warps_per_sm},
        "launch": {"dims": moved.dims, "example_dims": moved.examples, "blocks": moved.blocks,
                   "tensors": [{"name": t.name, "shape": t.shape, "io": t.io, "bytes": t.bytes,
                                "whole": t.whole} for t in moved.tensors],
                   "bytes": moved.bytes,
                   "roofline": [_roofline(gpu, moved) for gpu in GPUS]},
    }
