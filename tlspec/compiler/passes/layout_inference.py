"""LayoutInference: choose the storage layout of every shared tile (see `..layouts`).

A layout written in the spec is kept. For `auto`:
- a tile that a transpose reads or writes and that a TMA copy also moves is swizzled with the
  span of its rows (32, 64 or 128 bytes), the pattern TMA itself writes and reads, so the
  transpose's column accesses spread over the banks;
- such a tile without TMA is padded (16 bytes per row);
- every other tile is row-major: the SIMT loops move whole 16-byte vectors along rows, which are
  free of bank conflicts in row-major order, and TMA moves row-major tiles as they are.
A swizzled tile's rows are stored padded to the swizzle span, as TMA writes them
(`tlspec.layouts`); InstructionAnnotation has checked every TMA copy against the spec's layout.

Records `tlspec.layouts` = {tile name: layout} on the function.
"""
from __future__ import annotations

import tvm_ffi
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from .. import ops
from ..analysis import attr, dtype_bytes, scope_kind
from ..lower.common import const


def _usage(func) -> dict[str, set]:
    """Per shared tile: the ways it is used ('tma', 'transpose')."""
    uses: dict[str, set] = {}

    def visit(call):
        kind = ops.kind_of(call)
        if kind is None:
            return
        config = ops.config_of(call)
        for region in call.args:
            if not hasattr(region, "source") or scope_kind(region.source) != "shared":
                continue
            name = region.source.name
            if config.get("tlspec.instruction") == "tma":
                uses.setdefault(name, set()).add("tma")
            if kind == "transpose":
                uses.setdefault(name, set()).add("transpose")

    tvm_ffi.structural_walk(func.body, (TilePrimitiveCall, visit), order="pre")
    return uses


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.LayoutInference")
class LayoutInference:
    def transform_function(self, func, mod, ctx):
        spec = {str(k): str(v) for k, v in attr(func, "tlspec.spec_layouts", {}).items()}
        uses = _usage(func)
        shapes = {}

        def on_alloc(alloc):
            shapes[alloc.buffer.name] = (list(alloc.buffer.shape), str(alloc.buffer.dtype))

        tvm_ffi.structural_walk(func.body, (tirx.AllocBuffer, on_alloc), order="pre")
        layouts = {}
        for name, layout in spec.items():
            shape, dtype = shapes[name]
            row_bytes = const(shape[-1]) * dtype_bytes(dtype)
            used = uses.get(name, set())
            if layout == "auto":
                if "transpose" in used and "tma" in used and row_bytes in (32, 64, 128):
                    layout = f"swizzle_{row_bytes}B"
                elif "transpose" in used and "tma" not in used:
                    layout = "padded"
                else:
                    layout = "row_major"
            layouts[name] = layout
        return func.with_attr("tlspec.layouts", layouts)
