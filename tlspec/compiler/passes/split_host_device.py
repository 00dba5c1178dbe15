"""SplitHostDevice: split the function into the host part (argument unpacking, TMA descriptor
encoding, the launch) and the device kernel `<name>_kernel`, after marking the entry function
(tvm's AnnotateEntryFunc and SplitHostDevice do the work; the launch manifest is read from the
host part this leaves). A kernel whose parameters exceed CUDA's parameter space is an error at
the stage whose parameters cross the limit (`..kernel_params`)."""
from __future__ import annotations

import tvm
from tvm import tirx

from ..kernel_params import check_parameter_space


@tvm.transform.module_pass(opt_level=0, name="tlspec.SplitHostDevice")
def SplitHostDevice(mod, ctx):  # noqa: N802 (named like a pass)
    mod = tirx.transform.SplitHostDevice()(tirx.transform.AnnotateEntryFunc()(mod))
    for func in mod.functions.values():
        if func.attrs is not None and func.attrs.get("tirx.is_global_func"):
            check_parameter_space(func)
    return mod
