"""What this release compiles: the data stages copy, transpose, gather, scatter and im2col, the
explicit asynchronous stages (tma_copy, async_copy and their barriers, commits and waits),
thread block clusters and copy_cluster, the loops for and pipeline, and sync_threads, on sm_90a
and sm_100a (with the TMA gather4 / scatter4 forms of gather and scatter there), and on sm_80
all of them that do not need Hopper (validation refuses TMA, mbarriers, tma_store_wait and
clusters there at their element, and InstructionAnnotation never chooses TMA). What else the
language has (buffers of scope local) validates but is refused here with an error at the element
that uses it, saying so. So are sizes the kernels' 32-bit index arithmetic cannot hold
(`int32_limits`)."""
from __future__ import annotations

from ..diagnostics import Diagnostics
from ..model import Kernel
from ..targets import COMPILED_TARGETS
from .int32_limits import int32_overflows

COMPILED_KINDS = ("copy", "transpose", "gather", "scatter", "im2col", "tma_copy", "async_copy",
                  "copy_cluster", "alloc_barrier", "barrier_arrive", "barrier_wait",
                  "async_commit", "async_wait", "tma_store_wait", "for", "pipeline",
                  "sync_threads")
LATER = "is not compiled by this release of tlspec (it validates; compilation arrives later)"
LATER_FEATURES = "buffers of scope local"


def check_supported(kernel: Kernel, diags: Diagnostics) -> None:
    """Report every part of `kernel` that this release cannot compile."""
    doc = kernel.document

    def refuse(pointer: str, what: str, hint: str, *, key: bool = False) -> None:
        diags.error(doc.location(pointer, key=key), f"{what} {LATER}", pointer=pointer, hint=hint)

    if kernel.target.name not in COMPILED_TARGETS:
        refuse("/target", f"target {kernel.target.name}",
               "compile for sm_90a (H100/H200), sm_100a (B200) or sm_80 (A100): set "
               "`target: sm_90a`")
    for pointer, what, hint in int32_overflows(kernel):
        refuse(pointer, what, hint)
    for buffer in kernel.buffers.values():
        if buffer.scope == "local":
            refuse(buffer.pointer + "/scope", f"buffer '{buffer.name}' of scope local",
                   "use scope fragment for a register tile shared by the block's threads")
    for stage in kernel.walk():
        if stage.kind not in COMPILED_KINDS:
            refuse(stage.pointer, f"stage kind '{stage.written_kind}'",
                   "this release compiles: " + ", ".join(COMPILED_KINDS), key=True)
        if stage.options.get("out_of_range") == "error" and \
                any(option in stage.options for option in ("rows", "col", "barrier")):
            refuse(stage.pointer + "/out_of_range",
                   f"out_of_range: error (the debug mode) with the TMA {stage.written_kind}4 form",
                   "drop rows/col/barrier while debugging (the SIMT form records the first index "
                   "out of range), or run the spec in the interpreter (`tlspec run SPEC "
                   "--interpret`)")
