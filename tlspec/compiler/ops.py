"""The tile operations of tlspec's tile IR.

A copy is tirx's own tile primitive (`tirx.tile.copy`, what `Tx.cta.copy` builds). Transpose,
gather, scatter, im2col and the asynchronous stages (explicit TMA and cp.async copies, and the
barrier, commit and wait stages that order them) have no tirx primitive; they are tlspec's own
tile operations, registered here as tvm ops of the tile-primitive category (`tlspec.tile.<kind>`)
so that they sit in the IR exactly like tirx's, until LowerTileOp replaces them.

The region operands of an operation come first, destination first; the synchronisation stages
take expressions instead (see `SYNC_ARGS`): a barrier is named by its slot in the kernel's
mbarrier array (`tlspec.barriers` gives each allocated barrier array its first slot).

Every operation carries its stage's JSON pointer (`tlspec.stage`) and spec options in its config;
the passes add their decisions to that config (see InstructionAnnotation).
"""
from __future__ import annotations

from typing import Any

import tvm
from tvm.ir import Op
from tvm.tirx.exec_scope import ExecScope
from tvm.tirx.tile_primitive import TilePrimitiveCall

TLSPEC_OPS = ("transpose", "gather", "scatter", "im2col", "tma_copy", "async_copy",
              "copy_cluster", "barrier_arrive", "barrier_wait", "async_commit", "async_wait",
              "tma_store_wait", "sync_cluster")
# the expression arguments of the synchronisation stages, in order (`sync_cluster`, a barrier of
# every thread of the cluster, is the compiler's: ClusterPlanning inserts it)
SYNC_ARGS = {"barrier_arrive": ("barrier", "expect_tx"), "barrier_wait": ("barrier", "parity"),
             "async_commit": (), "async_wait": ("pending",), "tma_store_wait": ("pending",),
             "sync_cluster": ()}
# a copy_cluster's arguments after its regions: the destination rank and the remote barrier's
# slot, each NONE when the form has none
CLUSTER_ARGS = ("dst_block", "remote_barrier")
NONE = -1


def absent(arg) -> bool:
    """Whether a copy_cluster argument after its regions is NONE (its form has none)."""
    return isinstance(arg, tvm.tirx.IntImm) and int(arg.value) == NONE
STAGE = "tlspec.stage"          # config key: the stage's JSON pointer
ROWS = "rows"                   # config key: a gather or scatter in its TMA form (gather4 / scatter4)
# config keys of a gather or scatter with computed indices: how many index values follow its two
# regions (then whether the index reads lie inside their buffers, then the row offsets), and the
# dimension of the rows region each row variable names
INDICES = "tlspec.indices"
ROW_DIMS = "tlspec.row_dims"
# config key: a copy's, gather's or im2col's fill other than zero, the element bits of its source
# dtype as a hex string (a uint64's bits do not fit tvm's signed config integers)
FILL = "tlspec.fill"
# config key: a copy with a strided region ('A[:, 0 : N : 2]'), the steps of each region
# operand, destination first ([1, ...] for a dense one); the regions' extents count elements
STEPS = "tlspec.steps"


def _register() -> None:
    known = set(Op.list_op_names())
    for kind in TLSPEC_OPS:
        name = f"tlspec.tile.{kind}"
        if name not in known:
            tvm.ir._ffi_api.RegisterOp(name, f"tlspec {kind} tile operation")
            tvm.ir.register_op_attr(name, "TIRxOpCategory", "tile_primitive")
            tvm.ir.register_op_attr(name, "TScriptPrinterName", f"tlspec_{kind}")


_register()
COPY_OP = Op.get("tirx.tile.copy")
COPY_ASYNC_OP = Op.get("tirx.tile.copy_async")


def op_for(kind: str) -> Op:
    return COPY_OP if kind == "copy" else Op.get(f"tlspec.tile.{kind}")


def kind_of(call: TilePrimitiveCall) -> str | None:
    """The stage kind of a tile operation built by tileir, or None for any other call."""
    name = call.op.name
    if name == "tirx.tile.copy":
        return "copy"
    if name.startswith("tlspec.tile."):
        return name[len("tlspec.tile."):]
    return None


def is_tma_rows(call: TilePrimitiveCall) -> bool:
    """Whether `call` is a gather or scatter in its TMA gather4 / scatter4 form."""
    return kind_of(call) in ("gather", "scatter") and ROWS in call.config


def steps_of(call: TilePrimitiveCall, operand: int) -> list[int]:
    """The steps of the call's region operand `operand` (all 1 for a dense region)."""
    steps = config_of(call).get(STEPS)
    return list(steps[operand]) if steps else [1] * len(call.args[operand].region)


def tile_call(kind: str, args: list, config: dict[str, Any]) -> TilePrimitiveCall:
    return TilePrimitiveCall(*args, op=op_for(kind), config=config, scope=ExecScope("cta"))


def config_of(call: TilePrimitiveCall) -> dict[str, Any]:
    """The call's config as plain Python values."""
    return {str(k): _plain(v) for k, v in call.config.items()}


def with_config(call: TilePrimitiveCall, **updates: Any) -> TilePrimitiveCall:
    config = dict(call.config)
    config.update(updates)
    return call.replace(config=config)


def _plain(value: Any) -> Any:
    if isinstance(value, (tvm.tirx.IntImm,)):
        return int(value.value)
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "__len__") and not isinstance(value, (str, bytes, dict)) and not hasattr(value, "items"):
        return [_plain(v) for v in value]
    return value
