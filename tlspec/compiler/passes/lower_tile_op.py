"""LowerTileOp: replace every tile operation by the code that does it.

- SIMT copies, transposes, gathers, scatters and im2col become the loop nests of `..lower`
  (vectorized innermost loops over the flat views of shared tiles, fragments as per-thread
  registers); with an `eviction_policy` their vector loops are marked for ApplyEvictionHints.
  They move bits: each operand is addressed through a view in its element size's bit type
  (`..lower.common.as_bits`, declared at the start of the stage), so that every dtype has vectors
  of every width; a gather's index is read as its own type. A copy between dtypes loads each
  vector's bits into registers, converts the values one by one and stores the results' bits
  (`..lower.convert`);
- a cp.async copy (global -> shared) becomes the same thread-to-vector loop with one
  `cp.async` per vector, then commit and wait (`..lower.cp_async`);
- a TMA copy becomes tirx's own `copy_async` tile primitive (dispatch `tma_explicit`, lowered by
  LowerHopperIntrin; a load of a strided region `..lower.tma_strided`'s, whose tensor map
  traverses the region by element strides) issued by thread 0 (or `tlspec.leader`), with the `eviction_policy` as its L2 cache hint, and
  its mbarrier protocol: a load arms its mbarrier with the tile's byte count and every thread
  waits on it (the phase is the parity of the enclosing loops' iteration count); a store is
  committed by the issuing thread, which waits only until the tile has been read out of shared
  memory (`wait_group.read`: the tile may then be rewritten, and the kernel's end publishes the
  global writes), or until the writes are done when a stage of the kernel reads that global
  tensor. (LowerSharedBarrier initialises the mbarriers when the kernel starts.)
- a gather or scatter in its TMA form (sm_100a's gather4 / scatter4) is thread 0's loop over
  the index groups: for each 4 indices, their values as row coordinates and one tirx
  `copy_async` of the box (one table row of the region's columns): `tma_explicit` with
  `gather4` rows completing on the spec's barrier, or tlspec's `scatter4` dispatch, the
  scatter4s committed as one bulk group (`..lower.tma_rows`, `..lower.scatter4`);
- the explicit asynchronous stages issue without waiting: a `tma_copy` load is the same TMA copy
  completing on the spec's barrier (whose `barrier_arrive` announced its bytes), a store is
  issued and committed as a bulk group; an `async_copy` is the cp.async loop and its commit. The
  synchronisation stages become their instruction: `barrier_arrive` one arrival (with its
  expect_tx) by thread 0 (by the thread `tlspec.leader` names: a warp-specialized producer's
  first thread; by every thread with `tlspec.every_thread`: the consumers' release of a slot), `barrier_wait` a parity wait in every thread, `async_commit` /
  `async_wait` cp.async.commit_group / wait_group in every thread, `tma_store_wait` a bulk
  wait_group.read by thread 0 (the thread that issued the stores; a full wait_group when a
  stage reads a tensor the stores write). Before the block exits, the
  stores and cp.async copies still in flight are waited for (their shared memory must outlive
  them).

The fills of SIMT stages (`fill` other than zero) are the function attribute `tlspec.fills`
(stage pointer -> [source tensor, bits]), which the guard passes store where a load of that
tensor by that stage lies outside it.

Each lowered stage is wrapped in `AttrStmt(<stage pointer>, "tlspec.stage", "<kind>:<instruction>")`
so that later passes (and IR dumps) can tell which stage a statement came from; the instruction
of a warp-specialized ring's wait or arrival is `ring`.
"""
from __future__ import annotations

from math import prod

import tvm
import tvm_ffi
from tvm import tirx
from tvm.ir.expr import TensorLoad
from tvm.script.ir_builder import tirx as T
from tvm.tirx.tile_primitive import TilePrimitiveCall

from ...im2col import is_nchw, windows
from .. import ops
from ..analysis import (STAGE_ATTR, analyzer_for, base_ranges, dtype_bytes, flat_view_name,
                        region_parts, rows_view_name, scope_kind, thread_info)
from ..guards import FILLS
from ..lower import pitched, scatter4, tma_rows, tma_strided
from ..lower.cluster import (bulk_copy, cluster_mbarrier, cluster_rank, fence_remote_stores,
                             remote_operand, signal_remote, sync_cluster)
from ..lower.common import Operand, VectorLoop, as_bits, bit_type, const, loop, rebuilt, seq
from ..lower.convert import lower_converting_copy
from ..lower.copy import copy_shape, lower_copy
from ..lower.cp_async import lower_cp_async
from ..lower.gather import indexed_shape, lower_computed, lower_indexed
from ..lower.im2col import lower_im2col
from ..lower.oob_record import FaultRecord
from ..oob_sites import LOOPS, RECORD_NAME, ROWS, VALUES
from ..lower.tma_operands import cache_hint, multicast, store_wait, tma_operand
from ..lower.transpose import lower_transpose, lower_transpose_blocks
from . import global_writes
from .apply_eviction_hints import mark
from .split_host_device import READS_TMA_STORES
from .merge_shared_memory_allocations import MBARRIERS, tile_layout
from .producer_consumer_warp_specialized import EVERY_THREAD, LEADER, RING

FAULT_WORDS = 1 + VALUES + ROWS     # a computed row's fault operands: site, values, rows
COMMIT = "tlspec.commit"    # config of an async_copy: False when its group is committed elsewhere
# config of a barrier_arrive: the rank of the block whose mbarrier (at this block's slot) it
# arrives on, through distributed shared memory (a multicast pipeline's release of a slot)
REMOTE_RANK = "tlspec.remote_rank"



class _Lowerer:
    def __init__(self, func):
        self.func = func
        self.tid, self.nthreads = thread_info(func)
        self.analyzer = analyzer_for(base_ranges(func))
        self.views: dict[str, tirx.Buffer] = {}

        def on_decl(decl):
            self.views[decl.buffer.name] = decl.buffer

        tvm_ffi.structural_walk(func.body, (tirx.DeclBuffer, on_decl), order="pre")
        self.loops: list[tirx.For] = []
        self.bit_views: list[tuple[tirx.Buffer, tirx.Buffer]] = []    # (view, source) of a stage
        self.fills: dict[str, list[str]] = {}   # stage pointer -> [source tensor, fill bits]
        self.pitched: dict[str, list] = {}      # strided tensor -> its shape (..lower.pitched)
        self.global_writes: list[list] = []     # per stage, in program order (global_writes)
        # last: reading the fragments' copies takes operands, a pitched one's view included
        self.fragments = self._fragment_registers()
        self.read_globals = self._read_globals()
        self.explicit_stores = self.explicit_cp_async = False    # in flight until drained
        stores = self._tma_stores()
        # a TMA store writes a tensor some stage reads (see SplitHostDevice); an explicit one's
        # writes must then be complete, not only read out, at tma_store_wait
        self.stored_and_read = bool(set(stores) & self.read_globals)
        # a store's writes must be complete, not only read out of the tile, where a stage reads
        # the tensor or may write its elements again (global_writes.Rewrites)
        self.rewrites = global_writes.Rewrites(func)
        self.explicit_stores_complete = any(stores[name] and (name in self.read_globals or
                                                          self.rewrites.tensor_again(name))
                                        for name in stores)

    # -- fragments -------------------------------------------------------------------------
    def _fragment_registers(self) -> dict[str, tuple[tirx.Buffer, tirx.Buffer]]:
        """logical fragment -> (logical, per-thread register array) for every fragment."""
        found = {}

        def visit(call):
            kind = ops.kind_of(call)
            if kind not in ("copy", "gather", "scatter"):
                return
            config = ops.config_of(call)
            logical = [Operand(r.source.name, "fragment", r.source, *region_parts(r)[1:],
                               list(r.source.shape)) if scope_kind(r.source) == "fragment"
                       else r for r in call.args[:2]]
            for operand in logical:
                if not isinstance(operand, Operand) or operand.name in found:
                    continue
                if kind == "copy":
                    shape, _, _ = copy_shape(*(o if isinstance(o, Operand) else
                                               self._operand(o, bits=False) for o in logical))
                else:                          # a fragment is a gather's or scatter's rows
                    shape = indexed_shape(operand)
                slots = VectorLoop(shape, config["tlspec.vector"],
                                   config.get("tlspec.threads")).slots(self.nthreads)
                registers = tirx.decl_buffer((slots,), bit_type(operand.dtype),
                                             name=operand.name, scope="local")
                found[operand.name] = (operand.access, registers)

        tvm_ffi.structural_walk(self.func.body, (TilePrimitiveCall, visit), order="pre")
        return found

    def _read_globals(self) -> set[str]:
        """Global tensors some stage reads (every tile operation writes its first operand), the
        index tensors that computed indices read included."""
        names = set()

        def visit(call):
            for region in call.args[1:]:
                if hasattr(region, "source") and scope_kind(region.source) == "global":
                    names.add(region.source.name)
            tvm_ffi.structural_walk(call.args[1:], (TensorLoad, lambda load: names.add(
                load.source.name) if scope_kind(load.source) == "global" else None),
                                    order="pre")

        tvm_ffi.structural_walk(self.func.body, (TilePrimitiveCall, visit), order="pre")
        return names

    def _tma_stores(self) -> dict[str, bool]:
        """Global tensor -> whether an explicit `tma_copy` or a scatter4 (not only a `copy`)
        stores to it by TMA."""
        stores: dict[str, bool] = {}

        def visit(call):
            kind = ops.kind_of(call)
            if (kind in ("copy", "tma_copy", "scatter") and ops.config_of(call).get(
                    "tlspec.instruction") == "tma" and scope_kind(call.args[0].source) == "global"):
                name = call.args[0].source.name
                stores[name] = stores.get(name, False) or kind != "copy"

        tvm_ffi.structural_walk(self.func.body, (TilePrimitiveCall, visit), order="pre")
        return stores

    # -- operands --------------------------------------------------------------------------
    def _operand(self, region, bits: bool = True, steps: list[int] | None = None) -> Operand:
        """The operand of `region`, its elements moved as bits (`as_bits`, the view declared
        where the stage starts); `bits=False`: as values of its dtype (a gather's index);
        `steps`: a strided copy region's (`ops.STEPS`)."""
        buffer, starts, extents = region_parts(region)
        kind = scope_kind(buffer)
        layout = None
        if kind == "shared":
            access, layout = self.views[flat_view_name(buffer.name)], tile_layout(self.func, buffer)
        elif kind == "fragment":
            access = self.fragments[buffer.name][1]
        elif pitched.declared(buffer):
            access = self._pitched_view(buffer)
        else:
            access = buffer
        if bits and not as_bits(access).same_as(access):
            self.bit_views.append((as_bits(access), access))
            access = self.bit_views[-1][0]
        return Operand(buffer.name, kind, access, starts, extents, list(buffer.shape), layout,
                       steps)

    def _pitched_view(self, buffer) -> tirx.Buffer:
        """The stage's pitched view of a strided global tensor (..lower.pitched), declared
        where the stage starts."""
        view = next((v for v, source in self.bit_views if source.same_as(buffer)), None)
        if view is None:
            view = pitched.pitched_view(buffer, self.analyzer)
            self.bit_views.append((view, buffer))
            self.pitched[buffer.name] = list(buffer.shape)
        return view

    def _pitched_reads(self, expr):
        """`expr` (a computed index) with its reads of strided global tensors addressed through
        their pitched views: tirx would address them row-major, ignoring their strides."""
        def load(node):
            if scope_kind(node.source) != "global" or not pitched.declared(node.source):
                return node
            return tirx.BufferLoad(self._pitched_view(node.source), node.indices)

        return tvm_ffi.structural_map(expr, (TensorLoad, load), order="post")

    # -- traversal -------------------------------------------------------------------------
    def visit(self, stmt):
        if isinstance(stmt, tirx.SeqStmt):
            return tirx.SeqStmt([self.visit(s) for s in stmt.seq])
        if isinstance(stmt, tirx.For):
            self.loops.append(stmt)
            body = self.visit(stmt.body)
            self.loops.pop()
            return rebuilt(stmt, body)
        if isinstance(stmt, tirx.AttrStmt):
            return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, self.visit(stmt.body))
        if isinstance(stmt, tirx.IfThenElse):          # a pipeline's guarded loads
            return tirx.IfThenElse(stmt.condition, self.visit(stmt.then_case),
                                   None if stmt.else_case is None else self.visit(stmt.else_case))
        if isinstance(stmt, tirx.AllocBuffer) and scope_kind(stmt.buffer) == "fragment":
            return tirx.AllocBuffer(self.fragments[stmt.buffer.name][1])
        if isinstance(stmt, TilePrimitiveCall) and ops.kind_of(stmt) is not None:
            return self._stage(stmt)
        return stmt

    def _stage(self, call):
        kind = ops.kind_of(call)
        config = ops.config_of(call)
        instruction = config.get("tlspec.instruction")
        self.bit_views = []
        if kind in ops.SYNC_ARGS:
            body, instruction = self._sync(kind, call), "ring" if config.get(RING) else "sync"
        elif kind == "copy_cluster":
            body = self._copy_cluster(call, config)
        elif instruction == "tma" and kind in ("gather", "scatter"):
            body = self._tma_rows(kind, call, config)
        elif instruction == "tma":
            body = self._tma(call, config, explicit=kind == "tma_copy")
        elif instruction == "cp_async":
            body = self._cp_async(call, config, wait=kind == "copy")
        else:
            if ops.FILL in config:
                self.fills[config[ops.STAGE]] = [call.args[1].source.name, config[ops.FILL]]
            body = mark(self._simt(kind, call, config),
                        str(config.get("eviction_policy", "evict_normal")))
        body = seq([tirx.DeclBuffer(view, data=source.data) for view, source in self.bit_views]
                   + [body])
        self.global_writes.append(global_writes.record(kind, call))
        return tirx.AttrStmt(tvm.ir.StringImm(config[ops.STAGE]), STAGE_ATTR,
                             tvm.ir.StringImm(f"{kind}:{instruction}"), body)

    def _simt(self, kind, call, config):
        vector = config["tlspec.vector"]
        args = [self._operand(a, bits=i != 2 or kind not in ("gather", "scatter"),
                              steps=ops.steps_of(call, i) if kind == "copy" else None)
                if hasattr(a, "source") else a for i, a in enumerate(call.args)]
        if kind == "copy":
            values = tuple(str(region_parts(a)[0].dtype) for a in (call.args[1], call.args[0]))
            if values[0] != values[1]:
                return lower_converting_copy(args[0], args[1], values, vector,
                                             config.get("tlspec.threads"), self.tid, self.nthreads)
            return lower_copy(args[0], args[1], vector, config.get("tlspec.threads"),
                              self.tid, self.nthreads)
        if kind == "transpose" and config.get("tlspec.form") == "blocks":
            return lower_transpose_blocks(args[0], args[1], vector, config["tlspec.block_rows"],
                                          self.tid, self.nthreads)
        if kind == "transpose":
            return lower_transpose(args[0], args[1], vector, self.tid, self.nthreads)
        fault = None
        if config.get("out_of_range") == "error":     # the debug mode: tileir's fault operands
            fault, args = FaultRecord(self._record(), args[-LOOPS:]), args[:-LOOPS]
        if ops.INDICES in config:
            return self._computed(kind, args, config, vector, fault)
        if kind in ("gather", "scatter"):
            table, rows = (args[1], args[0]) if kind == "gather" else (args[0], args[1])
            return lower_indexed(kind, table, rows, args[2], vector, self.tid, self.nthreads,
                                 fault and (fault, args[3]))
        return lower_im2col(args[0], args[1], args[2], args[3], windows(config), vector,
                            self.tid, self.nthreads, int(config.get(ops.FILL, "0"), 16),
                            is_nchw(config))

    def _computed(self, kind, args, config, vector, fault=None):
        """A gather or scatter with computed indices: [table region, rows region] in the
        stage's order, then the index values, whether their reads lie inside the index
        buffers, the row offsets and, in the debug mode, a row's fault words (tileir's
        `_computed_indices`)."""
        count = int(config[ops.INDICES])
        table, rows = (args[1], args[0]) if kind == "gather" else (args[0], args[1])
        values = [self._pitched_reads(v) for v in args[2:2 + count]]
        rest = [self._pitched_reads(a) for a in args[2 + count:]]
        if fault is not None:
            rest, words = rest[:-FAULT_WORDS], rest[-FAULT_WORDS:]
            fault = (fault, words)
        return lower_computed(kind, table, rows, values, rest[0], rest[1:],
                              [int(d) for d in config[ops.ROW_DIMS]], vector, self.tid,
                              self.nthreads, int(config.get(ops.FILL, "0"), 16), fault)

    def _record(self):
        """The fault record parameter (tileir adds it for the debug mode)."""
        return next(p for p in self.func.params if p.name == RECORD_NAME)

    # -- TMA -------------------------------------------------------------------------------
    def _tma(self, call, config, explicit: bool):
        """A TMA copy by thread 0. A `copy` waits for it (a load on its own mbarrier, armed with
        the box's bytes; a store until it is read out); an explicit `tma_copy` does not: its
        load completes on the spec's barrier, its store is waited for by tma_store_wait."""
        dst, src = call.args[0], call.args[1]
        leader = self.tid == config.get(LEADER, 0)
        hint = cache_hint(config)
        load = scope_kind(dst.source) == "shared"
        tensor, view = tma_operand(src if load else dst)
        if load:
            slot = call.args[2] if explicit else int(config["tlspec.mbarrier"])
            mbar = self.views[MBARRIERS].ptr_to([slot])
            steps = ops.steps_of(call, 1)       # a strided region's (a pipeline keeps them)
            strided = {tma_strided.STRIDES: steps} if any(s != 1 for s in steps) else {}
            issue = [view, TilePrimitiveCall(
                self._tma_tile(dst), tensor, op=ops.COPY_ASYNC_OP,
                config={"mbar": mbar, **hint, **multicast(config), **strided},
                dispatch=tma_strided.DISPATCH if strided else "tma_explicit")]
            if explicit and "cluster_mask" in config:      # a multicast pipeline's load
                mask = int(config["cluster_mask"])
                leader = leader & (cluster_rank(self.func) == (mask & -mask).bit_length() - 1)
            if explicit:
                return tirx.IfThenElse(leader, seq(issue), None)
            # the box's bytes, what TMA counts on the mbarrier (also where it lies past the end;
            # a strided region's: the elements it writes into the tile, not those it traverses)
            nbytes = prod(const(e) for e in region_parts(src)[2]) * dtype_bytes(src.source.dtype)
            issue.append(tirx.Evaluate(
                T.ptx.mbarrier.arrive.expect_tx.shared.b64(mbar, T.uint32(nbytes))))
            return seq([tirx.IfThenElse(leader, seq(issue), None),
                        tirx.Evaluate(T.cuda.mbarrier_wait(mbar, self._phase()))])
        self.explicit_stores |= explicit
        issue = [view, TilePrimitiveCall(tensor, self._tma_tile(src), op=ops.COPY_ASYNC_OP,
                                         config=hint, dispatch="tma_explicit"),
                 tirx.Evaluate(T.ptx["cp.async.bulk.commit_group"]())]
        if not explicit:
            issue.append(store_wait(0, complete=dst.source.name in self.read_globals or
                                    self.rewrites.again("copy", call, self.loops)))
        return tirx.IfThenElse(leader, seq(issue), None)

    # -- clusters ----------------------------------------------------------------------------
    def _copy_cluster(self, call, config):
        """A TMA multicast, issued by the lowest rank of the mask and waited for by every block
        of it on its own mbarrier (armed with the box's bytes); or a block-to-block copy
        (`..lower.cluster`)."""
        dst, src = call.args[0], call.args[1]
        if "cluster_mask" in config:
            rank = cluster_rank(self.func)
            mask = int(config["cluster_mask"])
            tensor, view = tma_operand(src)
            mbar = self.views[MBARRIERS].ptr_to([int(config["tlspec.mbarrier"])])
            nbytes = prod(const(e) for e in region_parts(src)[2]) * dtype_bytes(src.source.dtype)
            issue = tirx.IfThenElse(rank == (mask & -mask).bit_length() - 1, seq([
                view, TilePrimitiveCall(self._tma_tile(dst), tensor, op=ops.COPY_ASYNC_OP,
                                        config={"mbar": mbar, **cache_hint(config),
                                                **multicast(config)},
                                        dispatch="tma_explicit")]), None)
            arm = tirx.Evaluate(T.ptx.mbarrier.arrive.expect_tx.shared.b64(mbar, T.uint32(nbytes)))
            return tirx.IfThenElse(
                tirx.floormod(tirx.shift_right(tirx.IntImm("int32", mask), rank), 2) == 1,
                seq([tirx.IfThenElse(self.tid == 0, seq([arm, issue]), None),
                     tirx.Evaluate(T.cuda.mbarrier_wait(mbar, self._phase()))]), None)
        block = call.args[2]
        mbar = None if ops.absent(call.args[3]) else self.views[MBARRIERS].ptr_to([call.args[3]])
        to, frm = self._operand(dst), self._operand(src)
        nbytes = prod(const(e) for e in region_parts(dst)[2]) * dtype_bytes(dst.source.dtype)
        if config["tlspec.instruction"] == "bulk":
            return bulk_copy(to, frm, nbytes, block, mbar, self.tid == 0)
        remote, pointer, value = remote_operand(to, block)
        loop = lower_copy(remote, frm, config["tlspec.vector"], config.get("tlspec.threads"),
                          self.tid, self.nthreads)
        copy = seq([tirx.LetStmt(pointer, value), tirx.DeclBuffer(remote.access, data=pointer),
                    loop, fence_remote_stores()])
        if mbar is None:
            return copy
        return seq([copy, signal_remote(nbytes, block, mbar, self.tid == 0)])
    def _tma_rows(self, kind: str, call, config):
        """A gather4 / scatter4 (`..lower.tma_rows`): thread 0 reads each 4 indices and issues
        one TMA instruction for them. A gather4 completes on the spec's barrier (its
        barrier_arrive announced the bytes); the scatter4s are committed as one bulk group,
        waited for by tma_store_wait."""
        table, tile = (call.args[1], call.args[0]) if kind == "gather" else call.args[:2]
        index = self._operand(call.args[2], bits=False)
        tensor, view = tma_operand(tma_rows.table_box(table))
        hint = cache_hint(config)

        def issue(group):
            rows = tma_rows.row_coordinates(index, table.source.shape[0], group,
                                            base_ranges(self.func))
            if kind == "gather":
                mbar = self.views[MBARRIERS].ptr_to([call.args[3]])
                return TilePrimitiveCall(self._tma_tile(tma_rows.tile_rows(tile, group, 4)),
                                         tensor, op=ops.COPY_ASYNC_OP, dispatch="tma_explicit",
                                         config={"mbar": mbar, "gather4": rows, **hint})
            return TilePrimitiveCall(tensor, self._tma_tile(tma_rows.tile_rows(tile, group, 1)),
                                     op=ops.COPY_ASYNC_OP, dispatch=scatter4.DISPATCH,
                                     config={scatter4.ROWS: rows, **hint})

        issues = [view, loop("g", tma_rows.groups(index), issue)]
        if kind == "scatter":
            self.explicit_stores = True
            issues.append(tirx.Evaluate(T.ptx["cp.async.bulk.commit_group"]()))
        return tirx.IfThenElse(self.tid == config.get(LEADER, 0), seq(issues), None)

    # -- synchronisation stages ------------------------------------------------------------
    def _sync(self, kind: str, call):
        args = dict(zip(ops.SYNC_ARGS[kind], call.args))
        config = ops.config_of(call)
        if kind == "sync_cluster":
            return sync_cluster()
        if kind == "barrier_arrive" and REMOTE_RANK in config:
            mbar = self.views[MBARRIERS].ptr_to([args["barrier"]])
            arrive = tirx.call_extern("void", "tlspec_cluster_arrive", cluster_mbarrier(
                mbar, config[REMOTE_RANK]))
            return tirx.IfThenElse(self.tid == 0, tirx.Evaluate(arrive), None)
        if kind == "barrier_arrive":
            mbar = self.views[MBARRIERS].ptr_to([args["barrier"]])
            nbytes = const(args["expect_tx"])
            arrive = tirx.Evaluate(
                T.ptx.mbarrier.arrive.shared.b64(mbar) if nbytes == 0 else
                T.ptx.mbarrier.arrive.expect_tx.shared.b64(mbar, tirx.Cast("uint32",
                                                                           args["expect_tx"])))
            if config.get(EVERY_THREAD):
                return arrive
            return tirx.IfThenElse(self.tid == config.get(LEADER, 0), arrive, None)
        if kind == "barrier_wait":
            mbar = self.views[MBARRIERS].ptr_to([args["barrier"]])
            return tirx.Evaluate(T.cuda.mbarrier_wait(mbar, args["parity"]))
        if kind == "async_commit":
            return tirx.Evaluate(T.ptx["cp.async.commit_group"]())
        if kind == "async_wait":
            return tirx.Evaluate(T.ptx["cp.async.wait_group"](int(args["pending"])))
        return tirx.IfThenElse(self.tid == 0, store_wait(int(args["pending"]),
                                                          self.explicit_stores_complete), None)

    def drain(self):
        """What must finish before the block exits: the explicit TMA stores (thread 0 issued
        them) and cp.async copies still in flight, or None."""
        waits = []
        if self.explicit_stores:
            waits.append(tirx.IfThenElse(self.tid == 0, store_wait(0, self.explicit_stores_complete),
                                         None))
        if self.explicit_cp_async:
            waits.append(tirx.Evaluate(T.ptx["cp.async.wait_group"](0)))
        return seq(waits) if waits else None

    def _tma_tile(self, region):
        """The shared side of a TMA copy as tirx's dispatch takes it: where TMA pads a swizzled
        tile's rows to the span, the same part of the tile's storage rows (`<tile>_rows`, in
        which it is dense). tirx encodes the box from the global side only."""
        buffer, starts, extents = region_parts(region)
        rows = self.views.get(rows_view_name(buffer.name))
        if rows is None:
            return region
        pitch = int(rows.shape[-1])
        last = tirx.IntImm("int32", pitch) if const(extents[-1]) == const(buffer.shape[-1]) \
            else extents[-1]
        return rows[tuple(slice(b, b + e) for b, e in zip(starts, [*extents[:-1], last]))]

    # -- cp.async --------------------------------------------------------------------------
    def _cp_async(self, call, config, wait: bool):
        """A cp.async copy; a `copy` waits for its own group, an `async_copy` does not."""
        self.explicit_cp_async |= not wait
        if call.args[0].source.dtype != call.args[1].source.dtype:     # bits, not values
            raise RuntimeError(f"a cp.async copy of {call.args[1].source.dtype} into "
                               f"{call.args[0].source.dtype}: cp.async cannot convert")
        dst, src = (self._operand(a, steps=ops.steps_of(call, i))
                    for i, a in enumerate(call.args[:2]))
        return lower_cp_async(dst, src, config["tlspec.vector"], config.get("tlspec.threads"),
                              self.tid, self.nthreads, wait=wait,
                              commit=config.get(COMMIT, True))

    def _phase(self):
        """Parity of the number of times the enclosing loops have run this stage before."""
        count, scale = tirx.IntImm("int32", 0), 1
        for loop in reversed(self.loops):
            count = count + (loop.loop_var - loop.min) * scale
            scale = scale * loop.extent
        return tirx.floormod(count, 2)


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.LowerTileOp")
class LowerTileOp:
    def transform_function(self, func, mod, ctx):
        lowerer = _Lowerer(func)
        body = lowerer.visit(func.body)
        drain = lowerer.drain()
        func = func.with_body(body if drain is None else _at_end(body, drain))
        if lowerer.stored_and_read:     # see SplitHostDevice
            func = func.with_attr(READS_TMA_STORES, True)
        if lowerer.fills:               # see ..guards
            func = func.with_attr(FILLS, lowerer.fills)
        if lowerer.pitched:             # see ..guards
            func = func.with_attr(pitched.PITCHED, lowerer.pitched)
        return func.with_attr(global_writes.ATTR, lowerer.global_writes)   # see ThreadSync


def _at_end(body, stmt):
    """`body` with `stmt` run last, inside the kernel's launch attributes."""
    if isinstance(body, tirx.AttrStmt):
        return tirx.AttrStmt(body.node, body.attr_key, body.value, _at_end(body.body, stmt))
    return seq([*(body.seq if isinstance(body, tirx.SeqStmt) else [body]), stmt])
