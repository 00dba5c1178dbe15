"""Argument checks (pure: no CUDA): a call's arrays against a kernel's manifest arguments, dims
and checks, with messages that name the kernel, the argument and what was expected."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from ._arrays import ALIGNMENT, ArrayView, adapt, c_contiguous
from ._exprs import Expr, collect_dims, evaluate, render

if TYPE_CHECKING:
    from ._runtime import Kernel

Env = dict                     # dim name -> int


def dim_rules(c: Mapping) -> list:
    """The constraints of one manifest dim as phrases: '= 4096', 'a multiple of 64', '>= 64'."""
    parts = []
    if c.get("value") is not None:
        parts.append(f"= {c['value']}")
    if c.get("multiple_of") not in (None, 1):
        parts.append(f"a multiple of {c['multiple_of']}")
    if c.get("min") is not None:
        parts.append(f">= {c['min']}")
    if c.get("max") is not None:
        parts.append(f"<= {c['max']}")
    return parts


def _dim_ok(value: int, c: Mapping) -> bool:
    return ((c.get("value") is None or value == c["value"])
            and (c.get("multiple_of") in (None, 0) or value % c["multiple_of"] == 0)
            and (c.get("min") is None or value >= c["min"])
            and (c.get("max") is None or value <= c["max"]))


def _fmt_shape(shape: Sequence) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _shape_of(v: ArrayView) -> str:
    """An array's shape as text; int(): a symbolic size (torch.compile's tracing with dynamic
    shapes) shows its value, not its name."""
    return _fmt_shape([int(s) for s in v.shape])


class Argument:
    """One manifest argument, with what the checks and the messages need precomputed."""
    __slots__ = ("name", "dtype", "shape", "io", "doc", "rank", "dims", "bare_dims", "expected",
                 "derived", "strides", "bare_strides")

    def __init__(self, m: Mapping, dims: Mapping) -> None:
        self.name, self.dtype, self.io = m["name"], m["dtype"], m.get("io", "in")
        self.doc, self.shape = m.get("doc", ""), list(m["shape"])
        self.rank = len(self.shape)
        self.dims: list = []
        for e in self.shape:
            collect_dims(e, self.dims)
        # (position, dim) of the shape entries that are a bare dim: they bind it
        self.bare_dims = [(i, e["dim"]) for i, e in enumerate(self.shape)
                          if isinstance(e, dict) and "dim" in e]
        # declared strides (elements; None: C-contiguous) and the bare dims in them, which they
        # bind from the argument's own strides
        self.strides = m.get("strides")
        self.bare_strides = [(i, e["dim"]) for i, e in enumerate(self.strides or ())
                             if isinstance(e, dict) and "dim" in e]
        for e in self.strides or ():
            collect_dims(e, self.dims)
        self.expected = self._expected(dims)
        # axis -> the derived dims its extent was written with (the shape holds their values)
        self.derived: dict = {}
        for axis, d in m.get("derived", []):
            self.derived.setdefault(axis, []).append(d)

    def _expected(self, dims: Mapping) -> str:
        """'(M, 256) with M a multiple of 64 and M >= 64': the shape and the free dims' rules."""
        text = _fmt_shape([render(e) for e in self.shape])
        if self.strides is not None:
            text += " with strides " + _fmt_shape([render(e) for e in self.strides])
        rules = [f"{d} {r}" for d in self.dims if dims.get(d, {}).get("value") is None
                 for r in dim_rules(dims.get(d, {}))]
        return text + (" with " + " and ".join(rules) if rules else "")


_CMP = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def check_arguments(kernel: Kernel, values: Sequence, placement: bool = True) -> tuple:
    """Check the caller's arrays against a kernel's arguments; returns (views, dims).

    values: the arrays in argument order; None stands for an omitted output (io "out"), to be
    allocated, and gives a None view. Raises TypeError (missing, not an array, wrong dtype) or
    ValueError (shape, dims, layout, checks, then device and alignment) naming the kernel, the
    argument and what was expected. Where the arrays are is checked last, so that CPU or meta
    arrays check everything else about a call. placement=False checks neither device nor data
    pointer and reads no pointer: the fake implementation of a torch op (its fake tensors, which
    torch.compile traces with, have no data; meta tensors have no CUDA device)."""
    where = f"{kernel.name}()"
    env, bound_by = dict(kernel.fixed), {}
    views = [_check_argument(where, kernel, arg, x, env, bound_by, placement)
             for arg, x in zip(kernel.arguments, values)]
    _bind_affine_dims(where, kernel, views, env, bound_by)
    for arg, v in zip(kernel.arguments, views):   # again, every extent: one can use a dim that
        if v is not None:                         # only a later argument (or an affine one) bound
            _check_shape(where, arg, v, env, bound_by, kernel.dims)
            _check_dims(where, arg, v, env, kernel.dims)
            _check_strides(where, arg, v, env, bound_by, complete=True)
    _bind_derived(kernel, env)
    finish_checks(kernel, env)
    if placement:
        for arg, v in zip(kernel.arguments, views):
            if v is not None:
                _check_placement(where, arg, v)
        _check_one_device(where, views)
    return views, env


def _check_argument(where: str, kernel: Kernel, arg: Argument, x: Any, env: Env,
                    bound_by: dict, placement: bool) -> Optional[ArrayView]:
    """The view of one argument, its bare dims bound into env; raises when its type, dtype,
    shape, dims or layout do not fit (where it is, is checked later: _check_placement)."""
    if x is None:
        if arg.io != "out":
            raise TypeError(f"{where}: missing required argument {arg.name!r}")
        return None
    v = _adapt_argument(where, arg, x, placement)
    _check_dtype(where, arg, v)
    _check_shape(where, arg, v, env, bound_by, kernel.dims)
    _check_dims(where, arg, v, env, kernel.dims)
    _check_strides(where, arg, v, env, bound_by)
    return v


def _adapt_argument(where: str, arg: Argument, x: Any, pointer: bool) -> ArrayView:
    try:
        return adapt(x, pointer)
    except TypeError as e:
        raise TypeError(f"{where}: argument {arg.name!r}: {e}") from None
    except ValueError as e:
        raise ValueError(f"{where}: argument {arg.name!r}: {e}") from None


def _check_dtype(where: str, arg: Argument, v: ArrayView) -> None:
    if v.dtype != arg.dtype:
        raise TypeError(f"{where}: argument {arg.name!r} has dtype {v.dtype}; "
                        f"expected {arg.dtype}")


def _check_shape(where: str, arg: Argument, v: ArrayView, env: Env, bound_by: dict,
                 dims: Mapping) -> None:
    """Rank, then bind the argument's bare dims not bound yet, then compare every extent."""
    if len(v.shape) != arg.rank:
        raise ValueError(f"{where}: argument {arg.name!r} has shape {_shape_of(v)} "
                         f"({len(v.shape)} dimensions); expected {arg.expected}")
    for i, d in arg.bare_dims:
        if d not in env:
            env[d], bound_by[d] = v.shape[i], arg.name
    for i, (e, n) in enumerate(zip(arg.shape, v.shape)):
        try:
            want = evaluate(e, env)
        except ValueError:
            continue                       # a dim bound only by a later argument
        if want != n and i in arg.derived:
            raise ValueError(f"{where}: argument {arg.name!r} has shape {_shape_of(v)}; "
                             f"its extent {i} is {n}, but with the derived "
                             f"{_derived_note(arg.derived[i], dims, env)} it must be {want}; "
                             f"expected {arg.expected}")
        if want != n:
            raise ValueError(f"{where}: argument {arg.name!r} has shape {_shape_of(v)}; "
                             f"expected {arg.expected}{_bound_note(arg, e, env, bound_by)}")


def _bind_affine_dims(where: str, kernel: Kernel, views: Sequence[Optional[ArrayView]],
                      env: Env, bound_by: dict) -> None:
    """Bind each dim that no extent holds alone from its manifest `bind`: extent `axis` of an
    argument is scale * dim + offset, solved exactly (when that argument is given)."""
    for d, i, axis, scale, offset in kernel.affine_dims:
        arg, v = kernel.arguments[i], views[i]
        if d in env or v is None:
            continue
        value, remainder = divmod(v.shape[axis] - offset, scale)
        if remainder or value < 0:
            raise ValueError(f"{where}: argument {arg.name!r} has shape {_shape_of(v)}; "
                             f"expected {arg.expected} ({v.shape[axis]} is not "
                             f"{render(arg.shape[axis])} for any size {d})")
        env[d], bound_by[d] = value, arg.name


def _derived_note(names: Sequence[str], dims: Mapping, env: Env) -> str:
    """'dim OH = (H - 1) // 2 + 1 = 8' for each derived dim in names (manifest dims' `derived`)."""
    notes = [f"{d} = {dims[d]['derived']['expr']} = {evaluate(dims[d]['derived']['value'], env)}"
             for d in names]
    return ("dim " if len(notes) == 1 else "dims ") + " and ".join(notes)


def _bind_derived(kernel: Kernel, env: Env) -> None:
    """The values of the derived dims, from the dims the arguments bound."""
    for d, c in kernel.dims.items():
        if "derived" in c and d not in env:
            try:
                env[d] = evaluate(c["derived"]["value"], env)
            except ValueError:
                pass                      # a dim it uses is unbound: finish_checks says which


def _bound_note(arg: Argument, e: Expr, env: Env, bound_by: dict) -> str:
    """' (M = 64 from argument 'A')' for each dim of e that took its value from another
    argument."""
    names: list = []
    collect_dims(e, names)
    notes = [f"{d} = {env[d]} from argument {bound_by[d]!r}" for d in names
             if bound_by.get(d, arg.name) != arg.name]
    return f" ({', '.join(notes)})" if notes else ""


def _check_dims(where: str, arg: Argument, v: ArrayView, env: Env, dims: Mapping) -> None:
    for d in arg.dims:
        if d in env and not _dim_ok(env[d], dims.get(d, {})):
            raise ValueError(f"{where}: argument {arg.name!r} has shape {_shape_of(v)}; "
                             f"expected {arg.expected} (got {d} = {int(env[d])})")


def _check_strides(where: str, arg: Argument, v: ArrayView, env: Env, bound_by: dict,
                   complete: bool = False) -> None:
    """C-contiguous, or (declared strides) the declared strides: their bare dims bound from the
    argument's strides, each stride a multiple of the next and at least the span of the next
    dimension (the compiled addressing and non-overlapping outputs rely on both: `complete`,
    once every dim is bound). Dimensions of extent 1 may have any stride (they have one
    element)."""
    if arg.strides is None:
        if not c_contiguous(v.shape, v.strides):
            raise ValueError(f"{where}: argument {arg.name!r} is not C-contiguous (strides "
                             f"{v.strides} in elements); pass a contiguous copy, or declare its "
                             "strides in the spec")
        return
    have = v.strides if v.strides is not None else _c_strides(v.shape)
    for i, d in arg.bare_strides:
        if d not in env:
            env[d], bound_by[d] = have[i], arg.name
    try:
        want = [evaluate(e, env) for e in arg.strides]
    except ValueError:
        return                                 # a dim bound only by a later argument
    if any(n != 1 and a != b for n, a, b in zip(v.shape, have, want)):
        raise ValueError(f"{where}: argument {arg.name!r} has strides {_fmt_shape(have)} (in "
                         f"elements); expected {_fmt_shape(want)}: {arg.expected}"
                         f"{_bound_note(arg, {'op': '+', 'args': arg.strides}, env, bound_by)}")
    for i in range(arg.rank - 1 if complete else 0):
        if want[i] % want[i + 1] or want[i] < want[i + 1] * v.shape[i + 1]:
            raise ValueError(f"{where}: argument {arg.name!r} has strides {_fmt_shape(want)}: "
                             f"stride {i} must be a multiple of stride {i + 1} and at least "
                             f"{want[i + 1] * v.shape[i + 1]} (dimension {i + 1} spans that "
                             "many elements)")


def _c_strides(shape: Sequence[int]) -> tuple:
    """The strides (in elements) of a C-contiguous array of `shape`."""
    strides, stride = [], 1
    for n in reversed(shape):
        strides.insert(0, stride)
        stride *= n
    return tuple(strides)


def _check_placement(where: str, arg: Argument, v: ArrayView) -> None:
    """On a CUDA device, at an aligned address."""
    if v.device != "cuda":
        raise ValueError(f"{where}: argument {arg.name!r} is on the {v.device} device; "
                         f"expected a CUDA device array")
    if v.ptr % ALIGNMENT:
        raise ValueError(f"{where}: argument {arg.name!r} has data pointer {v.ptr:#x}, not "
                         f"{ALIGNMENT}-byte aligned")


def _check_one_device(where: str, views: Sequence[Optional[ArrayView]]) -> None:
    ids = {v.device_id for v in views if v is not None and v.device_id is not None}
    if len(ids) > 1:
        raise ValueError(f"{where}: the arguments are on different devices {sorted(ids)}")


def finish_checks(kernel: Kernel, env: Env) -> None:
    """Every dim bound, and the manifest's checks hold."""
    where = f"{kernel.name}()"
    for d in kernel.dims:
        if d not in env:
            raise ValueError(f"{where}: dimension {d} is not determined by the arguments given; "
                             f"pass the outputs that have it")
    for c in kernel.checks:
        lhs, rhs = evaluate(c["expr"], env), evaluate(c["bound"], env)
        if not _CMP[c["op"]](lhs, rhs):
            raise ValueError(f"{where}: {c.get('message') or 'check failed'} "
                             f"({render(c['expr'])} = {lhs}, expected {c['op']} {rhs})")


