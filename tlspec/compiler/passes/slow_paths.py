"""Slow paths: the compile warnings of InstructionAnnotation, for a stage that moves data with a
slower instruction than its target allows, and says why.

Three cliffs are reported, each at its stage, unless the stage silences them (`quiet:
[slow_path]`):
- a copy between global memory and a shared tile on a target with TMA that is a SIMT loop
  because TMA cannot express it (its descriptor would break a rule of the driver, a box extent
  is not constant, TMA would not place the elements where the tile keeps them); not when the
  spec itself rules TMA out (`disable_tma`, `loop_layout`, `prefer_instruction`, a `padded`
  tile, a fill other than zero) or the copy is not global <-> shared;
- a block-to-block copy (`copy_cluster` with `dst_block`) that would be one bulk copy but is
  SIMT stores because a stage writes its source before the copy is known to have landed;
- a SIMT loop whose vectors are narrower than they would be if every symbolic row dim (a dim
  that sets a global tensor's row length or strides) were a multiple of 16 elements: the width
  is bounded by what the spec leaves unknown (a `multiple_of` too small or missing), not by its
  constants. Not when the stage names its width
  (`coalesced_width`, `loop_layout.vector`).

Whether any stage would be faster for aligned sizes is the function's `tlspec.specializable`.
The notes go to the function's `tlspec.notes` ([pointer, message, hint]; see PipelinePlanning),
which `tlspec compile` prints as located warnings.
"""
from __future__ import annotations

from math import lcm

from tvm import tirx

from ..analysis import attr
from ..specialize import ALIGNED

SLOW_PATH = "slow_path"             # the `quiet` entry that silences these warnings
# function attribute: a call whose row dims are all multiples of ALIGNED would get a faster
# instruction or wider vectors for some stage (quiet or not): `tlspec compile` then adds an
# aligned variant of the kernel to the package (`..specialize`)
SPECIALIZABLE = "tlspec.specializable"
QUIET_HINT = "or add `quiet: [slow_path]` to the stage to silence this warning"


def row_dims(func: tirx.PrimFunc) -> list[tirx.Var]:
    """The variables of the symbolic dims that set a global tensor's row length or strides
    (TileIR's `tlspec.row_dims`, `..specialize.row_dim_names`)."""
    return list(attr(func, "tlspec.row_dims", []))


def aligned_view(func: tirx.PrimFunc) -> tirx.PrimFunc:
    """`func` as a call whose row dims are all multiples of ALIGNED elements would see it (on
    top of their `multiple_of`): the widths found on it and not on `func` are what the spec's
    unknowns cost, and what the kernel's aligned variant gets (`..specialize`)."""
    multiples = dict(attr(func, "tlspec.multiples", {}))
    for var in row_dims(func):
        known = next((int(m) for v, m in multiples.items() if v.same_as(var)), 1)
        multiples[var] = lcm(known, ALIGNED)
    return func.with_attr("tlspec.multiples", multiples)


def quiet(config: dict) -> bool:
    return SLOW_PATH in [str(q) for q in config.get("quiet", [])]


def tma_note(config: dict, kind: str, problem: str) -> list[str] | None:
    """The warning of a copy that is a SIMT loop because TMA cannot express it."""
    if quiet(config):
        return None
    return [str(config["tlspec.stage"]), f"this {kind} is a SIMT loop, not a TMA copy: {problem}",
            "see docs/spec.md#tma-constraints for what TMA needs; " + QUIET_HINT]


def bulk_note(config: dict, source: str, problem: str) -> list[str] | None:
    """The warning of a block-to-block copy that is SIMT stores only because its source is
    rewritten while a bulk copy might still read it."""
    if quiet(config):
        return None
    return [str(config["tlspec.stage"]), "this copy_cluster is SIMT stores into the destination "
            f"block, not one bulk copy: {problem}",
            f"give '{source}' two slots and write the next tile into the other one, so the bulk "
            "copy reads a slot nothing rewrites before its wait, " + QUIET_HINT]


def vector_note(config: dict, kind: str, width: int, elem: int, aligned: int,
                reason: str) -> list[str] | None:
    """The warning of a SIMT loop whose vectors the spec's symbolic dims keep narrow."""
    if quiet(config):
        return None
    return [str(config["tlspec.stage"]),
            f"this {kind} moves {width * elem}-byte vectors ({width} element"
            f"{'s' * (width != 1)}), not {aligned * elem}-byte ones: {reason}",
            f"declare the symbolic dims it depends on with a `multiple_of` of {aligned} (the "
            "launch wrapper then checks it at each call), " + QUIET_HINT]
