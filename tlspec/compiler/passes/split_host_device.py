"""SplitHostDevice: split the function into the host part (argument unpacking, TMA descriptor
encoding, the launch) and the device kernel `<name>_kernel`, after marking the entry function
(tvm's AnnotateEntryFunc and SplitHostDevice do the work; the launch manifest is read from the
host part this leaves). A kernel whose parameters exceed CUDA's parameter space is an error at
the stage whose parameters cross the limit (`..kernel_params`).

tvm declares every pointer parameter of the kernel `__restrict__`, which lets the CUDA compiler
read a tensor the kernel never writes through the non-coherent path (`ld.global.nc`). A tensor a
TMA store writes is written where the compiler cannot see it: when a stage reads it back
(`tlspec.reads_tma_stores`, set by LowerTileOp), a non-coherent load would miss the store, so
that kernel's parameters are not declared `__restrict__`."""
from __future__ import annotations

import tvm
from tvm import tirx

from ..kernel_params import check_parameter_space
from .annotate_warp_group_reg_alloc import PLAN_ATTR as REGISTER_ALLOC


@tvm.transform.module_pass(opt_level=0, name="tlspec.SplitHostDevice")
def SplitHostDevice(mod, ctx):  # noqa: N802 (named like a pass)
    attrs = [func.attrs for func in mod.functions.values() if func.attrs is not None]
    coherent = any(a.get(READS_TMA_STORES) for a in attrs)
    registers = next((a[REGISTER_ALLOC] for a in attrs if REGISTER_ALLOC in a), None)
    mod = tirx.transform.SplitHostDevice()(tirx.transform.AnnotateEntryFunc()(mod))
    for gv, func in mod.functions.items():
        if func.attrs is not None and func.attrs.get("tirx.is_global_func"):
            check_parameter_space(func)
            if coherent:
                func = func.with_attr("tirx.noalias", False)
            if registers is not None:
                func = func.with_attr(MIN_BLOCKS, int(registers["blocks_per_sm"]))
            mod[gv] = func
    return mod


READS_TMA_STORES = "tlspec.reads_tma_stores"
MIN_BLOCKS = "tirx.launch_bounds_min_blocks_per_sm"     # __launch_bounds__'s second value
