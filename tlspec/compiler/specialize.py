"""Shape specialization: the aligned variant of a kernel whose symbolic dims keep some stage on a
slower path (InstructionAnnotation's `tlspec.specializable`: a SIMT loop where TMA could copy,
vectors narrower than 16 bytes), as Triton specializes on divisibility by 16.

The variant is the same spec with every symbolic *row dim* a multiple of `ALIGNED` elements (the
least common multiple with its own `multiple_of`), named `<kernel>__aligned`. The row dims are
those that set the length of a global tensor's rows or its strides: the dims of its extents
after the first, and of a 1-D tensor's length. The vector widths and TMA's stride rules depend
on them; the leading extent of a tensor of rank 2 or more sets neither, so a call of any
number of rows still gets the variant. `tlspec compile`
writes it beside the kernel (its manifest, cubin and source, no wrapper of its own), and the
kernel's wrapper launches it for a call whose dims are all such multiples, the general kernel
otherwise: the spec's `multiple_of` keeps its meaning (the general kernel's wrapper still checks
it), and a call of any other size still runs. Pointers need no check: the run time accepts only
16-byte aligned, C-contiguous arrays.
"""
from __future__ import annotations

from dataclasses import replace
from math import lcm

from ..expr import free_vars
from ..model import Kernel

SUFFIX = "__aligned"
ALIGNED = 16       # elements: a multiple of it allows 16-byte vectors and TMA's 16-byte strides


def row_dim_names(kernel: Kernel) -> list[str]:
    """The symbolic dims that set a global tensor's row length or strides, in spec order."""
    named = {var.name for buffer in kernel.buffers.values() if buffer.is_global
             for extent in (buffer.shape[1:] or buffer.shape) for var in free_vars(extent)}
    return [name for name, dim in kernel.dims.items()
            if name in named and dim.symbolic and not dim.derived]


def aligned_kernel(kernel: Kernel) -> tuple[Kernel, dict[str, int]] | None:
    """(the aligned variant, {dim: the multiple a call's value must be for it}) of `kernel`;
    None where no dim's multiple changes, or where a dim's `max` is below its new multiple."""
    dims, multiples, rows = {}, {}, row_dim_names(kernel)
    for name, dim in kernel.dims.items():
        if name in rows:
            multiple = lcm(dim.multiple_of or 1, ALIGNED)
            if dim.max is not None and dim.max < multiple:
                return None
            if multiple != (dim.multiple_of or 1):
                multiples[name] = multiple
            dim = replace(dim, multiple_of=multiple)
        dims[name] = dim
    if not multiples:
        return None
    return replace(kernel, name=kernel.name + SUFFIX, dims=dims), multiples
