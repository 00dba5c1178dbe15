"""Rules on the `fill` option (copy, gather, im2col): the value must convert to the element type
of what the stage reads and writes, the read it fills must be of global memory (shared and
register tiles are never read outside them), and a fill other than zero rules out the
instructions whose out-of-bounds reads are zeros (TMA, cp.async). See `tlspec.fill`."""
from __future__ import annotations

from ..fill import FillError, fill_bits
from ..model import Stage
from ..source import pointer_join
from .context import Context

SOURCE = {"copy": "src", "gather": "src", "im2col": "img"}
DESTINATION = {"copy": "dst", "gather": "dst", "im2col": "col"}


def nonzero_fill(stage: Stage, dtype: str) -> bool:
    """Whether the stage's fill, in `dtype`, has bits other than zero (-0.0 has)."""
    try:
        return "fill" in stage.options and fill_bits(stage.options["fill"], dtype) != 0
    except FillError:
        return False        # reported by check_fill


def check_fill(ctx: Context, stage: Stage) -> None:
    if "fill" not in stage.options or stage.kind not in SOURCE:
        return
    pointer = pointer_join(stage.pointer, "fill")
    source, dest = stage.regions.get(SOURCE[stage.kind]), stage.regions.get(DESTINATION[stage.kind])
    if source is None or dest is None:
        return
    read = ctx.buffer(source)
    if not read.is_global:
        ctx.error(pointer, f"fill is the value read outside a global tensor; this "
                           f"{stage.written_kind} reads the {read.scope} buffer '{read.name}', "
                           "which regions never leave", "remove fill")
        return
    for dtype in dict.fromkeys((read.dtype, ctx.buffer(dest).dtype)):
        try:
            fill_bits(stage.options["fill"], dtype)
        except FillError as err:
            ctx.error(pointer, str(err), err.hint)
            return
    if not nonzero_fill(stage, read.dtype):
        return
    prefer = stage.options.get("prefer_instruction")
    zero_filling = {"tma": "TMA reads zeros outside a tensor",
                    "cp_async": "cp.async zero-fills what it does not read"}
    if prefer in zero_filling:
        ctx.error(pointer_join(stage.pointer, "prefer_instruction"),
                  f"prefer_instruction {prefer} cannot fill with {stage.options['fill']}: "
                  f"{zero_filling[prefer]}", "remove prefer_instruction (a copy with a fill "
                  "moves through a SIMT loop), or remove fill")
    elif stage.kind == "gather" and (tma_form := [o for o in ("rows", "col", "barrier")
                                                  if o in stage.options]):
        ctx.error(pointer_join(stage.pointer, tma_form[0]), f"a TMA gather4 cannot fill with "
                  f"{stage.options['fill']}: TMA reads zeros outside a tensor",
                  "remove rows (and col, barrier) for the SIMT gather, or remove fill")
