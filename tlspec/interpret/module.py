"""`tlspec.interpret.load`: a spec file's kernels as Python functions that run in the
interpreter, with the compiled wrappers' signatures (docs/artifacts.md, "The wrapper")."""
from __future__ import annotations

import inspect
import os
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..diagnostics import Diagnostics
from ..expr import evaluate
from ..validate import SPEC_SUFFIX, UsageError, ValidationResult, validate_paths, validate_text
from .bits import all_ones, numpy_dtype
from .errors import InterpretError
from .machine import Program, element_strides


def load(path_or_text: str | os.PathLike, *, name: str | None = None) -> types.ModuleType:
    """Validate a spec (a file, a folder of specs, or spec text: a str with a newline) and return
    a module whose attributes are its kernels, each run by the interpreter when called. `name` is
    what diagnostics call the source (default: the path as given, or '<string>' for text).
    Raises InterpretError with every diagnostic when the spec is invalid or uses what the
    interpreter does not run; FileNotFoundError for a path that does not exist."""
    text = not isinstance(path_or_text, os.PathLike) and "\n" in path_or_text
    if text:
        source = name or "<string>"
        result = validate_text(path_or_text, source)
    else:
        source = name or os.fspath(path_or_text)
        if not Path(path_or_text).exists():
            raise FileNotFoundError(f"no spec at '{source}'")
        result = _validate_path(os.fspath(path_or_text))
    if not result.ok:
        raise InterpretError(result.diagnostics)
    diags = Diagnostics()
    programs = []
    for kernel in result.kernels:
        try:
            programs.append(Program(kernel))
        except InterpretError as err:
            for d in err.diagnostics:
                diags.add(d)
    if diags.has_errors:
        raise InterpretError(diags)
    module = types.ModuleType(Path(source).name.removesuffix(SPEC_SUFFIX),
                              f"The kernels of {source}, run by the tlspec interpreter.")
    module.__all__ = [p.kernel.name for p in programs]
    for program in programs:
        function = kernel_function(program)
        function.__module__ = module.__name__
        setattr(module, program.kernel.name, function)
    return module


def _validate_path(path: str) -> ValidationResult:
    try:
        return validate_paths([path])
    except UsageError as err:
        raise ValueError(str(err)) from None


def kernel_function(program: Program) -> Callable[..., Any]:
    """The kernel as a function of its arguments, like its compiled wrapper: positional arrays
    in spec order, `io: out` ones optional (allocated, every bit set, when omitted), returning
    the out and inout arrays. `stream` is accepted for the wrapper's sake and ignored."""
    signature = program.signature
    arguments = signature.arguments
    where = signature.where
    parameters, default = [], False
    for buffer in arguments:
        default |= buffer.io == "out"
        parameters.append(inspect.Parameter(buffer.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            default=None if default else inspect.Parameter.empty))
    parameters.append(inspect.Parameter("stream", inspect.Parameter.KEYWORD_ONLY, default=None))
    python_signature = inspect.Signature(parameters)

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = python_signature.bind(*args, **kwargs).arguments
        except TypeError as err:
            raise TypeError(f"{where}: {err}") from None
        given = [bound.get(buffer.name) for buffer in arguments]
        arrays = []
        for buffer, x in zip(arguments, given):
            if x is None and buffer.io != "out":
                raise TypeError(f"{where}: missing required argument {buffer.name!r}")
            arrays.append(None if x is None else _as_array(buffer, x))
        dims = signature.bind([None if a is None else a.shape for a in arrays],
                              strides=[None if a is None else element_strides(a) for a in arrays])
        for i, buffer in enumerate(arguments):
            if arrays[i] is None:
                arrays[i] = allocate(buffer, dims)
        program.run({b.name: a for b, a in zip(arguments, arrays)})
        outputs = [a for b, a in zip(arguments, arrays) if b.io != "in"]
        return None if not outputs else outputs[0] if len(outputs) == 1 else tuple(outputs)

    call.__name__ = call.__qualname__ = program.kernel.name
    call.__doc__ = _docstring(program)
    call.__signature__ = python_signature
    return call


def _as_array(buffer: Any, x: Any) -> np.ndarray:
    """An ndarray as it is (inputs made contiguous, unless they declare strides); anything else through numpy.asarray, in the
    buffer's dtype."""
    array = x if isinstance(x, np.ndarray) else np.asarray(x, dtype=numpy_dtype(buffer.dtype))
    return np.ascontiguousarray(array) if buffer.io == "in" and buffer.strides is None else array


def allocate(buffer: Any, dims: dict[str, int]) -> np.ndarray:
    """An omitted output, every bit set: C-contiguous, or with its declared strides."""
    shape = tuple(evaluate(e, dims) for e in buffer.shape)
    if buffer.strides is None:
        return all_ones(shape, buffer.dtype)
    strides = [evaluate(e, dims) for e in buffer.strides]
    base = all_ones((sum((n - 1) * s for n, s in zip(shape, strides)) + 1,), buffer.dtype)
    return np.lib.stride_tricks.as_strided(base, shape, [s * base.itemsize for s in strides])


def _docstring(program: Program) -> str:
    signature = program.signature
    lines = [program.kernel.doc.strip() or f"The kernel {program.kernel.name}.", "",
             "Run by the tlspec interpreter (numpy arrays; outputs allocated with every bit set "
             "when omitted).", "", "Args:"]
    for buffer, expected in zip(signature.arguments, signature.expected):
        note = " (allocated when omitted)" if buffer.io == "out" else ""
        lines.append(f"    {buffer.name}: {buffer.dtype} {expected}, {buffer.io}{note}."
                     + (f" {buffer.doc}" if buffer.doc else ""))
    outputs = [b.name for b in signature.arguments if b.io != "in"]
    lines += ["", "Returns:", f"    {', '.join(outputs) or 'None'}."]
    return "\n".join(lines)
