"""What every tile-operation lowering shares: operands with their addressing, the thread-to-
vector mapping of a SIMT loop, and small IR constructors."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod

import tvm
import tvm_ffi
from tvm import tirx

from ..analysis import dtype_bytes
from ..layouts import TileLayout

Stmt = tirx.Stmt
UNROLL_LIMIT = 8        # trip counts up to this are unrolled
# The type an element of each size moves as (data stages move bits, never values): the types
# whose vectors tvm's CUDA code generation prints right at every width up to 16 bytes. It
# misprints 8-lane vectors of 16-bit integers (make_int4 of eight shorts) and refuses float8
# vectors of more than 4 lanes; half vectors are words (uint4 for 8 lanes), and VectorizeLoop
# repacks the byte broadcasts it misprints.
BIT_TYPES = {1: "uint8", 2: "float16", 4: "uint32", 8: "uint64"}


def const(value: tirx.PrimExpr) -> int | None:
    return int(value.value) if isinstance(value, tirx.IntImm) else None


def simplify(value: tirx.PrimExpr) -> tirx.PrimExpr:
    return tvm.sym.Analyzer().simplify(value)


def ceildiv(a: tirx.PrimExpr, b: int) -> tirx.PrimExpr:
    return simplify(tirx.floordiv(a + (b - 1), b))


def loop(name: str, extent: tirx.PrimExpr, body: Callable[[tirx.Var], Stmt],
         kind: str = "auto") -> Stmt:
    var = tirx.Var(name, "int32")
    extent = simplify(tirx.IntImm("int32", extent) if isinstance(extent, int) else extent)
    if const(extent) == 1 and kind != "vector":
        return _bind_zero(var, body(var))
    if kind == "auto":
        trips = const(extent)
        kind = "unroll" if trips is not None and trips <= UNROLL_LIMIT else "serial"
    for_kind = {"serial": tirx.ForKind.SERIAL, "unroll": tirx.ForKind.UNROLLED,
                "vector": tirx.ForKind.VECTORIZED}[kind]
    return tirx.For(var, tirx.IntImm("int32", 0), extent, for_kind, body(var))


def _bind_zero(var: tirx.Var, stmt: Stmt) -> Stmt:
    return substitute(stmt, var, tirx.IntImm("int32", 0))


def substitute(node, var: tirx.Var, value: tirx.PrimExpr):
    """`node` (an expression or statement) with `var` replaced by `value`."""
    return tvm_ffi.structural_map(node, (tirx.Var, lambda v: value if v.same_as(var) else v),
                                  order="post")


def rebuilt(loop: tirx.For, body: Stmt | None = None, *, var: tirx.Var | None = None,
            kind: tirx.ForKind | None = None, annotations=None) -> tirx.For:
    """`loop` with the parts given replaced (its body, loop variable, kind, annotations)."""
    return tirx.For(loop.loop_var if var is None else var, loop.min, loop.extent,
                    loop.kind if kind is None else kind, loop.body if body is None else body,
                    loop.thread_binding, loop.annotations if annotations is None else annotations)


def bit_type(dtype) -> str:
    """The type elements of `dtype` move as (BIT_TYPES)."""
    return BIT_TYPES[dtype_bytes(dtype)]


def bits_as(bits: int, dtype: str) -> tirx.PrimExpr:
    """A constant of `dtype` whose bits are `bits` (a fill): 2-byte elements move as float16
    (BIT_TYPES), so their bits are reinterpreted, never converted as a number."""
    if not bits or not dtype.startswith(("float", "bfloat")):
        return tirx.const(bits, dtype)
    return tirx.reinterpret(dtype, tirx.const(bits, f"uint{dtype_bytes(dtype) * 8}"))


def as_bits(buffer: tirx.Buffer) -> tirx.Buffer:
    """`buffer` as elements of its bit type: the same memory, shape and addressing, for the
    loops that move its elements."""
    bits = bit_type(buffer.dtype)
    if str(buffer.dtype) == bits:
        return buffer
    return tirx.decl_buffer(buffer.shape, bits, name=buffer.name, data=buffer.data,
                            strides=buffer.strides, elem_offset=buffer.elem_offset,
                            scope=buffer.scope(), layout=buffer.layout)


def guard(condition: tirx.PrimExpr | None, body: Stmt) -> Stmt:
    if condition is None:
        return body
    condition = simplify(condition)
    if isinstance(condition, tirx.IntImm) and condition.value:
        return body
    return tirx.IfThenElse(condition, body, None)


def seq(stmts: list[Stmt]) -> Stmt:
    stmts = [s for s in stmts if s is not None]
    if not stmts:
        return tirx.Evaluate(0)          # a no-op: tvm refuses an empty SeqStmt
    return stmts[0] if len(stmts) == 1 else tirx.SeqStmt(stmts)


@dataclass
class Operand:
    """One region of a tile operation, with how its elements are addressed.

    `access` is the buffer the loops read or write: the global tensor itself, the flat view of a
    shared tile (addressed through `layout`), or a fragment's per-thread registers.
    """

    name: str
    kind: str                          # global | shared | fragment
    access: tirx.Buffer
    starts: list[tirx.PrimExpr]
    extents: list[tirx.PrimExpr]
    shape: list[tirx.PrimExpr]         # the logical buffer's shape
    layout: TileLayout | None = None
    steps: list[int] | None = None     # a strided region's steps (its extents count elements)

    @property
    def dtype(self) -> str:
        return str(self.access.dtype)

    def moved_dims(self) -> list[int]:
        """Buffer dimensions with an extent other than 1 (the ones a copy iterates over)."""
        return [d for d, e in enumerate(self.extents) if const(e) != 1]

    def indices(self, point: dict[int, tirx.PrimExpr], lane: tirx.PrimExpr | int = 0
                ) -> list[tirx.PrimExpr]:
        """Indices into `access` of the element at offsets `point` (buffer dim -> offset in the
        region; dims left out are at offset 0) plus `lane` along the innermost dimension."""
        steps = self.steps or [1] * len(self.starts)
        logical = [s + point.get(d, 0) * step for d, (s, step) in enumerate(zip(self.starts, steps))]
        if self.kind == "shared":
            return [self.layout.offset(logical) + lane]
        logical[-1] = logical[-1] + lane * steps[-1]
        return logical

    def load(self, point, lane=0) -> tirx.PrimExpr:
        return tirx.BufferLoad(self.access, self.indices(point, lane))

    def store(self, value: tirx.PrimExpr, point, lane=0) -> Stmt:
        return tirx.BufferStore(self.access, value, self.indices(point, lane))


@dataclass
class VectorLoop:
    """The SIMT loop over a region of `shape` (innermost last), `vector` elements per access.

    Without `threads` the vectors are numbered row-major and thread t takes vectors t, t + T,
    t + 2T, ... (consecutive threads on consecutive vectors: coalesced). With `threads` (a
    loop_layout) the thread grid is laid over the last len(threads) dimensions of the vector
    shape, outermost first, and each thread strides over its dimensions by the grid's extents.
    """

    shape: list[tirx.PrimExpr]
    vector: int
    threads: list[int] | None = None

    def __post_init__(self):
        # A thread grid of more entries than the region moves dimensions (a loop_layout written
        # for the tile, whose unit dimensions the copy drops) lies over leading unit dimensions:
        # only the threads at position 0 along them move data, each element once.
        self.unit_dims = max(len(self.threads or ()) - len(self.shape), 0)
        self.shape = [tirx.IntImm("int32", 1)] * self.unit_dims + list(self.shape)

    def emit(self, tid: tirx.Var, nthreads: int,
             body: Callable[[list[tirx.PrimExpr], tirx.Var, tirx.PrimExpr], Stmt]) -> Stmt:
        """`body(point, lane, slot)` builds the access of one lane at `point` (offsets per
        iterated dimension, innermost at the vector start); `slot` numbers the thread's
        elements (a fragment's register index)."""
        return self.emit_vectors(tid, nthreads, lambda point, slot: loop(
            "v", self.vector, lambda v: body(point, v, slot * self.vector + v), kind="vector"))

    def emit_whole(self, tid: tirx.Var, nthreads: int,
                   body: Callable[[list[tirx.PrimExpr]], Stmt]) -> Stmt:
        """The same loop with `body(point)` building one access of the whole vector at `point`
        (a single instruction such as cp.async) instead of a vectorized loop over its lanes."""
        return self.emit_vectors(tid, nthreads, lambda point, slot: body(point))

    def emit_vectors(self, tid, nthreads,
                     at: Callable[[list[tirx.PrimExpr], tirx.PrimExpr], Stmt]) -> Stmt:
        """The loop over this thread's vectors, `at(point, slot)` for each (point: offsets per
        iterated dimension, innermost at the vector's first element; slot: its number)."""
        vshape = list(self.shape[:-1]) + [simplify(tirx.floordiv(self.shape[-1], self.vector))]

        def start(point, slot):
            return at(list(point[self.unit_dims:-1]) + [point[-1] * self.vector], slot)

        if self.threads:
            return self._grid(vshape, tid, start)
        return self._flat(vshape, tid, nthreads, start)

    def _flat(self, vshape, tid, nthreads, at) -> Stmt:
        total = simplify(prod(vshape[1:], start=vshape[0]))

        def step(it):
            g = it * nthreads + tid
            point, rest = [], g
            for extent in reversed(vshape):
                point.insert(0, tirx.floormod(rest, extent) if len(point) < len(vshape) - 1
                             else rest)
                rest = tirx.floordiv(rest, extent)
            point = [simplify(p) for p in point]
            tail = None
            if const(total) is None or const(total) % nthreads:
                tail = g < total
            return guard(tail, at(point, it))

        return loop("it", ceildiv(total, nthreads), step)

    def _grid(self, vshape, tid, at) -> Stmt:
        grid = list(self.threads)
        covered = len(grid)
        free = len(vshape) - covered
        thread_pos, stride = [], 1
        for extent in reversed(grid):
            thread_pos.insert(0, tirx.floormod(tirx.floordiv(tid, stride), extent))
            stride *= extent
        counters: list[tirx.Var] = []
        trips = [vshape[d] for d in range(free)] + \
                [ceildiv(vshape[free + i], grid[i]) for i in range(covered)]

        def nest(depth: int) -> Stmt:
            if depth == len(vshape):
                point, conds = [], []
                for d, c in enumerate(counters):
                    if d < free:
                        point.append(c)
                    else:
                        i = d - free
                        p = c * grid[i] + thread_pos[i]
                        point.append(p)
                        if const(vshape[d]) is None or const(vshape[d]) % grid[i]:
                            conds.append(p < vshape[d])
                slot = 0
                for c, t in zip(counters, trips):
                    slot = slot * t + c
                cond = None
                for c in conds:
                    cond = c if cond is None else tirx.And(cond, c)
                return guard(cond, at(point, simplify(slot)))
            def inner(var: tirx.Var) -> Stmt:
                counters.append(var)
                return nest(depth + 1)

            return loop(f"i{depth}", trips[depth], inner)

        return nest(0)

    def slots(self, nthreads: int) -> int:
        """Elements each thread handles (the register count of a fragment it fills)."""
        vshape = [const(e) for e in self.shape]
        vshape[-1] //= self.vector
        if self.threads:
            free = len(vshape) - len(self.threads)
            trips = vshape[:free] + [-(-e // g) for e, g in zip(vshape[free:], self.threads)]
        else:
            trips = [-(-prod(vshape) // nthreads)]
        return prod(trips) * self.vector
