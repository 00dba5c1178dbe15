"""The tile IR: a validated Kernel as a tvm.tirx PrimFunc, built with tvm's IRBuilder.

Each stage is still one tile-level operation (see `ops`): the global buffers are the function's
arguments (`match_buffer`, row-major or with their declared `strides`; symbolic dims become
int32 arguments), the grid and the
thread block are tirx's `cta_id` / `thread_id`, shared tiles are `shared.dyn` allocations in
their logical shape, fragments `local.fragment` allocations. A shared tile or fragment that no
stage uses is not allocated: it takes no shared memory and no registers. Decisions about
instructions, layouts and memory placement are left to the passes.

A global buffer has no tirx layout: tirx then indexes it by its shape, one affine offset per
access. With a layout, tirx flattens the indices by the shape and splits the flat index again by
the layout; where the layout's strides are not written as the shape's (`N // 32 * 32` for `N`),
the `// N` and `% N` of that split stay, around the vector lane too, and reach CUDA code
generation as vector divisions it cannot print. (AlignVectorLoads makes the alignment that a
dim's `multiple_of` gives vector loads visible to code generation.)

The spec's mbarriers are slots of one array the passes allocate (`_tlspec_mbar`): each
`alloc_barrier` array gets `count` consecutive slots, and a stage names a barrier by its slot
(`ops.SYNC_ARGS`). A kernel with `out_of_range: error` stages takes one more argument after the
global buffers, the fault record `_tlspec_oob` (oob_sites), and each such stage's call ends with
its fault operands (the site and values of a row, the enclosing loops' variables). A `pipeline` loop is a serial loop annotated with its `num_stages` and its
stage's pointer (`tlspec.pipeline`), for the pipelining passes.

Function attributes carry what the passes need to reason about the code:
`tlspec.threads` (threads per block), `tlspec.thread_var` (the thread index),
`tlspec.var_ranges` (the range of every block index and symbolic dim), `tlspec.multiples`
(the `multiple_of` of symbolic dims), `tlspec.target`, `tlspec.barriers` (for each barrier
array: its first slot, count and arrive count) and, with `launch.cluster`, `tlspec.cluster` (its
extents along the grid's x, y and z) and `tlspec.block_vars` (the block indices, x first).
"""
from __future__ import annotations

from dataclasses import replace

import tvm
from tvm import tirx
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder import tirx as T
from tvm.tirx.script.builder.tirx import f_insert as insert_tile_call

from ..expr import Var, evaluate
from ..index_expr import loads, row_dims, rows_hull
from ..fill import fill_bits
from ..rules.fill import SOURCE
from ..model import Buffer, Kernel, RegionRef, Stage
from . import ops
from .oob_sites import (LOOPS, RECORD_NAME, RECORD_WORDS, ROWS, VALUES, debug_mode,
                        site_number, sites)
from .prims import to_prim, tvm_dtype
from .specialize import row_dim_names

INT32_MAX = 2**31 - 1
FRAGMENT_SCOPE = "local.fragment"
# loop annotation: {"num_stages": n, "stage": pointer, "warp_specialize": "true" | "false" | "auto"}
PIPELINE_ATTR = "tlspec.pipeline"


class _Builder:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.env: dict[str, tirx.PrimExpr] = {}
        self.buffers: dict[str, tirx.Buffer] = {}
        self.loop_vars: list[tirx.Var] = []         # the enclosing loops, outermost first
        self.sites = sites(kernel)                  # of out_of_range: error (oob_sites)
        self.ranges: dict[tirx.Var, tvm.ir.Range] = {}
        self.multiples: dict[tirx.Var, int] = {}
        self.barriers: dict[str, list[int]] = {}      # name -> [first slot, count, arrive count]
        for barrier in kernel.barriers.values():
            first = sum(b[1] for b in self.barriers.values())
            self.barriers[barrier.name] = [first, barrier.count, barrier.arrive_count]

    def build(self) -> tirx.PrimFunc:
        kernel = self.kernel
        used = {ref.name for stage in kernel.walk() for ref in stage.regions.values()}
        tiles = [b for b in kernel.buffers.values()     # allocated: those some stage uses
                 if (b.is_shared or b.scope == "fragment") and b.name in used]
        spec_layouts = {b.name: b.layout for b in tiles if b.is_shared}
        with IRBuilder() as ib:
            with T.prim_func():
                T.func_name(kernel.name)
                self._dims()
                for buffer in kernel.buffers.values():
                    if buffer.is_global:
                        handle = T.arg(f"{buffer.name}_handle", T.handle())
                        strides = None if buffer.strides is None else [
                            to_prim(s, self.env) for s in buffer.strides]
                        self.buffers[buffer.name] = IRBuilder.name(
                            buffer.name, T.match_buffer(handle, self._shape(buffer),
                                                        tvm_dtype(buffer.dtype), strides=strides))
                if self.sites:              # the debug mode's fault record, a hidden parameter
                    handle = T.arg(f"{RECORD_NAME}_handle", T.handle())
                    self.buffers[RECORD_NAME] = IRBuilder.name(
                        RECORD_NAME, T.match_buffer(handle, [RECORD_WORDS], "int64"))
                T.device_entry()
                self._launch()
                for buffer in tiles:
                    scope = "shared.dyn" if buffer.is_shared else FRAGMENT_SCOPE
                    self.buffers[buffer.name] = IRBuilder.name(
                        buffer.name, T.alloc_buffer(self._shape(buffer), tvm_dtype(buffer.dtype),
                                                    scope=scope))
                self._stages(kernel.stages)
        func = ib.get()
        cluster = list(kernel.launch.cluster or ())
        if cluster:
            func = func.with_attr("tlspec.cluster", cluster + [1] * (3 - len(cluster)))
            func = func.with_attr("tlspec.block_vars", self.block_vars)
        for key, value in {"tlspec.threads": kernel.launch.threads, "tlspec.thread_var": self.tid,
                           "tlspec.var_ranges": self.ranges, "tlspec.multiples": self.multiples,
                           "tlspec.row_dims": [self.env[name] for name in row_dim_names(kernel)],
                           "tlspec.target": kernel.target.name,
                           "tlspec.spec_layouts": spec_layouts,
                           "tlspec.barriers": self.barriers}.items():
            func = func.with_attr(key, value)
        return func

    # -- declarations --------------------------------------------------------------------------
    def _dims(self) -> None:
        alone = {e.name for b in self.kernel.buffers.values() if b.is_global for e in b.shape
                 if isinstance(e, Var)}
        for dim in self.kernel.dims.values():
            if dim.symbolic:
                var = IRBuilder.name(dim.name, T.int32())
                if dim.name not in alone:      # tvm binds a dim from a shape where it is alone;
                    var = T.arg(dim.name, var)  # the others are arguments of their own
                low = dim.min if dim.min is not None else 0
                high = dim.max if dim.max is not None else INT32_MAX - 1
                self.ranges[var] = tvm.ir.Range.from_min_extent(low, high - low + 1)
                if dim.multiple_of:
                    self.multiples[var] = dim.multiple_of
                self.env[dim.name] = var
            else:
                self.env[dim.name] = tirx.IntImm("int32", dim.value)

    def _shape(self, buffer: Buffer) -> list[tirx.PrimExpr]:
        return [to_prim(extent, self.env) for extent in buffer.shape]

    def _launch(self) -> None:
        launch = self.kernel.launch
        extents = [to_prim(index.extent, self.env) for index in launch.grid]
        ids = T.cta_id(extents)
        ids = [ids] if isinstance(ids, tirx.Var) else list(ids)
        self.block_vars = ids                  # blockIdx.x, .y, .z
        for index, var, extent in zip(launch.grid, ids, extents):
            IRBuilder.name(index.name, var)
            self.env[index.name] = var
            self.ranges[var] = tvm.ir.Range.from_min_extent(0, extent)
        threads = launch.threads
        T.warp_id([threads // 32])
        T.lane_id([32])
        self.tid = IRBuilder.name("tid", T.thread_id([threads]))

    # -- stages --------------------------------------------------------------------------------
    def _region(self, ref: RegionRef):
        buffer = self.buffers[ref.name]
        slices = []
        for start, extent in ref.dims:
            begin = to_prim(start, self.env)
            slices.append(slice(begin, begin + to_prim(extent, self.env)))
        return buffer[tuple(slices)]

    def _steps(self, ref: RegionRef) -> list[int]:
        """The region's steps (constants: see rules.regions.check_steps)."""
        if not ref.steps:
            return [1] * len(ref.dims)
        constants = {d.name: d.value for d in self.kernel.dims.values() if not d.symbolic}
        return [evaluate(step, constants) for step in ref.steps]

    def _stages(self, stages: list[Stage]) -> None:
        for stage in stages:
            getattr(self, "_stage_" + stage.kind, self._stage_data)(stage)

    def _stage_sync_threads(self, stage: Stage) -> None:
        T.evaluate(T.cuda.cta_sync())

    def _stage_for(self, stage: Stage, annotations: dict | None = None) -> None:
        start = to_prim(stage.exprs["start"], self.env) if "start" in stage.exprs else 0
        extent = to_prim(stage.exprs["extent"], self.env)
        name = stage.options["var"]
        with T.serial(start, start + extent, annotations=annotations) as var:
            IRBuilder.name(name, var)
            self.env[name] = var
            self.loop_vars.append(var)
            self._stages(stage.body)
            self.loop_vars.pop()
        del self.env[name]

    def _stage_pipeline(self, stage: Stage) -> None:
        choice = stage.options.get("warp_specialize", "auto")
        self._stage_for(stage, {PIPELINE_ATTR: {
            "num_stages": stage.options.get("num_stages", 2), "stage": stage.pointer,
            "warp_specialize": choice if isinstance(choice, str) else str(choice).lower()}})

    def _stage_alloc_barrier(self, stage: Stage) -> None:
        """Nothing here: every barrier is a slot of the kernel's mbarrier array, initialised
        when the kernel starts (see `tlspec.barriers`)."""

    def _barrier_slot(self, stage: Stage, option: str) -> tirx.PrimExpr:
        ref = stage.barriers[option]
        first = self.barriers[ref.name][0]
        index = to_prim(ref.dims[0][0], self.env) if ref.dims else tirx.IntImm("int32", 0)
        return index + first if first else index

    def _sync_stage(self, stage: Stage) -> None:
        args = []
        for option in ops.SYNC_ARGS[stage.kind]:
            if option in stage.barriers:
                args.append(self._barrier_slot(stage, option))
            elif option in stage.exprs:
                args.append(to_prim(stage.exprs[option], self.env))
            else:                              # an integer option (pending) or one left out
                args.append(tirx.IntImm("int32", int(stage.options.get(option, 0))))
        insert_tile_call(ops.tile_call(stage.kind, args, {ops.STAGE: stage.pointer}))

    _stage_barrier_arrive = _stage_barrier_wait = _sync_stage
    _stage_async_commit = _stage_async_wait = _stage_tma_store_wait = _sync_stage

    def _stage_copy_cluster(self, stage: Stage) -> None:
        extra = [to_prim(stage.exprs["dst_block"], self.env) if "dst_block" in stage.exprs
                 else tirx.IntImm("int32", ops.NONE),
                 self._barrier_slot(stage, "remote_barrier") if "remote_barrier" in stage.barriers
                 else tirx.IntImm("int32", ops.NONE)]
        self._stage_data(stage, extra)

    def _stage_data(self, stage: Stage, extra: list | None = None) -> None:
        config = {ops.STAGE: stage.pointer}
        for key, value in stage.options.items():
            if key in stage.regions or key in stage.exprs or key in stage.barriers or key == "fill":
                continue
            if key == "loop_layout":
                config["loop_layout.threads"] = list(value.get("threads", []))
                if "vector" in value:
                    config["loop_layout.vector"] = value["vector"]
            elif isinstance(value, (bool, int, str)):
                config[key] = value
            elif isinstance(value, list):                   # im2col's [h, w] window options
                config[key] = list(value)
        if "fill" in stage.options:
            source = self.kernel.buffers[stage.regions[SOURCE[stage.kind]].name]
            bits = fill_bits(stage.options["fill"], source.dtype)
            if bits:
                config[ops.FILL] = hex(bits)
                config["fill"] = str(stage.options["fill"])       # for messages
        if any(ref.steps for ref in stage.regions.values()):
            config[ops.STEPS] = [self._steps(stage.regions[option]) for option in ("dst", "src")]
        if stage.indices:
            args = self._computed_indices(stage, config)
        elif stage.kind == "im2col":
            args = [self._region(stage.regions["col"]), self._region(stage.regions["img"]),
                    to_prim(stage.exprs["nhw_step"], self.env),
                    to_prim(stage.exprs["c_step"], self.env)]
        else:
            args = [self._region(stage.regions["dst"]), self._region(stage.regions["src"])]
            if "index" in stage.regions:
                args.append(self._region(stage.regions["index"]))
            if "barrier" in stage.barriers:          # a tma_copy load, a gather4
                args.append(self._barrier_slot(stage, "barrier"))
            args += extra or []
            if debug_mode(stage):                   # the site of an index region's values
                args.append(tirx.IntImm("int64", site_number(self.sites, stage)))
        if debug_mode(stage):
            args += self._loop_values()
        insert_tile_call(ops.tile_call(stage.kind, args, config))

    def _loop_values(self) -> list[tirx.PrimExpr]:
        """The enclosing loops' variables as the fault record's LOOPS words."""
        values = [tirx.Cast("int64", v) for v in self.loop_vars]
        return values + [tirx.IntImm("int64", 0)] * (LOOPS - len(values))

    def _computed_indices(self, stage: Stage, config: dict) -> list:
        """A gather's or scatter's operands with computed indices (`ops.INDICES`): its rows
        region over all rows (the hull), the table, the index values, whether every read of
        an index buffer lies inside it, and the row variables' offsets from their ranges'
        starts, free in the values (LowerTileOp binds them per row). Reads of int32 and int64
        index buffers are computed in int64, so that no value wraps into the table. In the
        debug mode the fault's site, values and rows follow (`_fault`)."""
        rows_option = "dst" if stage.kind == "gather" else "src"
        offsets = []
        for var in stage.each:
            offsets.append(tirx.Var(var.name, "int32"))
            self.env[var.name] = to_prim(var.start, self.env) + offsets[-1]
        reads: list[list[tuple]] = []          # per expression: (inside, coordinates) per read
        values = []
        for expr in stage.indices:
            reads.append([])
            values.append(to_prim(expr, {**self.env, **self._reads(expr, reads[-1])}))
        row_values = [tirx.Cast("int64", self.env[var.name]) for var in stage.each]
        rows = stage.regions[rows_option]
        hull = self._region(replace(rows, dims=rows_hull(rows, stage.each)))
        for var in stage.each:
            del self.env[var.name]
        config[ops.INDICES] = len(values)
        config[ops.ROW_DIMS] = row_dims(rows, stage.each)
        table = self._region(stage.regions["src" if stage.kind == "gather" else "dst"])
        regions = [table, hull] if stage.kind == "scatter" else [hull, table]
        valid = tirx.const(True, "bool")
        for ok, _ in (read for expression in reads for read in expression):
            valid = tirx.And(valid, ok)
        table_buffer = self.buffers[stage.regions["src" if stage.kind == "gather" else "dst"].name]
        fault = self._fault(stage, table_buffer, reads, values, row_values) \
            if debug_mode(stage) else []
        return [*regions, *values, valid, *offsets, *fault]

    def _fault(self, stage: Stage, table: tirx.Buffer, reads: list, values: list,
               row_values: list) -> list[tirx.PrimExpr]:
        """The debug mode's [site, VALUES values, ROWS row values] of a row: the first check
        that fails, in the interpreter's order (each expression's reads, then its value inside
        the table's dimension), as selects; site -1 for a row in range."""
        checks = []                           # (failed, site, values recorded)
        for j, (expression, value) in enumerate(zip(reads, values)):
            for r, (ok, at) in enumerate(expression):
                checks.append((tirx.Not(ok), site_number(self.sites, stage, j, r), at))
            inside = tirx.And(value >= 0, value < tirx.Cast("int64", table.shape[j]))
            checks.append((tirx.Not(inside), site_number(self.sites, stage, j), [value]))
        site = tirx.IntImm("int64", -1)
        recorded = [tirx.IntImm("int64", 0)] * VALUES
        for failed, number, words in reversed(checks):     # the first check outermost
            site = tirx.if_then_else(failed, tirx.IntImm("int64", number), site)
            recorded = [tirx.if_then_else(failed, tirx.Cast("int64", words[k]), old)
                        if k < len(words) else old for k, old in enumerate(recorded)]
        return [site, *recorded, *row_values,
                *[tirx.IntImm("int64", 0)] * (ROWS - len(row_values))]

    def _reads(self, expr, reads: list) -> dict[str, tirx.PrimExpr]:
        """The reads of index buffers in `expr` as int64 values (0 where a read would leave its
        buffer; `reads` gets (the condition that it does not, its coordinates))."""
        values = {}
        for read in loads(expr):
            buffer = self.buffers[read.buffer]
            at = [to_prim(s, self.env) for s in read.subscripts]
            ok = tirx.const(True, "bool")
            for index, extent in zip(at, buffer.shape):
                ok = tirx.And(ok, tirx.And(index >= 0, index < extent))
            reads.append((ok, at))
            values[read.name] = tirx.if_then_else(
                ok, tirx.Cast("int64", tirx.BufferLoad(buffer, at)), tirx.IntImm("int64", 0))
        return values


def build_tile_ir(kernel: Kernel) -> tvm.IRModule:
    """The tile IR of `kernel` (validated and supported by this release) as an IRModule."""
    return tvm.IRModule({"main": _Builder(kernel).build()})
