"""Gather and scatter with computed indices (docs/spec.md, "Computed indices"), one row at a time.

For each point of the stage's `each` ranges (row-major, the first variable outermost): the index
expressions are evaluated with the row variables bound, each read of an index buffer taking one
element; the row is *in range* when every read lies inside its buffer and every index inside its
dimension of the table. A gather then copies the table's run at those indices (its fill outside
the table's columns) to the rows region at that point, or the fill for a row out of range; a
scatter copies the rows region at that point to the table's run, or nothing (also for a row
past the end of a global rows tensor: its zeros are not written). With
`out_of_range: error` a row out of range is a located error naming the index, its value and the
row, instead.
"""
from __future__ import annotations

from itertools import product
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..expr import Expr, ExprError, evaluate, to_source
from ..index_expr import loads, row_dims
from ..model import Stage
from ..source import pointer_join
from .errors import Fault
from .memory import Box, GlobalTensor

if TYPE_CHECKING:
    from .machine import _Run

SIGNED = {4: np.dtype(np.int32), 8: np.dtype(np.int64)}


def _value(run: _Run, expr: Expr, env: dict, pointer: str) -> int:
    try:
        return evaluate(expr, env)
    except ExprError as err:
        raise Fault(pointer, f"{err.message} in '{to_source(expr)}'", err.hint) from None


def _rows(run: _Run, stage: Stage) -> Iterator[str]:
    """Bind each point of the row ranges in run.env in turn; yields its text (`t = 5`)."""
    ranges = [range(start := run.value(v.start, v.pointer),
                    start + run.value(v.extent, v.pointer)) for v in stage.each]
    try:
        for point in product(*ranges):
            for var, value in zip(stage.each, point):
                run.env[var.name] = value
            yield ", ".join(f"{v.name} = {p}" for v, p in zip(stage.each, point))
    finally:
        for var in stage.each:
            run.env.pop(var.name, None)


def _table_box(run: _Run, stage: Stage, table_option: str, row: str) -> Box | None:
    """The table box of the row bound in run.env: one element along each indexed dimension, the
    table region along the others; None for a row out of range (or a located Fault in the
    `error` mode)."""
    table = stage.regions[table_option]
    shape = run.memory[table.name].shape
    strict = stage.options.get("out_of_range", "fill") == "error"
    box = []
    for i, expr in enumerate(stage.indices):
        pointer = pointer_join(pointer_join(stage.pointer, "index"), i)
        env = dict(run.env)
        for read in loads(expr):
            storage = run.memory[read.buffer]
            at = [_value(run, s, run.env, pointer) for s in read.subscripts]
            if not all(0 <= a < n for a, n in zip(at, storage.shape)):
                if strict:
                    raise Fault(pointer, f"at row {row}, '{read.name}' reads "
                                         f"{read.buffer}[{', '.join(map(str, at))}], outside "
                                         f"'{read.buffer}' (shape {list(storage.shape)})",
                                "out_of_range: error stops here; with 'fill' the row is filled")
                return None
            bits = storage.take(np.ravel_multi_index(at, storage.shape), run.block, pointer)
            env[read.name] = int(np.asarray(bits).view(SIGNED[bits.dtype.itemsize]))
        value = _value(run, expr, env, pointer)
        if not 0 <= value < shape[i]:
            if strict:
                raise Fault(pointer, f"at row {row}, index {i} '{to_source(expr)}' is {value}, "
                                     f"outside [0, {shape[i]}) of dimension {i} of "
                                     f"'{table.name}'",
                            "out_of_range: error stops here; with 'fill' the row is filled")
            return None
        box.append((value, 1))
    return box + run.box(table)[len(stage.indices):]


def gather(run: _Run, stage: Stage, bits: int) -> None:
    """`bits`: the fill's, in the table's dtype."""
    table, dst = stage.regions["src"], stage.regions["dst"]
    tensor = run.memory[table.name]
    dims = row_dims(dst, stage.each)
    for row in _rows(run, stage):
        to = run.box(dst)
        if _past_the_rows(run, dst.name, to, dims):
            continue
        box = _table_box(run, stage, "src", row)
        run_box = run.box(table)[len(stage.indices):]
        extents = [1] * len(stage.indices) + [e for _, e in run_box]
        values = np.full(extents, bits, tensor.bits.dtype) if box is None else \
            tensor.read_box(box, run.block, table.pointer, bits)
        run.store(dst, to, _fitted(values, to, dst.pointer), None, table.name)


def scatter(run: _Run, stage: Stage) -> None:
    src, table = stage.regions["src"], stage.regions["dst"]
    tensor = run.memory[table.name]
    targets: dict[tuple, str] = {}
    dims = row_dims(src, stage.each)
    for row in _rows(run, stage):
        if _past_the_rows(run, src.name, run.box(src), dims):
            continue
        _, values, defined = run.load(src)
        at = _table_box(run, stage, "dst", row)
        if at is None:
            continue
        key = tuple(start for start, _ in at[:len(stage.indices)])
        if key in targets:
            raise Fault(pointer_join(stage.pointer, "index"),
                        f"rows {targets[key]} and {row} both write "
                        f"{table.name}[{', '.join(map(str, key))}, ...]",
                        "the indices of a scatter must be distinct: two rows written to one "
                        "table row race")
        targets[key] = row
        tensor.write_box(at, _fitted(values, at, src.pointer),
                         None if defined is None else _fitted(defined, at, src.pointer),
                         run.block, table.pointer, src.name)


def _past_the_rows(run: _Run, name: str, box: Box, dims: list[int]) -> bool:
    """Whether the row at `box` of the rows region lies outside its global tensor (the partial
    tile of the last block): such a row moves nothing, as the compiled kernel's guards do."""
    storage = run.memory[name]
    return isinstance(storage, GlobalTensor) and not all(
        0 <= box[d][0] < storage.shape[d] for d in dims)


def _fitted(values: np.ndarray, box: Box, pointer: str) -> np.ndarray:
    """`values` in the shape of `box`: the same elements once dimensions of extent 1 are dropped
    (the rules compare them so; symbolic extents are compared here)."""
    shape = [e for _, e in box]
    if [n for n in values.shape if n != 1] != [n for n in shape if n != 1]:
        raise Fault(pointer, f"moves {list(values.shape)} per row at this call, but the other "
                             f"side has {shape}")
    return values.reshape(shape)
