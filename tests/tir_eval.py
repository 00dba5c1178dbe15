"""Run a lowered SIMT stage on the CPU, thread after thread: an evaluator of the tirx statements
and expressions the lowerings of `tlspec.compiler.lower` produce, for tests that check which
element each loop moves where (index arithmetic, layouts, swizzles, guards) without a GPU.

It is written from tirx's semantics (loops, stores and loads of possibly vector indices, floor
division and modulo, bitwise ops), not from any lowering, so a lowering checked with it is
checked independently of its own index arithmetic. It moves bits: every element is the unsigned
integer of its bytes, and a cast between types of one size keeps them. Nodes it does not know
raise NotImplementedError, so a test never passes by skipping a statement.

Memory is a dict from a buffer's data (as printed: `tlspec_smem.data`) to a uint8 numpy array (the bytes of a global
tensor, or of the shared-memory pool that the flat tile views address at their elem_offset).
Threads run one after another, which is what the data stages' loops allow: within one stage no
thread reads what another writes.
"""
from __future__ import annotations

import numpy as np
import tvm_ffi
from tvm import tirx
from tvm.ir.expr import TensorLoad

from tlspec.compiler.analysis import STAGE_ATTR

_BINARY = {
    tirx.Add: lambda a, b: a + b, tirx.Sub: lambda a, b: a - b, tirx.Mul: lambda a, b: a * b,
    tirx.FloorDiv: lambda a, b: a // b, tirx.FloorMod: lambda a, b: a % b,
    tirx.Min: min, tirx.Max: max,
    tirx.LT: lambda a, b: int(a < b), tirx.LE: lambda a, b: int(a <= b),
    tirx.GT: lambda a, b: int(a > b), tirx.GE: lambda a, b: int(a >= b),
    tirx.EQ: lambda a, b: int(a == b), tirx.NE: lambda a, b: int(a != b),
    tirx.And: lambda a, b: int(bool(a) and bool(b)), tirx.Or: lambda a, b: int(bool(a) or bool(b)),
    tirx.BitwiseXor: lambda a, b: a ^ b, tirx.BitwiseAnd: lambda a, b: a & b,
    tirx.BitwiseOr: lambda a, b: a | b,
    tirx.LShift: lambda a, b: a << b, tirx.RShift: lambda a, b: a >> b,
}
_CALLS = {"tirx.bitwise_xor": lambda a, b: a ^ b, "tirx.bitwise_and": lambda a, b: a & b,
          "tirx.bitwise_or": lambda a, b: a | b, "tirx.shift_left": lambda a, b: a << b,
          "tirx.shift_right": lambda a, b: a >> b}


def _lanewise(op, a, b):
    if isinstance(a, list) or isinstance(b, list):
        n = len(a) if isinstance(a, list) else len(b)
        a = a if isinstance(a, list) else [a] * n
        b = b if isinstance(b, list) else [b] * n
        return [op(x, y) for x, y in zip(a, b)]
    return op(a, b)


class Machine:
    def __init__(self, memory: dict[str, np.ndarray], env: dict[str, int]):
        self.memory = memory            # data variable name -> bytes
        self.env = dict(env)            # variable name -> value

    # -- expressions ---------------------------------------------------------------------------
    def value(self, e):
        t = type(e)
        if t is tirx.IntImm:
            return int(e.value)
        if t is tirx.Var:
            if e.name not in self.env:
                raise KeyError(f"variable {e.name} has no value")
            return self.env[e.name]
        if t in _BINARY:
            return _lanewise(_BINARY[t], self.value(e.a), self.value(e.b))
        if t is tirx.Not:
            v = self.value(e.a)
            return [int(not x) for x in v] if isinstance(v, list) else int(not v)
        if t is tirx.Select:
            return self.value(e.true_value) if self.value(e.condition) else \
                self.value(e.false_value)
        if t is tirx.Cast:
            return self.value(e.value)      # index casts and same-size reinterpretation
        if t is tirx.Ramp:
            base, stride = self.value(e.base), self.value(e.stride)
            return [base + i * stride for i in range(int(e.lanes))]
        if t is tirx.Broadcast:
            return [self.value(e.value)] * int(e.lanes)
        if t is tirx.Shuffle:
            vectors = [x for v in e.vectors for x in _as_list(self.value(v))]
            picked = [vectors[self.value(i)] for i in e.indices]
            return picked if len(picked) > 1 else picked[0]
        if isinstance(e, TensorLoad):
            return self.load(e.source, self.value(e.indices[-1]), e.indices)
        if t is tirx.Call and str(e.op.name) in _CALLS:
            return _lanewise(_CALLS[str(e.op.name)], *[self.value(a) for a in e.args])
        if t is tirx.Call and str(e.op.name) == "tirx.if_then_else":
            cond, yes, no = e.args
            return self.value(yes) if self.value(cond) else self.value(no)
        raise NotImplementedError(f"{t.__name__}: {e}")

    def _view(self, buffer) -> np.ndarray:
        """The memory of `buffer` from its elem_offset on, as unsigned integers of its size."""
        size = _bytes(buffer.dtype)
        data = self.memory[str(buffer.data)]
        offset = int(buffer.elem_offset) * size
        data = data[offset:offset + (len(data) - offset) // size * size]
        return data.view(f"<u{size}") if size > 1 else data

    def load(self, buffer, index, indices):
        if len(indices) != 1:
            raise NotImplementedError(f"a load of {len(indices)} indices from {buffer.name}: "
                                      "the lowerings address flat views")
        view = self._view(buffer)
        if isinstance(index, list):
            return [int(view[_checked(buffer, view, i)]) for i in index]
        return int(view[_checked(buffer, view, index)])

    # -- statements ----------------------------------------------------------------------------
    def run(self, s) -> None:
        t = type(s)
        if t is tirx.SeqStmt:
            for part in s.seq:
                self.run(part)
        elif t is tirx.For:
            start, extent = self.value(s.min), self.value(s.extent)
            for i in range(start, start + extent):
                self.env[s.loop_var.name] = i
                self.run(s.body)
        elif t is tirx.IfThenElse:
            if self.value(s.condition):
                self.run(s.then_case)
            elif s.else_case is not None:
                self.run(s.else_case)
        elif t is tirx.BufferStore:
            if len(s.indices) != 1:
                raise NotImplementedError(f"a store of {len(s.indices)} indices to "
                                          f"{s.buffer.name}")
            view, index, value = self._view(s.buffer), self.value(s.indices[0]), self.value(s.value)
            for i, v in zip(_as_list(index), _as_list(value) if isinstance(index, list)
                            else [value]):
                view[_checked(s.buffer, view, i)] = v
        elif t is tirx.AllocBuffer:
            size = _bytes(s.buffer.dtype)
            count = int(np.prod([int(x) for x in s.buffer.shape]))
            self.memory[str(s.buffer.data)] = np.zeros(count * size, np.uint8)
        elif t is tirx.DeclBuffer:
            self.memory[str(s.buffer.data)] = self.memory[str(s.data)]    # a view of it
        elif t is tirx.Evaluate and isinstance(s.value, tirx.IntImm):
            pass
        elif t is tirx.AttrStmt:
            self.run(s.body)
        elif t is tirx.LetStmt or t is tirx.Bind:
            self.env[s.var.name] = self.value(s.value)
            if hasattr(s, "body") and s.body is not None:
                self.run(s.body)
        else:
            raise NotImplementedError(f"{t.__name__}: {s}")


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _bytes(dtype) -> int:
    text = str(dtype)
    return max(int("".join(c for c in text.split("x")[0] if c.isdigit()) or 8) // 8, 1)


def _checked(buffer, view, index: int) -> int:
    if not 0 <= index < len(view):
        raise IndexError(f"{buffer.name}[{index}] is outside its memory ({len(view)} elements)")
    return index


def stage_body(func: tirx.PrimFunc, pointer: str):
    """The lowered statement of the stage at `pointer` (its AttrStmt's body)."""
    found = []
    tvm_ffi.structural_walk(func.body, (tirx.AttrStmt, lambda a: found.append(a.body) if
                                        a.attr_key == STAGE_ATTR and getattr(a.node, "value", None) == pointer
                                        else None), order="pre")
    if len(found) != 1:
        raise KeyError(f"{len(found)} stages at {pointer}")
    return found[0]


def views(func: tirx.PrimFunc, memory: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`memory` with every buffer the function declares over one of its buffers (the shared
    tiles' views of the pool) mapped to that buffer's bytes."""
    memory = dict(memory)

    def declared(d):
        if d.data is not None and str(d.data) in memory:
            memory[str(d.buffer.data)] = memory[str(d.data)]

    tvm_ffi.structural_walk(func.body, (tirx.DeclBuffer, declared), order="pre")
    return memory


def run_threads(func: tirx.PrimFunc, pointer: str, memory: dict[str, np.ndarray],
                threads: int, env: dict[str, int], tid: str = "tid") -> None:
    """Run the stage of `func` at `pointer` for every thread index 0 .. threads - 1 (as the
    variable `tid`), in order, on `memory` (see `views`)."""
    stmt, memory = stage_body(func, pointer), views(func, memory)
    for t in range(threads):
        Machine(memory, {**env, tid: t}).run(stmt)
