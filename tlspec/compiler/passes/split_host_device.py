"""SplitHostDevice: split the function into the host part (argument unpacking, TMA descriptor
encoding, the launch) and the device kernel `<name>_kernel`, after marking the entry function
(tvm's AnnotateEntryFunc and SplitHostDevice do the work; the launch manifest is read from the
host part this leaves)."""
from __future__ import annotations

import tvm
from tvm import tirx


@tvm.transform.module_pass(opt_level=0, name="tlspec.SplitHostDevice")
def SplitHostDevice(mod, ctx):  # noqa: N802 (named like a pass)
    mod = tirx.transform.AnnotateEntryFunc()(mod)
    return tirx.transform.SplitHostDevice()(mod)
