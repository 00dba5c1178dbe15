"""Facts about a tile-IR function that several passes need: value ranges, divisibility, the
thread index, shared tiles, and the stage each lowered statement came from."""
from __future__ import annotations

import re
from collections.abc import Iterator
from math import gcd

import tvm
import tvm_ffi
from tvm import tirx
from tvm.ir.expr import TensorLoad as LoadNode
from tvm.tirx.tile_primitive import TilePrimitiveCall

from ..dtypes import DTYPE_BYTES
from ..targets import TARGETS, Target

STAGE_ATTR = "tlspec.stage"      # AttrStmt key wrapping each lowered stage; node = its pointer


def attr(func: tirx.PrimFunc, key: str, default=None):
    return func.attrs[key] if func.attrs is not None and key in func.attrs else default


def target_of(func: tirx.PrimFunc) -> Target:
    """What the kernel's target offers (`tlspec.targets`): passes ask it, never its name."""
    return TARGETS[str(attr(func, "tlspec.target"))]


def thread_info(func: tirx.PrimFunc) -> tuple[tirx.Var, int]:
    return attr(func, "tlspec.thread_var"), int(attr(func, "tlspec.threads"))


def base_ranges(func: tirx.PrimFunc) -> dict[tirx.Var, tvm.ir.Range]:
    ranges = dict(attr(func, "tlspec.var_ranges", {}))
    tid, nthreads = thread_info(func)
    ranges[tid] = tvm.ir.Range.from_min_extent(0, nthreads)
    return ranges


def loop_ranges(func: tirx.PrimFunc) -> dict[tirx.Var, tvm.ir.Range]:
    """Every loop variable of the function with its range (the loop's min and extent)."""
    ranges = {}

    def on_for(loop):
        ranges[loop.loop_var] = tvm.ir.Range.from_min_extent(loop.min, loop.extent)

    tvm_ffi.structural_walk(func.body, (tirx.For, on_for), order="pre")
    return ranges


def calls_in_loops(func: tirx.PrimFunc) -> list[tuple[TilePrimitiveCall, list[tirx.For]]]:
    """Every tile operation of the function, in program order, with the loops around it
    (outermost first)."""
    found = []

    def walk(node, loops: list) -> None:
        if isinstance(node, TilePrimitiveCall):
            found.append((node, loops))
        elif isinstance(node, tirx.For):
            walk(node.body, loops + [node])
        elif isinstance(node, tirx.SeqStmt):
            for child in node.seq:
                walk(child, loops)
        elif isinstance(node, tirx.IfThenElse):
            walk(node.then_case, loops)
            if node.else_case is not None:
                walk(node.else_case, loops)
        elif hasattr(node, "body"):
            walk(node.body, loops)

    walk(func.body, [])
    return found


def analyzer_for(ranges: dict[tirx.Var, tvm.ir.Range]) -> tvm.sym.Analyzer:
    analyzer = tvm.sym.Analyzer()
    for var, rng in ranges.items():
        analyzer.bind(var, rng)
    return analyzer


def divisible(func: tirx.PrimFunc, value: tirx.PrimExpr, factor: int) -> bool:
    """Whether `value` is a multiple of `factor` for every value of the symbolic dims (using
    their `multiple_of`), block indices and loop variables."""
    if factor == 1:
        return True
    value = with_multiples(func, value, factor, lambda var, m: tirx.Var(var.name + "_q",
                                                                         "int32") * m)
    return tvm.sym.Analyzer().can_prove(tirx.floormod(value, factor) == 0)


def with_multiples(func: tirx.PrimFunc, value: tirx.PrimExpr, factor: int,
                   write) -> tirx.PrimExpr:
    """`value` with each dim of a `multiple_of` m replaced by `write(dim, g)`, g = gcd(m,
    factor). A multiple of m takes the same values modulo `factor` as a multiple of g, so
    whether `value` is a multiple of `factor` does not change, and no constant of the result
    grows past int32 (m may be near 2**31; m * an element size is not)."""
    multiples = attr(func, "tlspec.multiples", {})

    def substitute(var):
        m = next((int(m) for k, m in multiples.items() if k.same_as(var)), None)
        return var if m is None else write(var, gcd(m, factor))

    return tvm_ffi.structural_map(value, (tirx.Var, substitute), order="post") \
        if multiples else value


def varies_in_cluster(func: tirx.PrimFunc, exprs, ranks: list[int]) -> tirx.Var | None:
    """The block index along which `exprs` may differ between the blocks of ranks `ranks` of one
    cluster (rank = x + cx * (y + cy * z), x fastest), or None when they are provably equal in
    all of them. Each block index `b` of cluster extent `c` is written `c * q + r`: q the
    cluster's position (any value >= 0), r the rank's coordinate along that axis, a constant
    where the ranks share it, else a variable over the coordinates between theirs; the
    expressions are equal in those blocks when r is gone from them once simplified."""
    axes = [(var, int(c)) for var, c in zip(attr(func, "tlspec.block_vars"),
                                           attr(func, "tlspec.cluster"))]
    analyzer = analyzer_for({v: r for v, r in base_ranges(func).items()
                             if not any(v.same_as(b) for b, _ in axes)})
    values, coordinates = {}, {}
    scale = 1
    for var, c in axes:
        taken = sorted({rank // scale % c for rank in ranks})
        scale *= c
        cluster = tirx.Var(var.name + "_cluster", "int32")
        analyzer.bind(cluster, tvm.ir.Range(0, 1 << 20))
        coordinate = tirx.IntImm("int32", taken[0])
        if len(taken) > 1:
            coordinate = coordinates[var] = tirx.Var(var.name + "_rank", "int32")
            analyzer.bind(coordinate, tvm.ir.Range(taken[0], taken[-1] + 1))
        values[var] = cluster * c + coordinate
    for expr in exprs:
        at = analyzer.simplify(tvm_ffi.structural_map(expr, (tirx.Var, lambda v: next(
            (e for k, e in values.items() if k.same_as(v)), v)), order="post"))
        for var, coordinate in coordinates.items():
            if uses(at, coordinate):
                return var
    return None


def uses(node, var: tirx.Var) -> bool:
    """Whether `node` (an expression or statement) refers to `var`."""
    found = []
    tvm_ffi.structural_walk(node, (tirx.Var, lambda v: found.append(v) if v.same_as(var)
                                   else None), order="pre")
    return bool(found)


def expr_text(value) -> str:
    """An index expression as a message shows it: in the spec's syntax (`min(a, b)`, not tvm's
    `T.min(a, b)`)."""
    return re.sub(r"\bT\.(min|max)\(", r"\1(", str(value))


def dtype_bytes(dtype: str) -> int:
    dtype = str(dtype)
    return DTYPE_BYTES.get(dtype, DTYPE_BYTES.get(dtype.replace("float8_e4m3fn", "float8_e4m3"), 1))


def scope_kind(buffer) -> str:
    scope = buffer.scope()
    if scope.startswith("shared"):
        return "shared"
    if scope == "local.fragment":
        return "fragment"
    return "global" if scope in ("global", "") else scope


def body_stmts(body: tirx.Stmt) -> list:
    """The statements of a body: a SeqStmt's, or the body alone."""
    return list(body.seq) if isinstance(body, tirx.SeqStmt) else [body]


def tile_calls(stmt: tirx.Stmt) -> Iterator:
    found = []
    tvm_ffi.structural_walk(stmt, (tvm.tirx.tile_primitive.TilePrimitiveCall, found.append),
                            order="pre")
    return iter(found)


def region_parts(region) -> tuple[object, list, list]:
    """(buffer, starts, extents) of a TensorRegion."""
    return region.source, [r.min for r in region.region], [r.extent for r in region.region]


# -- memory accesses of lowered statements (InjectFenceProxy, ThreadSync) ---------------------
# The compiler's own buffers are named with a leading '_', which no spec name has (names.py):
# a spec's tile can never be taken for one of them, nor one of them for a tile. The views of a
# tile that MergeSharedMemoryAllocations declares: `_flat_<tile>`, `_rows_<tile>`.
FLAT_VIEW, ROWS_VIEW = "_flat_", "_rows_"


def flat_view_name(tile: str) -> str:
    """The name of the flat view of the shared tile `tile` (the lowered loops address it)."""
    return FLAT_VIEW + tile


def rows_view_name(tile: str) -> str:
    """The name of the rows view of a swizzled tile whose rows are padded (its TMA copies use it)."""
    return ROWS_VIEW + tile


def tile_name(buffer) -> str:
    """The shared tile `buffer` is, or is a view of."""
    name = buffer.name
    return next((name[len(p):] for p in (FLAT_VIEW, ROWS_VIEW) if name.startswith(p)), name)


def stage_kind(stmt) -> str | None:
    """'<kind>:<instruction>' of a lowered stage's AttrStmt, else None."""
    if isinstance(stmt, tirx.AttrStmt) and stmt.attr_key == STAGE_ATTR:
        return str(stmt.value.value)
    return None


def stages_in(stmt) -> list:
    """The lowered stages (their AttrStmts) inside `stmt`, outermost only."""
    found = []

    def visit(node):
        if stage_kind(node) is not None:
            found.append(node)
            return
        for child in _children(node):
            visit(child)

    visit(stmt)
    return found


def _children(node) -> list:
    if isinstance(node, tirx.SeqStmt):
        return list(node.seq)
    if isinstance(node, tirx.IfThenElse):
        return [c for c in (node.then_case, node.else_case) if c is not None]
    if isinstance(node, (tirx.AttrStmt, tirx.For)):
        return [node.body]
    return []


def is_tma(stmt) -> bool:
    """Whether `stmt` is a lowered stage of asynchronous bulk copies issued by one thread: a TMA
    `copy`, `tma_copy` or `copy_cluster` multicast, or a block-to-block bulk copy."""
    return (stage_kind(stmt) or "").endswith((":tma", ":bulk"))


CLUSTER_BULK_COPY = "tlspec_cluster_bulk_copy"      # codegen/cuda/cluster.cuh


def _extern_name(call) -> str | None:
    if (isinstance(call.op, tvm.ir.Op) and call.op.name == "tirx.call_extern"
            and isinstance(call.args[0], tvm.ir.StringImm)):
        return str(call.args[0].value)
    return None


BLOCK_SYNC_OPS = frozenset({"tirx.cuda.cta_sync", "tirx.ptx.bar_sync_count"})


def is_block_sync(stmt) -> bool:
    """Whether `stmt` is a barrier of the block's threads: `__syncthreads()`, the named barrier
    of a warp-specialized kernel's consumer threads, or a cluster barrier."""
    if stage_kind(stmt) == "sync_cluster:sync":         # the cluster's barrier: the block's too
        return True
    value = stmt.value if isinstance(stmt, tirx.Evaluate) else None
    return (isinstance(value, tvm.ir.expr.Call) and isinstance(value.op, tvm.ir.Op)
            and value.op.name in BLOCK_SYNC_OPS)


CP_ASYNC_OPS = frozenset(f"tirx.ptx.cp_async_{cop}{tail}" for cop in ("ca", "cg")
                         for tail in ("", "_src_size"))


def cp_async_parts(expr) -> tuple[LoadNode, LoadNode, int] | None:
    """(shared element written, global element read, bytes) when `expr` is a cp.async (see
    ..lower.cp_async), else None."""
    if not (isinstance(expr, tvm.ir.expr.Call) and isinstance(expr.op, tvm.ir.Op)
            and expr.op.name in CP_ASYNC_OPS):
        return None

    def element(pointer):              # address_of(buf[i]), perhaps converted to a shared address
        found = []
        tvm_ffi.structural_walk(pointer, (LoadNode, found.append), order="pre")
        return found[0]

    return element(expr.args[0]), element(expr.args[1]), int(expr.args[2])


def global_names(func: tirx.PrimFunc) -> set[str]:
    """The names of the kernel's global tensors (its arguments)."""
    names = set()

    def add(buffer):
        if scope_kind(buffer) == "global":
            names.add(buffer.name)

    tvm_ffi.structural_walk(func.body, (LoadNode, lambda load: add(load.source)), order="pre")
    tvm_ffi.structural_walk(func.body, (tirx.BufferStore, lambda store: add(store.buffer)),
                            order="pre")
    def add_regions(call):
        for region in call.args[:2]:
            if hasattr(region, "source"):
                add(region.source)

    tvm_ffi.structural_walk(func.body, (tvm.tirx.tile_primitive.TilePrimitiveCall, add_regions),
                            order="pre")
    return names


def _memory_name(buffer) -> str | None:
    """The tile or global tensor `buffer` is (or views), None for other memory (registers)."""
    kind = scope_kind(buffer)
    return tile_name(buffer) if kind == "shared" else buffer.name if kind == "global" else None


def memory_accesses(stmt) -> tuple[set[str], set[str], set[str], set[str]]:
    """(generic reads, generic writes, async-proxy reads, async-proxy writes) of shared tiles and
    global tensors, by name (tiles and tensors share one namespace). A cp.async writes its tile
    through the generic proxy (only the bulk copies use the async proxy), so it counts as a
    generic write; a hinted `st.global` writes the element whose address it takes; a
    block-to-block bulk copy reads its source through the async proxy and writes another
    block's tile (not an access of this block's: ClusterPlanning orders those)."""
    reads, writes, async_reads, async_writes = set(), set(), set(), set()
    written = []                       # elements addressed to be written (cp.async, st.global)

    def on_call(call):
        if _extern_name(call) == CLUSTER_BULK_COPY:    # (destination, source, bytes, mbarrier)
            addressed = []
            for arg in call.args[1:]:
                tvm_ffi.structural_walk(arg, (LoadNode, addressed.append), order="pre")
            source = []
            tvm_ffi.structural_walk(call.args[2], (LoadNode, source.append), order="pre")
            async_reads.update(_memory_name(load.source) for load in source)
            written.extend(addressed)               # not this block's generic accesses
            return
        parts = cp_async_parts(call)
        targets = [parts[0]] if parts is not None else []
        if not targets and isinstance(call.op, tvm.ir.Op) and call.op.name.startswith("tirx.ptx.st"):
            tvm_ffi.structural_walk(call.args[0], (LoadNode, targets.append), order="pre")
        for element in targets:
            name = _memory_name(element.source)
            if name is not None:
                writes.add(name)
                written.append(element)

    def on_load(load):
        name = _memory_name(load.source)
        if name is not None and not any(load.same_as(w) for w in written):
            reads.add(name)

    def on_store(store):
        name = _memory_name(store.buffer)
        if name is not None:
            writes.add(name)

    def on_tile_call(call):
        for i, region in enumerate(call.args[:2]):
            name = _memory_name(region.source) if hasattr(region, "source") else None
            if name is not None:
                (async_writes if i == 0 else async_reads).add(name)

    tvm_ffi.structural_walk(stmt, (tvm.ir.expr.Call, on_call), order="pre")
    tvm_ffi.structural_walk(stmt, (LoadNode, on_load), order="pre")
    tvm_ffi.structural_walk(stmt, (tirx.BufferStore, on_store), order="pre")
    tvm_ffi.structural_walk(stmt, (tvm.tirx.tile_primitive.TilePrimitiveCall, on_tile_call),
                            order="pre")
    return reads, writes, async_reads, async_writes
