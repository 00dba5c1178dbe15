"""TMA tensor maps at a call: the driver's rules on the dims and strides a call gives each map
(checked when a launch plan is made), and the CUtensorMap of a map over one pointer (encoded
once per plan, map and pointer: the plan keeps them)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from . import _tensormap_rules as tensormap_rules
from ._arrays import ITEMSIZE
from ._driver import check

if TYPE_CHECKING:
    from ._runtime import Kernel

# cuTensorMapEncodeTiled data types (suffix of CU_TENSOR_MAP_DATA_TYPE_); 1-byte types are copied
# as bytes, signed 16-bit as unsigned (a TMA copy never converts)
_TMA_DTYPE = {"float16": "FLOAT16", "bfloat16": "BFLOAT16", "float32": "FLOAT32",
              "float64": "FLOAT64", "int8": "UINT8", "int16": "UINT16", "int32": "INT32",
              "int64": "INT64", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32",
              "uint64": "UINT64", "float8_e4m3": "UINT8", "float8_e5m2": "UINT8"}


def enums(d: Any, m: Mapping) -> tuple:
    """cuTensorMapEncodeTiled's enum arguments for one manifest tensor map."""
    swizzle, l2 = m.get("swizzle", "none"), m.get("l2_promotion", "none")
    return (
        getattr(d.CUtensorMapDataType, "CU_TENSOR_MAP_DATA_TYPE_" + _TMA_DTYPE[m["dtype"]]),
        getattr(d.CUtensorMapInterleave,
                "CU_TENSOR_MAP_INTERLEAVE_" + m.get("interleave", "none").upper()),
        getattr(d.CUtensorMapSwizzle,
                "CU_TENSOR_MAP_SWIZZLE_" + swizzle.upper()),
        getattr(d.CUtensorMapL2promotion,
                "CU_TENSOR_MAP_L2_PROMOTION_" + ("NONE" if l2 == "none" else "L2_" + l2)),
        getattr(d.CUtensorMapFloatOOBfill,
                "CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE" if m.get("oob_fill", "none") == "none"
                else "CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA"))



def check_layouts(kernel: Kernel, layouts: Sequence[tuple]) -> None:
    """The driver's rules (tensormap_rules) on the parts of each tensor map that this call's
    sizes give, its dims and strides (the rest was checked when the kernel was compiled): a
    ValueError naming the kernel and the argument, instead of CUDA_ERROR_INVALID_VALUE from
    cuTensorMapEncodeTiled."""
    for t, (dims, strides) in zip(kernel.tensormaps, layouts):
        problems = tensormap_rules.violations(tensormap_rules.TensorMap(
            ITEMSIZE[t["dtype"]], dims, strides, t["box"], t["element_strides"],
            t.get("interleave", "none"), t.get("swizzle", "none"),
            t.get("l2_promotion", "none"), t.get("oob_fill", "none"),
            floating=_TMA_DTYPE[t["dtype"]].startswith(("FLOAT", "BFLOAT"))))
        if problems:
            raise ValueError(f"{kernel.name}(): argument {t['argument']!r} of shape "
                             f"{tuple(reversed(dims))} cannot be copied by TMA: {problems[0]}")


def encode(d: Any, enums: tuple, t: Mapping, ptr: int, layout: tuple, what: str) -> Any:
    """The CUtensorMap of manifest map t over ptr with this plan's (dims, strides); enums: the
    map's enums(d)."""
    dims, strides = layout
    # cuda.bindings wants cuuint64_t / cuuint32_t objects here (plain ints raise TypeError).
    # It passes an empty list as NULL, which the driver refuses even for a rank-1 map (no
    # strides to read): give it one ignored stride instead.
    return check(d, d.cuTensorMapEncodeTiled(
        enums[0], t["rank"], ptr,
        [d.cuuint64_t(x) for x in dims], [d.cuuint64_t(x) for x in strides or (0,)],
        [d.cuuint32_t(x) for x in t["box"]], [d.cuuint32_t(x) for x in t["element_strides"]],
        *enums[1:]), what)
