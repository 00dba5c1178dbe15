"""The kernel's parameter space, and its limit.

A CUDA kernel receives its parameters in a constant bank of at most 32764 bytes (sm_70 and
later, CUDA 12.1 and later; 4 KB before), laid out in order, each at its alignment: a tensor map
(`CUtensorMap`, passed by value) takes 128 bytes aligned to 64, a pointer 8, a dim 4 or 8. A
kernel past the limit is refused by NVRTC ("Formal parameter space overflowed"), after the whole
compile and naming no stage; `check_parameter_space` refuses it first, at the stage whose
parameters cross the limit: the first stage, in program order, that uses a parameter no earlier
stage used and brings the parameters used so far past it.
"""
from __future__ import annotations

import tvm_ffi
from tvm import tirx
from tvm.ir import PointerType

from .analysis import stage_kind
from .errors import StageError

PARAM_SPACE = 32764
TENSOR_MAP = (128, 64)          # (bytes, alignment) of a CUtensorMap
POINTER = (8, 8)


def param_size(param: tirx.Var) -> tuple[int, int]:
    """(bytes, alignment) of one kernel parameter."""
    ty = param.ty
    if isinstance(ty, PointerType):
        return TENSOR_MAP if isinstance(ty.element_type, tirx.TensorMapType) else POINTER
    nbytes = max(1, ty.dtype.bits * ty.dtype.lanes // 8)
    return nbytes, nbytes


def space(params) -> int:
    """Bytes of parameter space that `params`, in this order, take."""
    end = 0
    for param in params:
        nbytes, alignment = param_size(param)
        end = -(-end // alignment) * alignment + nbytes
    return end


def _first_uses(func: tirx.PrimFunc) -> list[tuple[str, list[tirx.Var]]]:
    """(stage pointer, the parameters it is the first stage to use), in program order; the
    parameters no stage uses (a loop bound, say) count as used by the first stage."""
    params = set(func.params)
    seen: set = set()
    stages: list[tuple[str, list[tirx.Var]]] = []

    def on_stage(attr):
        if stage_kind(attr) is None:
            return
        new = []

        def on_var(var):
            if var in params and var not in seen:
                seen.add(var)
                new.append(var)

        tvm_ffi.structural_walk(attr.body, (tirx.Var, on_var), order="pre")
        stages.append((str(attr.node.value), new))

    tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, on_stage), order="pre")
    if stages:
        stages[0][1].extend(p for p in func.params if p not in seen)
    return stages


def check_parameter_space(func: tirx.PrimFunc) -> None:
    """Raise StageError when the parameters of the device kernel `func` exceed PARAM_SPACE."""
    total = space(func.params)
    if total <= PARAM_SPACE:
        return
    crossing, used = "/stages", set()
    for pointer, new in _first_uses(func):
        used.update(new)
        if new and space(p for p in func.params if p in used) > PARAM_SPACE:
            crossing = pointer
            break
    maps = sum(param_size(p) == TENSOR_MAP for p in func.params)
    raise StageError(
        crossing, f"this stage brings the kernel's parameters past the {PARAM_SPACE} bytes a "
        f"CUDA kernel may take: they would take {total} bytes in all ({maps} distinct TMA "
        f"descriptors of {TENSOR_MAP[0]} bytes each, {len(func.params) - maps} pointers and dims)",
        "TMA copies of one tensor with the same box, swizzle and options share a descriptor: "
        "use fewer distinct tensors or tile shapes per kernel, split the kernel, or move some "
        "copies with SIMT loops (prefer_instruction: sync), which take one 8-byte pointer per "
        "tensor")
