"""InstructionAnnotation: choose, for every tile operation, how it moves data, and record why.

A copy between global memory and a shared tile uses TMA on a target that has it, unless the spec
rules it out (`disable_tma`, `loop_layout`, `prefer_instruction`) or TMA cannot express it: its
descriptor (the global region as the box, over the tensor's rank) would break a rule of the
driver (`tlspec.tensormap_rules`: strides that are not multiples of 16 bytes, a box above 256,
rank above 5, ...), or TMA would not place the elements where the tile keeps them (a padded
tile, a part of the tile that is not contiguous or does not start at a multiple of 128 bytes,
rows of a swizzled tile not moved whole). Everything else is a SIMT loop of vector accesses
whose width is the widest that the extents, starts and row lengths are proven to allow (or
`coalesced_width`), and never one that could hold both the last elements of a tensor and
elements past them (`vector_widths`); the stages of one fragment share one vector and thread grid
(`fragment_layouts`). A transpose is a SIMT loop of the column form, or with
`form: blocks` of blocks of H src rows x V src columns.
A `prefer_instruction: cp_async` copy is such a loop with one cp.async per vector, so its
vectors must be 4, 8 or 16 bytes.
A copy with a fill other than zero (`fill`) is a SIMT loop unless its source region is proven
to lie inside the tensor: TMA and cp.async read zeros outside a tensor, and the guards
(`..guards`) store the fill there instead. (TMA's NaN fill, FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA,
is not used for `fill: nan`: it writes the hardware's NaN, whose bits are not shown to be the
canonical quiet NaN docs/spec.md promises.)
A spec that asks for something that cannot be done (`prefer_instruction: tma` that TMA cannot
express, a `coalesced_width` wider than what is legal, cp.async vectors of another size) is a
compile error at that option.
The explicit asynchronous copies name their instruction: a `tma_copy` is one TMA copy (else an
error at the stage, with the reason), an `async_copy` the cp.async loop, a gather or scatter with
`rows: 4` (sm_100a) TMA gather4 / scatter4: one instruction per 4 indices, whose box is one row
of the table (a descriptor the same rules hold to), writing or reading 4 dense rows of the tile
(else an error at the stage). The synchronisation stages move no data and are not annotated.
Why TMA cannot express a copy is `tma_blockers`' job; a stage that falls to a slower
instruction than the target allows, for a reason the spec did not choose, is noted as a compile
warning (`slow_paths`, the function's `tlspec.notes`).

Adds to each operation's config: `tlspec.instruction` (tma | sync | cp_async), `tlspec.why`,
`tlspec.vector` (SIMT), `tlspec.form` and `tlspec.block_rows` (a transpose's blocks: H),
`tlspec.threads` (a loop_layout's thread grid), `tlspec.box_bytes` (a gather4 / scatter4: the bytes
one instruction moves, 4 x columns x dtype size, what a gather4 completes on its barrier per
instruction)."""
from __future__ import annotations

from math import prod

import tvm_ffi
from tvm import tirx
from tvm.tirx.tile_primitive import TilePrimitiveCall

from ...im2col import is_nchw
from .. import ops
from ..analysis import (attr, calls_in_loops, divisible, dtype_bytes, thread_info, uses,
                        varies_in_cluster)
from ..errors import StageError
from ..lower.common import const
from ..lower.cp_async import ACCESS_BYTES, ptx_name
from ..prims import spec_dtype
from . import slow_paths
from .bulk_sources import rewritten_early
from .fragment_layouts import FragmentLayouts, asked_vector
from .pipeline_planning import NOTES_ATTR
from .tma_blockers import Side, copy_sides, indexed_sides, tma_blockers, tma_ruled_out
from .vector_widths import region_inside, vector_limit


GATHER4_ROWS = 4        # rows one TMA gather4 / scatter4 moves
MAX_BLOCK_BYTES = 128   # the registers of a transpose block (`form: blocks`)


def _uncounted_phases(func: tirx.PrimFunc) -> dict[int, str]:
    """Tile operations (by handle) inside a loop whose trip count or start depends on an
    enclosing loop's variable, with why a TMA load there cannot be one: LowerTileOp counts the
    phase of a copy's mbarrier from the loop variables as if every inner loop ran the same
    number of times (a triangular nest would wait on the wrong parity)."""
    found = {}
    for call, loops in calls_in_loops(func):
        for i, inner in enumerate(loops):
            outer = next((o for o in loops[:i] if uses(inner.min, o.loop_var)
                          or uses(inner.extent, o.loop_var)), None)
            if outer is not None:
                found[call.__chandle__()] = (
                    f"its mbarrier's phase is counted from the loops around it, and loop "
                    f"'{inner.loop_var.name}' runs a number of times that depends on "
                    f"'{outer.loop_var.name}'")
                break
    return found


def _index_side(call) -> Side | None:
    """The index region of a gather or scatter; None for computed indices (ops.INDICES)."""
    return None if ops.INDICES in call.config else Side(call.args[2])


def _step_note(dst: Side, src: Side) -> str:
    """Why a SIMT copy moves one element per access because of a strided region ('' if not)."""
    for side in (dst, src):
        if side.steps[-1] != 1 and side.kind == "global":
            return f"; one element per access: '{side.buffer.name}' has step {side.steps[-1]} " \
                   "along its contiguous dimension"
    return ""


def _element_strides_note(src: Side) -> str:
    """How a TMA load of a strided region traverses it ('' for a dense one)."""
    if src.strided() is None:
        return ""
    counts = [const(e) for e in src.extents]
    box = " x ".join(str(n * s) for n, s in zip(counts, src.steps))
    return (f" with element strides {src.steps} (a {box} box traversed, "
            f"{' x '.join(map(str, counts))} elements loaded)")


class _Annotator:
    def __init__(self, func: tirx.PrimFunc):
        self.func = func
        self.layouts = {str(k): str(v) for k, v in attr(func, "tlspec.spec_layouts", {}).items()}
        self.fragments = FragmentLayouts(func, self._widest)
        self.uncounted = _uncounted_phases(func)
        self.notes: list[list[str]] = []        # slow-path warnings (`slow_paths`)
        self.aligned = slow_paths.aligned_view(func) if slow_paths.row_dims(func) else None
        self.specializable = False      # a call with aligned sizes would get a faster stage

    def _note(self, note: list[str] | None) -> None:
        if note is not None:
            self.notes.append(note)

    def __call__(self, call: TilePrimitiveCall) -> TilePrimitiveCall:
        kind = ops.kind_of(call)
        if kind is None or kind in ops.SYNC_ARGS:
            return call
        config = ops.config_of(call)
        decision = getattr(self, "_" + kind)(config, call)
        return ops.with_config(call, **decision)

    # -- per kind --------------------------------------------------------------------------
    def _copy(self, config: dict, call) -> dict:
        pointer = config[ops.STAGE]
        dst, src = copy_sides(call)
        prefer = config.get("prefer_instruction")
        if dst.buffer.dtype != src.buffer.dtype:
            return self._converting_copy(config, pointer, dst, src, prefer)
        blockers = tma_blockers(self.func, config, dst, src, self.layouts)
        if dst.kind == "shared" and call.__chandle__() in self.uncounted:
            blockers.append(self.uncounted[call.__chandle__()])
        if ops.FILL in config and not region_inside(self.func, src):
            blockers.insert(0, f"fill {config['fill']} is not zero: TMA reads zeros outside a "
                               "tensor")
            if prefer == "cp_async":
                raise StageError(pointer + "/prefer_instruction", f"cp.async cannot fill with "
                                 f"{config['fill']}: it zero-fills what it does not read",
                                 "remove prefer_instruction to let the compiler choose")
        if prefer == "tma" and blockers:
            raise StageError(pointer + "/prefer_instruction", f"this copy cannot use TMA: {blockers[0]}",
                             "remove prefer_instruction to let the compiler choose")
        if prefer is None and blockers and ops.FILL not in config and \
                tma_ruled_out(self.func, config, dst, src, self.layouts) is None:
            self._note(slow_paths.tma_note(config, "copy", blockers[0]))
            self.specializable |= self.aligned is not None and not tma_blockers(
                self.aligned, config, dst, src, self.layouts)
        if prefer == "cp_async" and (src.kind, dst.kind) != ("global", "shared"):
            raise StageError(pointer + "/prefer_instruction",
                             f"cp.async copies global -> shared, not {src.kind} -> {dst.kind}")
        if prefer in (None, "tma") and not blockers:
            return {"tlspec.instruction": "tma",
                    "tlspec.why": ("prefer_instruction: tma" if prefer else
                                   f"{src.kind} -> {dst.kind} on {attr(self.func, 'tlspec.target')}: "
                                   "one TMA bulk copy") + _element_strides_note(src)}
        why = f"prefer_instruction: {prefer}" if prefer else f"SIMT loop ({blockers[0]})"
        instruction = prefer if prefer in ("cp_async", "sync") else "sync"
        decision = {"tlspec.instruction": instruction, "tlspec.why": why,
                    **self._vector(config, [dst, src], dst.extents,
                                   self.fragments.element(dst, src))}
        decision["tlspec.why"] += _step_note(dst, src)
        if instruction == "cp_async":
            decision["tlspec.why"] = self._cp_async(config, [dst, src], decision["tlspec.vector"],
                                                    pointer + "/prefer_instruction")
        for side in (dst, src):
            if side.kind == "fragment":
                self.fragments.check(pointer, side, decision)
        return decision

    def _converting_copy(self, config: dict, pointer: str, dst: Side, src: Side,
                         prefer: str | None) -> dict:
        """A copy between dtypes: a SIMT loop that loads values, converts them and stores them
        (TMA and cp.async move bits). Its vector is bounded by the wider dtype, so that both the
        loads and the stores are legal accesses of at most 16 bytes (and by a fragment side's
        other copies, which must use the same vector)."""
        conversion = f"{spec_dtype(src.buffer.dtype)} -> {spec_dtype(dst.buffer.dtype)}"
        if prefer in ("tma", "cp_async"):
            raise StageError(pointer + "/prefer_instruction",
                             f"this copy converts {conversion}, and {prefer} moves bits",
                             "remove prefer_instruction")
        decision = {"tlspec.instruction": "sync",
                    **self._vector(config, [dst, src], dst.extents,
                                   self.fragments.element(dst, src))}
        width = decision["tlspec.vector"]
        moved = {side: width * dtype_bytes(side.buffer.dtype) for side in (src, dst)}
        decision["tlspec.why"] = (f"SIMT loop converting {conversion} (TMA and cp.async move "
                                  f"bits): {width}-element vectors, {moved[src]}-byte loads and "
                                  f"{moved[dst]}-byte stores") + _step_note(dst, src)
        for side in (dst, src):
            if side.kind == "fragment":
                self.fragments.check(pointer, side, decision)
        return decision

    def _tma_copy(self, config: dict, call) -> dict:
        dst, src = Side(call.args[0]), Side(call.args[1])
        blockers = tma_blockers(self.func, config, dst, src, self.layouts)
        if blockers:
            raise StageError(config[ops.STAGE], f"this tma_copy cannot be one TMA copy: "
                             f"{blockers[0]}", "use copy, which falls back to a SIMT loop "
                             "where TMA cannot express the copy")
        if dst.kind == "shared":
            return {"tlspec.instruction": "tma", "tlspec.why": "tma_copy: one TMA load that "
                    "completes its bytes on the stage's barrier; not waited for here"}
        return {"tlspec.instruction": "tma", "tlspec.why": "tma_copy: one TMA store, committed "
                "as a bulk group; not waited for here (tma_store_wait)"}

    def _copy_cluster(self, config: dict, call) -> dict:
        dst, src = Side(call.args[0]), Side(call.args[1])
        if "cluster_mask" in config:
            blockers = tma_blockers(self.func, config, dst, src, self.layouts)
            blockers += [self.uncounted[call.__chandle__()]] if call.__chandle__() in \
                self.uncounted else []
            if blockers:
                raise StageError(config[ops.STAGE], "this copy_cluster multicast cannot be one "
                                 f"TMA copy: {blockers[0]}", "make the copy one TMA can move "
                                 "(docs/spec.md#tma-constraints)")
            mask = int(config["cluster_mask"])
            ranks = [r for r in range(mask.bit_length()) if mask >> r & 1]
            varies = varies_in_cluster(self.func, src.starts, ranks)
            if varies is not None:
                raise StageError(config[ops.STAGE] + "/src", "this copy_cluster multicast's source "
                                 f"region may differ between the blocks of mask {mask:#x} (it "
                                 f"depends on '{varies.name}', which differs between them), but "
                                 "one TMA load delivers the same tile to all of them",
                                 f"index the source by '{varies.name} // <cluster extent>' (or "
                                 "by other indices) so that the blocks of the mask share it, or "
                                 "use copy for a tile of each block's own")
            return {"tlspec.instruction": "tma",
                    "tlspec.why": f"TMA multicast: the block of rank {(mask & -mask).bit_length() - 1}"
                                  f" loads for the ranks of mask {mask:#x}, each of which waits "
                                  "on its own mbarrier"}
        if ops.absent(call.args[3]):
            blockers = ["no remote_barrier for a bulk copy to complete on"]
        else:
            blockers = self._bulk_blockers(dst, src)
            early = rewritten_early(self.func, call)
            if early is not None:
                rewrite = (f"'{src.buffer.name}' is written again at {early} before a "
                           "barrier_wait sees this copy land, and a bulk copy may still be "
                           "reading it then")
                if not blockers:        # a bulk copy but for the rewrite: the user can mend it
                    self._note(slow_paths.bulk_note(config, src.buffer.name, rewrite))
                blockers.insert(0, rewrite)
        if not blockers:
            nbytes = prod(const(e) for e in dst.extents) * dtype_bytes(dst.buffer.dtype)
            return {"tlspec.instruction": "bulk",
                    "tlspec.why": f"one cp.async.bulk of {nbytes} bytes into the destination "
                                  "block's shared memory, completing on its remote_barrier"}
        return {"tlspec.instruction": "sync", "tlspec.why": f"SIMT stores into the destination "
                f"block's shared memory ({blockers[0]})",
                **self._vector(config, [dst, src], dst.extents, dst.buffer.dtype)}

    def _bulk_blockers(self, dst: Side, src: Side) -> list[str]:
        """Why the tiles of a block-to-block copy on a remote_barrier keep it from being one
        cp.async.bulk ([] when they do not): it moves one contiguous run of bytes, 16-byte
        aligned and a multiple of 16 long, from row-major storage to row-major storage. (Nor may
        a stage write its source before a barrier_wait sees it land, `bulk_sources`: the SIMT
        stores read it during the stage.)"""
        problems = []
        for side in (src, dst):
            name = side.buffer.name
            if self.layouts.get(name) not in ("auto", "row_major") or name in self._transposed():
                problems.append(f"'{name}' is not stored row-major")
                continue
            extents = [const(e) for e in side.extents]
            moved = [d for d, e in enumerate(extents) if e != 1] or [len(extents) - 1]
            elem = dtype_bytes(side.buffer.dtype)
            if any(extents[d] != const(side.shape[d]) for d in range(moved[0] + 1, len(extents))):
                problems.append(f"the copied part of '{name}' is not contiguous")
                continue
            nbytes = prod(extents) * elem
            flat = 0
            for start, extent in zip(side.starts, side.shape):
                flat = flat * extent + start
            if nbytes % 16 or not divisible(self.func, flat * elem, 16):
                problems.append(f"the copied part of '{name}' ({nbytes} bytes) is not 16-byte "
                                "aligned and a multiple of 16 bytes long")
        return problems

    def _transposed(self) -> set[str]:
        """The tiles a transpose reads or writes (LayoutInference may pad them)."""
        names = set()

        def visit(call):
            if ops.kind_of(call) == "transpose":
                names.update(r.source.name for r in call.args[:2])

        tvm_ffi.structural_walk(self.func.body, (TilePrimitiveCall, visit), order="pre")
        return names

    def _async_copy(self, config: dict, call) -> dict:
        dst, src = Side(call.args[0]), Side(call.args[1])
        decision = {"tlspec.instruction": "cp_async",
                    **self._vector(config, [dst, src], dst.extents, dst.buffer.dtype)}
        decision["tlspec.why"] = self._cp_async(config, [dst, src], decision["tlspec.vector"],
                                                config[ops.STAGE]).replace(
            "waited on before the next stage", "committed as one group; not waited for here")
        return decision

    def _transpose(self, config: dict, call) -> dict:
        dst, src = Side(call.args[0]), Side(call.args[1])
        elem = dtype_bytes(dst.buffer.dtype)
        if config.get("form") == "blocks":
            return self._transpose_blocks(config, dst, src, elem)
        width, _ = vector_limit(self.func, [dst], dst.extents[-1], elem)
        return {"tlspec.instruction": "sync", "tlspec.vector": width,
                "tlspec.why": f"SIMT: {width}-element vector stores of dst rows from src columns"}

    def _transpose_blocks(self, config: dict, dst: Side, src: Side, elem: int) -> dict:
        """`form: blocks`: blocks of H src rows x V src columns, V the widest vector of src rows
        (at most 16 bytes), H the widest of dst rows up to V (at most 128 bytes of registers a
        block), halved while the blocks are fewer than the threads."""
        vector, reason = vector_limit(self.func, [src], src.extents[-1], elem)
        if vector < 2:
            raise StageError(config[ops.STAGE] + "/form", "this transpose cannot move blocks: "
                             f"{reason}", "remove `form: blocks` for the column form, which "
                             "reads src elements one at a time")
        height, _ = vector_limit(self.func, [dst], dst.extents[-1], elem,
                                  min(vector, MAX_BLOCK_BYTES // (vector * elem)))
        blocks = [const(e) for e in dst.extents]
        if None not in blocks:
            while height > 1 and prod(blocks[:-2]) * blocks[-2] // vector * blocks[-1] \
                    // height < thread_info(self.func)[1]:
                height //= 2
        return {"tlspec.instruction": "sync", "tlspec.vector": vector,
                "tlspec.form": "blocks", "tlspec.block_rows": height,
                "tlspec.why": f"SIMT: blocks of {height} x {vector}, {vector}-element vector "
                              f"loads of src rows and {height}-element stores of dst rows"}

    def _indexed(self, config: dict, call) -> dict:
        """A gather or scatter: TMA's row forms (`rows: 4`), else a SIMT loop."""
        kind = ops.kind_of(call)
        rows, table = indexed_sides(call)
        index = _index_side(call)
        if ops.ROWS in config:
            if ops.FILL in config:
                raise StageError(config[ops.STAGE] + "/fill", f"TMA {kind}4 cannot fill with "
                                 f"{config['fill']}: TMA reads zeros outside a tensor",
                                 "remove rows (and col, barrier) for the SIMT gather")
            return self._tma_rows(config, kind, rows, table, index)
        decision = {"tlspec.instruction": "sync",
                    "tlspec.why": "SIMT: one vector per thread and access",
                    **self._vector(config, [rows, table], rows.extents, rows.buffer.dtype,
                                   grid=False)}
        if rows.kind == "fragment":
            self.fragments.check(config[ops.STAGE], rows, decision)
        return decision

    _gather = _scatter = _indexed

    def _tma_rows(self, config: dict, kind: str, rows: Side, table: Side,
                  index: Side) -> dict:
        """The TMA gather4 / scatter4 form (the spec's `rows: 4`): one instruction per 4 rows,
        whose box is one row of the table region's columns. The spec asked for this form, so
        where TMA cannot do it that is an error at the stage, not a SIMT loop."""
        pointer = config[ops.STAGE]
        count = const(([e for e in index.extents if const(e) != 1] or index.extents[-1:])[0])
        if count is None:
            raise StageError(pointer + "/index", f"TMA {kind}4 needs a constant number of "
                             f"indices (one instruction per 4); 'index' selects "
                             f"{index.extents[-1]}", "give the index region a constant extent")
        dst, src = (rows, table) if kind == "gather" else (table, rows)
        blockers = tma_blockers(self.func, config, dst, src, self.layouts, GATHER4_ROWS)
        if blockers:
            raise StageError(pointer, f"this {kind} cannot use TMA {kind}4: {blockers[0]}",
                             "remove the TMA options ('rows', 'col', 'barrier') for "
                             "vectorized loads")
        nbytes = GATHER4_ROWS * const(rows.extents[-1]) * dtype_bytes(rows.buffer.dtype)
        issues = count // GATHER4_ROWS
        done = (f"{issues * nbytes} bytes in all complete on its barrier (announce them with "
                "barrier_arrive's expect_tx)" if kind == "gather" else
                "committed as one bulk group; not waited for here (tma_store_wait)")
        return {"tlspec.instruction": "tma", "tlspec.box_bytes": nbytes,
                "tlspec.why": f"rows: {GATHER4_ROWS}: {issues} TMA {kind}4 of {GATHER4_ROWS} "
                              f"rows x {const(rows.extents[-1])} columns ({nbytes} bytes each) "
                              f"by one thread; {done}"}

    def _im2col(self, config: dict, call) -> dict:
        col, img = Side(call.args[0]), Side(call.args[1])
        if is_nchw(config):
            return {"tlspec.instruction": "sync", "tlspec.vector": 1,
                    "tlspec.why": "SIMT: one element per access (an NCHW image: a window's "
                                  "channels are not adjacent)"}
        elem = dtype_bytes(col.buffer.dtype)
        width, aligned = (self._channels(func, col, img, elem)
                          for func in (self.func, self.aligned or self.func))
        if aligned > width:
            self.specializable = True
            self._note(slow_paths.vector_note(config, "im2col", width, elem, aligned,
                                              f"the channels of 'img' ({img.shape[-1]}) are not "
                                              f"known to be a multiple of {aligned}"))
        return {"tlspec.instruction": "sync", "tlspec.vector": width,
                "tlspec.why": f"SIMT: {width} channels per access"}

    @staticmethod
    def _channels(func, col: Side, img: Side, elem: int) -> int:
        """The widest vector of an im2col: along the tile's rows and the image's channels."""
        width, _ = vector_limit(func, [col], col.extents[-1], elem)
        while width > 1 and not divisible(func, img.shape[-1], width):
            width //= 2
        return width

    # -- helpers ---------------------------------------------------------------------------
    def _vector(self, config: dict, sides: list[Side], extents, dtype, grid: bool = True) -> dict:
        """The vector (and loop_layout's thread grid) of a SIMT loop; `grid`: whether the loop
        can take a thread grid (a gather's or scatter's cannot: it has no loop_layout)."""
        pointer = config[ops.STAGE]
        limit, reason = self._widest(sides, extents, dtype)
        asked = asked_vector(config)
        option = "coalesced_width" if config.get("coalesced_width") else "loop_layout"
        if asked and asked > limit:
            _, reason = self._widest(sides, extents, dtype, asked)     # why not `asked` itself
            raise StageError(f"{pointer}/{option}",
                             f"cannot move {asked} elements per access: {reason or 'at most 16 bytes'}"
                             f"; the widest legal vector here is {limit}",
                             f"use {option}: {limit}, or make the extents and starts multiples of {asked}")
        fragment = self.fragments.layout(sides)
        if fragment is not None:            # laid out once for all its stages
            fragment, vector, threads = fragment
            if not asked and vector > limit:
                raise StageError(pointer, f"fragment '{fragment}' is moved {vector} elements per "
                                 f"access where a copy of it gives coalesced_width or loop_layout, "
                                 f"and this stage cannot move {vector}: {reason}",
                                 f"give that copy coalesced_width: {limit}")
            asked = asked or vector
            if threads and not grid:
                kind = pointer.rsplit("/", 1)[-1]
                raise StageError(pointer, f"fragment '{fragment}' is laid out by the "
                                 f"loop_layout.threads of a copy, and a {kind} moves a fragment "
                                 "only with consecutive threads on consecutive vectors",
                                 f"remove loop_layout.threads from the copies of '{fragment}'")
            if threads and "loop_layout.threads" not in config:
                config = {**config, "loop_layout.threads": threads}
        decision = {"tlspec.vector": asked or limit}
        if not asked and self.aligned is not None:
            aligned, _ = self._widest(sides, extents, dtype, func=self.aligned)
            if aligned > limit:
                self.specializable = True
                _, why = self._widest(sides, extents, dtype, aligned)   # why not `aligned` here
                self._note(slow_paths.vector_note(config, pointer.rsplit("/", 1)[-1], limit,
                                                  dtype_bytes(dtype), aligned, why))
        if "loop_layout.threads" in config:
            threads = [int(t) for t in config["loop_layout.threads"]]
            if prod(threads) != int(attr(self.func, "tlspec.threads")):
                raise StageError(f"{pointer}/loop_layout", "loop_layout.threads must multiply to "
                                 f"launch.threads ({attr(self.func, 'tlspec.threads')})")
            decision["tlspec.threads"] = threads
        return decision

    def _widest(self, sides: list[Side], extents, dtype, width=None,
                func=None) -> tuple[int, str]:
        inner = [e for e in extents if const(e) != 1] or [extents[-1]]
        return vector_limit(func or self.func, sides, inner[-1], dtype_bytes(dtype), width)

    def _cp_async(self, config: dict, sides: list[Side], vector: int, at: str) -> str:
        """Why a cp.async copy, once its vectors are sizes cp.async copies (else an error `at`
        what asks for cp.async, or at the option that asks for a narrower vector)."""
        pointer = config[ops.STAGE]
        dtype = sides[0].buffer.dtype
        elem = dtype_bytes(dtype)
        nbytes = vector * elem
        if nbytes in ACCESS_BYTES:
            return (f"prefer_instruction: cp_async: one {nbytes}-byte {ptx_name(nbytes)} per "
                    "vector (zero-filled past a tensor's end), waited on before the next stage")
        fewest = -(-ACCESS_BYTES[0] // elem)
        width, reason = self._widest(sides, sides[0].extents, dtype, fewest)
        if width < fewest:
            raise StageError(at,
                             f"cp.async copies 4, 8 or 16 bytes per access; this copy cannot "
                             f"move {fewest * elem}: {reason}",
                             ("use prefer_instruction: sync" if at.endswith("prefer_instruction")
                              else "use copy") + ", or make the extents, starts and "
                             f"rows multiples of {fewest} elements")
        option = "coalesced_width" if config.get("coalesced_width") else "loop_layout"
        raise StageError(f"{pointer}/{option}",
                         f"cp.async copies 4, 8 or 16 bytes per access, not {nbytes} "
                         f"({vector} x {spec_dtype(dtype)})",
                         f"use a vector of {fewest} elements or more")


@tirx.transform.prim_func_pass(opt_level=0, name="tlspec.InstructionAnnotation")
class InstructionAnnotation:
    def transform_function(self, func, mod, ctx):
        annotator = _Annotator(func)
        func = func.with_body(tvm_ffi.structural_map(func.body, (TilePrimitiveCall, annotator),
                                                     order="post"))
        if annotator.specializable:
            func = func.with_attr(slow_paths.SPECIALIZABLE, True)
        return func.with_attr(NOTES_ATTR, annotator.notes) if annotator.notes else func
