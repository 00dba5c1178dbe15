"""Semantic rules: what the schema cannot express, checked on the kernel model."""
from __future__ import annotations

from ..diagnostics import Diagnostics
from ..model import Kernel
from .arithmetic import check_arithmetic
from .barriers import check_barriers
from .context import Context
from .declarations import check_buffers, check_dims, check_launch, check_shared_memory
from .stages import check_stages
from .strides import check_strides
from .sync_order import check_sync_order


def check_kernel(kernel: Kernel, diags: Diagnostics) -> None:
    """Run every semantic rule on `kernel`, reporting to `diags`."""
    ctx = Context(kernel, diags)
    check_arithmetic(ctx)
    check_dims(ctx)
    check_buffers(ctx)
    check_strides(ctx)
    check_launch(ctx)
    check_shared_memory(ctx)
    check_stages(ctx)
    check_barriers(ctx)
    check_sync_order(ctx)
