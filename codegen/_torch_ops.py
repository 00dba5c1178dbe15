"""The kernels of a package as torch.library custom ops (opt-in: register_torch_ops), so that
torch.compile(fullgraph=True) traces through them.

Each kernel K becomes two ops in the caller's namespace NS:
  * NS::K takes the kernel's "in" and "inout" arguments, allocates its "out" arguments and
    returns them (an "inout" argument is mutated in place);
  * NS::K_out takes every argument, outputs included, and returns nothing (it mutates them).
Their fake (meta) implementation is the launch manifest's: the full argument checks without
data pointers, then empty outputs of the shapes and dtypes the manifest gives for the dims the
arguments bound. The real implementation is the package's own wrapper, on torch's current
stream.
"""
from __future__ import annotations

import importlib
import threading
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Sequence

from ._arrays import DTYPES
from ._checks import check_arguments
from ._exprs import evaluate

if TYPE_CHECKING:
    from ._runtime import Kernel

_registered: dict = {}         # (namespace, package) -> the namespace of its ops
_lock = threading.Lock()


def schema(kernel: Kernel, out_variant: bool) -> str:
    """The op's schema: '(Tensor A, Tensor(a!) B) -> ()' for K_out, '(Tensor A) -> Tensor' for
    K; a mutated argument gets an alias set of its own."""
    parts, returns, alias = [], [], iter("abcdefghijklmnopqrstuvwxyz")
    for arg in kernel.arguments:
        if arg.io == "out" and not out_variant:
            returns.append("Tensor")
        elif arg.io == "in":
            parts.append(f"Tensor {arg.name}")
        else:
            parts.append(f"Tensor({next(alias)}!) {arg.name}")
    result = "Tensor" if len(returns) == 1 else "(" + ", ".join(returns) + ")"
    return f"({', '.join(parts)}) -> {result}"


def _mutated(kernel: Kernel, out_variant: bool) -> tuple:
    return tuple(a.name for a in kernel.arguments
                 if a.io == "inout" or (out_variant and a.io == "out"))


def _values(kernel: Kernel, args: Sequence) -> list:
    """The kernel's argument values for the functional op's args: None for each output."""
    given = iter(args)
    return [None if a.io == "out" else next(given) for a in kernel.arguments]


def _picker(kernel: Kernel) -> Any:
    """A function of the wrapper's result that gives the functional op's: the "out" arguments
    (the wrapper returns "inout" ones too)."""
    positions = [k for k, i in enumerate(kernel.outputs) if kernel.arguments[i].io == "out"]
    if len(kernel.outputs) == 1:
        return (lambda result: result) if positions else (lambda result: None)
    if len(positions) == 1:
        return lambda result: result[positions[0]]
    return lambda result: tuple(result[k] for k in positions) if positions else None


def _fake_outputs(torch: Any, kernel: Kernel, values: list) -> list:
    """Empty tensors for the omitted outputs of values, shaped by the manifest for the dims the
    other arguments bind (every check of a real call but where the arrays are runs first)."""
    _, env = check_arguments(kernel, values, placement=False)
    device = next(v.device for v in values if v is not None)
    return [torch.empty_strided([evaluate(e, env) for e in a.shape],
                                [evaluate(e, env) for e in a.strides],
                                dtype=getattr(torch, DTYPES[a.dtype][2]), device=device)
            if a.strides is not None else
            torch.empty([evaluate(e, env) for e in a.shape],
                        dtype=getattr(torch, DTYPES[a.dtype][2]), device=device)
            for a, v in zip(kernel.arguments, values) if v is None]


def _define(torch: Any, namespace: str, kernel: Kernel, out_variant: bool) -> Any:
    name = f"{namespace}::{kernel.name}" + ("_out" if out_variant else "")
    if out_variant:
        def run(*args: Any) -> None:
            kernel.call(args, None)          # the compiled launcher's, when the kernel has one

        def fake(*args: Any) -> None:
            check_arguments(kernel, args, placement=False)
    else:
        pick = _picker(kernel)

        def run(*args: Any) -> Any:
            return pick(kernel.call(_values(kernel, args), None))

        def fake(*args: Any) -> Any:
            outs = _fake_outputs(torch, kernel, _values(kernel, args))
            return outs[0] if len(outs) == 1 else (tuple(outs) if outs else None)

    op = torch.library.custom_op(name, run, mutates_args=_mutated(kernel, out_variant),
                                 device_types="cuda", schema=schema(kernel, out_variant))
    op.register_fake(fake)
    return op


def register_torch_ops(namespace: str, package: str, names: Sequence[str]) -> SimpleNamespace:
    """Register the kernels `names` of package `package` as ops torch.ops.<namespace>.<kernel>
    and torch.ops.<namespace>.<kernel>_out (see the module docstring); returns them as a
    namespace. Registering the same package in the same namespace again returns the same ops."""
    import torch
    if not namespace.isidentifier():
        raise ValueError(f"namespace {namespace!r} is not a Python identifier")
    kernels = [importlib.import_module(f"{package}.{n}")._KERNEL for n in names]
    clash = sorted({f"{k.name}_out" for k in kernels} & {k.name for k in kernels})
    if clash:
        raise ValueError(f"{package}: kernel {clash[0]!r} has the name of another kernel's "
                         f"out-variant op; rename it to register the package's ops")
    with _lock:
        ops = _registered.get((namespace, package))
        if ops is None:
            ops = SimpleNamespace()
            for k in kernels:
                setattr(ops, k.name, _define(torch, namespace, k, False))
                setattr(ops, f"{k.name}_out", _define(torch, namespace, k, True))
            _registered[(namespace, package)] = ops
    return ops
