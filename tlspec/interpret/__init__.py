"""The reference interpreter: a kernel's meaning, executed in numpy on the CPU.

It runs a validated kernel block by block and stage by stage with the language's exact rules
(docs/interpreter.md): no tvm, no GPU, nothing of tlspec.compiler. It is the oracle that
compiled kernels are tested against, and a way to run and debug a spec without a GPU.

    run(kernel, arrays)        run a kernel model on numpy arrays (outputs written in place)
    load(path_or_text)         a spec's kernels as functions with the compiled wrappers' signatures
    InterpretError             a kernel refused, or a result it leaves undefined (located)
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..model import Kernel
from .errors import InterpretError
from .machine import Execution, Program
from .module import load

__all__ = ["InterpretError", "Execution", "Program", "load", "run"]


def run(kernel: Kernel, arrays: Mapping[str, np.ndarray]) -> None:
    """Run `kernel` on `arrays`: every global buffer by name, C-contiguous, of the buffer's dtype
    or any dtype of its size. Outputs are written in place; elements the kernel does not write
    keep their values. Raises InterpretError (located diagnostics) for a kernel the interpreter
    does not run or a result that is not defined, TypeError / ValueError for arrays that do not
    fit the kernel's arguments."""
    Program(kernel).run(arrays)
