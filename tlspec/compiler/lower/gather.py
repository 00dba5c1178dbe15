"""gather: rows[i, :] = table[index[i], :]; scatter: table[index[i], :] = rows[i, :].

The row operand (`dst` of a gather, `src` of a scatter) sets the loop: consecutive threads move
consecutive vectors of one row, so each table row is read or written with coalesced vector
accesses. A fragment as the row operand is addressed by the thread's element number (`slot`), as
a copy addresses it, so the copies that fill or drain it with the same loop agree. An index value selects a row of the table region (its first dimension is the whole
table); rows outside the table (an index value below 0 or at least its row count) are neither
read (zeros are gathered) nor written, by the LegalizeNegativeIndex and LegalizeSafeMemoryAccess
guards (an int64 value is clamped first: see `row_index`). An index region that runs past the end
of a global index tensor (the partial tile of the last block) moves nothing for the positions past
the end: neither the index nor a row is read, and no row is written (without this guard a scatter
would write zeros to the table row named by whatever lies past the index tensor).
"""
from __future__ import annotations

from tvm import tirx

from ..oob_sites import VALUES
from .common import (Operand, Stmt, VectorLoop, bits_as, const, guard, loop, seq, simplify,
                     substitute)
from .oob_record import FaultRecord


def indexed_shape(rows: Operand) -> list:
    """The loop's shape: one row per index, the columns of a row."""
    return [rows.extents[0], rows.extents[-1]]


def lower_indexed(kind: str, table: Operand, rows: Operand, index: Operand, vector: int,
                  tid: tirx.Var, nthreads: int,
                  fault: tuple[FaultRecord, tirx.PrimExpr] | None = None) -> Stmt:
    """`fault`: the debug mode's record and site: a value outside the table's rows at a
    position inside the index tensor records (position, value) there."""
    rdims = [d for d in range(len(rows.extents))]
    shape = indexed_shape(rows)
    idim = (index.moved_dims() or [len(index.extents) - 1])[0]

    def listed(i) -> tirx.PrimExpr | None:
        """Whether position i lies inside a global index tensor (None: always)."""
        return None if index.kind != "global" else index.starts[idim] + i < index.shape[idim]

    def body(point, lane, slot) -> Stmt:
        i, col = point
        row = tirx.Cast("int32", row_index(index, idim, i, table.shape[0]))
        table_point = {0: row, 1: col}
        row_point = {rdims[0]: i, rdims[-1]: col}
        if kind == "gather":
            value = table.load(table_point, lane)
            move = tirx.BufferStore(rows.access, value, [slot]) if rows.kind == "fragment" \
                else rows.store(value, row_point, lane)
        else:
            value = tirx.BufferLoad(rows.access, [slot]) if rows.kind == "fragment" \
                else rows.load(row_point, lane)
            move = table.store(value, table_point, lane)
        return guard(listed(i), move)

    if fault is None:
        return VectorLoop(shape, vector).emit(tid, nthreads, body)

    def at_vector(point, slot) -> Stmt:         # the debug mode: record, once per vector
        i = point[0]
        value = tirx.Cast("int64", index.load({idim: i}))
        outside = tirx.Or(value < 0, value >= tirx.Cast("int64", table.shape[0]))
        record = guard(outside, fault[0].call(fault[1], [i, value]))
        lanes = loop("v", vector, lambda v: body(point, v, slot * vector + v), kind="vector")
        return seq([guard(listed(i), record), lanes])

    return VectorLoop(shape, vector).emit_vectors(tid, nthreads, at_vector)


def row_index(index: Operand, idim: int, i: tirx.PrimExpr, rows: tirx.PrimExpr) -> tirx.PrimExpr:
    """The index value at position i as the table row it names, for the bounds guards.

    An int64 value is clamped to [-1, rows] before it is narrowed to int32, so that a value beyond
    int32 cannot wrap around into the table: out of range stays out of range, and the guards
    gather zeros for it (or drop the scattered row). Two compares per row, none per element: the
    row is the same for a whole vector."""
    value = index.load({idim: i})
    if index.dtype == "int64":
        low, high = tirx.IntImm("int64", -1), tirx.Cast("int64", rows)
        value = tirx.max(tirx.min(value, high), low)
    return value


def lower_computed(kind: str, table: Operand, rows: Operand, values: list[tirx.PrimExpr],
                   reads_inside: tirx.PrimExpr, offsets: list[tirx.Var], row_dims: list[int],
                   vector: int, tid: tirx.Var, nthreads: int, fill: int = 0,
                   fault: tuple[FaultRecord, list[tirx.PrimExpr]] | None = None) -> Stmt:
    """A gather or scatter with computed indices (tileir's `_computed_indices`): one loop over
    the rows (the row variables' ranges, row-major) and the run (the table's dimensions after
    the k indexed ones), consecutive threads on consecutive vectors of a run, so each run is
    moved with coalesced vector accesses. Per vector, the index values are evaluated once at its
    row (bound before its lanes' loop) and checked: every read of an index buffer inside it
    (`reads_inside`), every value inside its dimension of the table, and the row inside a global
    rows tensor. A gather stores the fill's bits (`fill`) for a row out of range, a scatter
    writes nothing for it (not the zeros the guards would read past the rows tensor): never
    another row. The guards passes handle what lies outside the table's run (its columns).
    `fault`: the debug mode's record and a row's [site, values, rows] (tileir's `_fault`): a
    row out of range inside the rows tensor records them, where it fills or skips."""
    k, n = len(values), len(offsets)
    run_dims = list(range(k, len(table.extents)))
    shape = [rows.extents[d] for d in row_dims] + [table.extents[d] for d in run_dims]
    table_moved = [d for d in run_dims if const(table.extents[d]) != 1] or run_dims[-1:]
    rows_moved = [d for d in range(len(rows.extents))
                  if d not in row_dims and const(rows.extents[d]) != 1] or [len(rows.extents) - 1]
    fill_value = bits_as(fill, rows.dtype if kind == "gather" else table.dtype)

    def at_vector(point, slot) -> Stmt:
        row, run = point[:n], point[n:]

        def at_row(value):
            for var, p in zip(offsets, row):
                value = substitute(value, var, p)
            return value

        names = [tirx.Var(f"index{j}", "int64") for j in range(k)]
        inside = at_row(reads_inside)
        rows_inside = tirx.const(True, "bool")
        if rows.kind == "global":           # a row past the rows tensor moves nothing
            for d, p in zip(row_dims, row):
                rows_inside = tirx.And(rows_inside, tirx.And(rows.starts[d] + p >= 0,
                                                             rows.starts[d] + p < rows.shape[d]))
            inside = tirx.And(inside, rows_inside)
        for name, size in zip(names, table.shape):
            inside = tirx.And(inside, tirx.And(name >= 0, name < tirx.Cast("int64", size)))
        table_point = {d: tirx.Cast("int32", name) for d, name in enumerate(names)}
        table_point.update({d: run[d - k] for d in run_dims})
        row_point = dict(zip(row_dims, row))
        row_point.update({r: run[t - k] for r, t in zip(rows_moved, table_moved)})

        def lanes(move) -> Stmt:
            return loop("v", vector, move, kind="vector")

        outside = None
        if fault is not None:               # recorded where the row is filled or skipped
            site, *words = [at_row(w) for w in fault[1]]
            outside = guard(tirx.And(rows_inside, site >= 0),
                            fault[0].call(site, words[:VALUES], words[VALUES:]))
        if kind == "gather":
            filled = lanes(lambda v: rows.store(fill_value, row_point, v))
            body = tirx.IfThenElse(
                simplify(inside),
                lanes(lambda v: rows.store(table.load(table_point, v), row_point, v)),
                filled if outside is None else seq([outside, filled]))
        else:
            scattered = lanes(lambda v: table.store(rows.load(row_point, v), table_point, v))
            body = guard(inside, scattered) if outside is None else \
                tirx.IfThenElse(simplify(inside), scattered, outside)
        return seq([tirx.LetStmt(name, simplify(tirx.Cast("int64", at_row(value))))
                    for name, value in zip(names, values)] + [body])

    return VectorLoop(shape, vector).emit_vectors(tid, nthreads, at_vector)
