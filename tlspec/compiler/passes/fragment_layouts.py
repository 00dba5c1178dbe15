"""The one layout of each fragment, for InstructionAnnotation.

A fragment is a register tile spread over the block's threads: the SIMT loop of a stage that
fills it leaves each element in a register of one thread, and a later stage must find it there,
so every stage that moves a fragment (copy, gather, scatter) must use the same vector width and
thread grid (TileLang's layout inference fixes a fragment's layout once, likewise). A pre-walk
of the function chooses them: the first `coalesced_width` (or `loop_layout.vector`) and
`loop_layout.threads` a stage of the fragment gives, else the narrowest vector that every stage
of it allows; a stage that gives neither takes these (a gather's or scatter's loop takes no
thread grid: InstructionAnnotation refuses one of a fragment a grid lays out). The vectors count
elements of the widest dtype any copy of the fragment moves (a converting copy's vector is
bounded by its wider dtype). `check` is the backstop: two stages that lay the fragment out
differently are an error."""
from __future__ import annotations

from math import prod
from typing import Callable

import tvm_ffi
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from .. import ops
from ..analysis import attr, dtype_bytes
from ..errors import StageError
from ..lower.common import const
from .tma_blockers import Side, copy_sides, indexed_sides

# (sides, iterated extents, element dtype) -> (widest legal vector, why not wider)
Widest = Callable[[list[Side], list, str], tuple[int, str]]


def asked_vector(config: dict) -> int | None:
    """The vector width a stage asks for (coalesced_width or loop_layout.vector), if any."""
    asked = config.get("coalesced_width") or config.get("loop_layout.vector")
    return int(asked) if asked else None


class FragmentLayouts:
    def __init__(self, func: tirx.PrimFunc, widest: Widest):
        self.func = func
        self.elements = self._elements()
        self.layouts = self._layouts(widest)
        self.used: dict[str, tuple] = {}

    def element(self, dst: Side, src: Side) -> str:
        """The dtype whose size bounds a copy's vector: the wider side's, or the widest that
        any copy of a fragment side moves."""
        dtypes = [str(dst.buffer.dtype), str(src.buffer.dtype)] + [
            self.elements[side.buffer.name] for side in (dst, src) if side.kind == "fragment"]
        return max(dtypes, key=dtype_bytes)

    def layout(self, sides: list[Side]) -> tuple[str, int, list[int] | None] | None:
        """(fragment, vector, thread grid) of a stage's fragment side; None without one."""
        for side in sides:
            if side.kind == "fragment":
                return (side.buffer.name, *self.layouts[side.buffer.name])
        return None

    def check(self, pointer: str, side: Side, decision: dict) -> None:
        """Every stage of a fragment must lay the same elements on the same threads."""
        key = (tuple(const(e) for e in side.extents), decision["tlspec.vector"],
               tuple(decision.get("tlspec.threads", ())))
        name = side.buffer.name
        first = self.used.setdefault(name, key)
        if first != key:
            raise StageError(pointer, f"fragment '{name}' is copied here with a different thread "
                             "layout or vector width than where it was first used, so threads "
                             "would read registers other threads wrote",
                             "give both copies the same loop_layout and coalesced_width")

    def _elements(self) -> dict[str, str]:
        """fragment -> the widest dtype a copy of it moves."""
        widest: dict[str, str] = {}

        def visit(call):
            if ops.kind_of(call) != "copy":
                return
            sides = [Side(region) for region in call.args[:2]]
            wider = max((str(side.buffer.dtype) for side in sides), key=dtype_bytes)
            for side in sides:
                if side.kind == "fragment":
                    name = side.buffer.name
                    widest[name] = max(widest.get(name, wider), wider, key=dtype_bytes)

        tvm_ffi.structural_walk(self.func.body, (TilePrimitiveCall, visit), order="pre")
        return widest

    def _layouts(self, widest: Widest) -> dict[str, tuple[int, list[int] | None]]:
        """fragment -> (vector, thread grid): the first ones its stages give, else the
        narrowest vector every stage allows and no grid."""
        asked: dict[str, tuple] = {}
        narrowest: dict[str, int] = {}

        def visit(call):
            operands = self._operands(call)
            if operands is None:
                return
            config = ops.config_of(call)
            limit, _ = widest(*operands)
            for side in operands[0]:
                if side.kind == "fragment":
                    name = side.buffer.name
                    narrowest[name] = min(narrowest.get(name, limit), limit)
                    vector, threads = asked.get(name, (None, None))
                    asked[name] = (vector or asked_vector(config),
                                   threads or config.get("loop_layout.threads"))

        tvm_ffi.structural_walk(self.func.body, (TilePrimitiveCall, visit), order="pre")
        layouts = {}
        for name, (vector, threads) in asked.items():
            threads = [int(t) for t in threads or ()]
            # a grid of another thread count is an error at the stage that gives it
            valid = prod(threads) == int(attr(self.func, "tlspec.threads"))
            layouts[name] = (int(vector or narrowest[name]), threads if valid else None)
        return layouts

    def _operands(self, call) -> tuple[list[Side], list, str] | None:
        """The sides, iterated extents and element dtype of a stage's SIMT loop, for the stages
        that may move a fragment: a copy, a gather or scatter (not TMA's `rows: 4`)."""
        kind = ops.kind_of(call)
        if kind == "copy":
            dst, src = copy_sides(call)
            return [dst, src], dst.extents, self.element(dst, src)
        if kind in ("gather", "scatter") and ops.ROWS not in ops.config_of(call):
            rows, table = indexed_sides(call)
            return [rows, table], rows.extents, str(rows.buffer.dtype)
        return None
