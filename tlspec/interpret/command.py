"""`tlspec run SPEC --interpret`: one kernel of a spec run by the interpreter on .npy or random
inputs, its outputs written as .npy files (docs/interpreter.md, docs/cli.md)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..diagnostics import Diagnostics
from ..expr import evaluate
from ..index_expr import loads
from ..model import Kernel
from ..validate import UsageError, validate_paths
from .binding import dim_ok, dim_rules, shape_text
from .bits import ML_DTYPES, all_ones, as_bits, numpy_dtype
from .errors import InterpretError
from .machine import Execution, Program, check_array

GPU = ("tlspec run runs kernels in the interpreter only, for now: add --interpret. To run a "
       "kernel on a GPU, compile its spec with tlspec compile and call it from the package it "
       "writes (docs/artifacts.md)")


class RunUsageError(Exception):
    """A mistake on the command line (exit status 2)."""


def run_spec(spec: str, kernel_name: str | None, interpret: bool, dims: Sequence[str],
             inputs: Sequence[str], seed: int, out: str, echo: Callable[[str], None]) -> int:
    """Run the command; returns its exit status (0, or 1 for located errors, printed); raises
    RunUsageError for a usage error."""
    if not interpret:
        raise RunUsageError(GPU)
    try:
        result = validate_paths([spec])
    except UsageError as err:
        raise RunUsageError(str(err)) from None
    if not result.ok:
        return _failed(result.diagnostics, "nothing was run", echo)
    kernel = choose_kernel(result.kernels, kernel_name, spec)
    try:
        program = Program(kernel)
    except InterpretError as err:
        return _failed(err.diagnostics, "nothing was run", echo)
    given = _read_inputs(program, inputs)
    bound = _bind(program, parse_dims(kernel, dims), given)
    _check_out(Path(out))
    arrays, sources = _arrays(program, bound, given, seed)
    try:
        done = program.run(arrays)
    except InterpretError as err:
        return _failed(err.diagnostics, "no output was written", echo)
    written = _write(program, arrays, Path(out))
    echo(_summary(program, done, arrays, sources, written))
    return 0


def _failed(diags: Diagnostics, what: str, echo: Callable[[str], None]) -> int:
    count = len(diags.errors)
    echo(diags.render_text())
    echo(f"{count} error{'s' * (count != 1)}; {what}")
    return 1


def choose_kernel(kernels: list[Kernel], name: str | None, spec: str) -> Kernel:
    names = ", ".join(k.name for k in kernels)
    if name is not None:
        for kernel in kernels:
            if kernel.name == name:
                return kernel
        raise RunUsageError(f"--kernel {name}: {spec} has no kernel {name!r}; it has {names}")
    if len(kernels) > 1:
        raise RunUsageError(f"{spec} has {len(kernels)} kernels ({names}): choose one with "
                            "--kernel NAME")
    return kernels[0]


def _pair(option: str, text: str, what: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name or not value:
        raise RunUsageError(f"{option} {text}: expected {what}")
    return name, value


def parse_dims(kernel: Kernel, dims: Sequence[str]) -> dict[str, int]:
    values: dict[str, int] = {}
    symbolic = [d.name for d in kernel.dims.values() if d.symbolic]
    for text in dims:
        name, value = _pair("--dim", text, "NAME=VALUE, VALUE an integer")
        dim = kernel.dims.get(name)
        if dim is None:
            raise RunUsageError(f"--dim {text}: {kernel.name} has no dim {name!r}; its symbolic "
                                f"dims are {', '.join(symbolic) or 'none'}")
        if not dim.symbolic:
            raise RunUsageError(f"--dim {text}: {name} is a constant dim ({dim.value})")
        try:
            values[name] = int(value)
        except ValueError:
            raise RunUsageError(f"--dim {text}: {value!r} is not an integer") from None
        if values[name] < 0 or not dim_ok(dim, values[name]):
            raise RunUsageError(f"--dim {text}: {name} must be "
                                + " and ".join(dim_rules(dim) or ["at least 0"]))
    return values


def _read_inputs(program: Program, inputs: Sequence[str]) -> dict[str, tuple[np.ndarray, str]]:
    """The arrays of --input ARG=FILE.npy, checked as arguments of the kernel, with their files."""
    arguments = {b.name: b for b in program.signature.arguments}
    given = {}
    for text in inputs:
        name, path = _pair("--input", text, "ARG=FILE.npy")
        if name not in arguments:
            raise RunUsageError(f"--input {text}: {program.kernel.name} has no argument {name!r}; "
                                f"its arguments are {', '.join(arguments)}")
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise RunUsageError(f"--input {text}: cannot read {path}: {err}") from None
        try:
            given[name] = (check_array(program.signature.where, arguments[name], array), path)
        except (TypeError, ValueError) as err:
            raise RunUsageError(f"--input {text}: {err}") from None
    return given


def _bind(program: Program, dims: dict[str, int],
          given: dict[str, tuple[np.ndarray, str]]) -> dict[str, int]:
    signature = program.signature
    shapes = [given[b.name][0].shape if b.name in given else None for b in signature.arguments]
    try:
        bound = signature.bind(shapes, dims, "--dim", complete=False)
    except ValueError as err:
        raise RunUsageError(str(err)) from None
    for name, dim in signature.symbolic.items():
        if name not in bound:
            rules = dim_rules(dim)
            raise RunUsageError(f"dim {name} is not given: pass --dim {name}=VALUE"
                                + (f" ({name} {' and '.join(rules)})" if rules else "")
                                + " or an --input whose shape has it")
    return bound


def _arrays(program: Program, dims: dict[str, int], given: dict[str, tuple[np.ndarray, str]],
            seed: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every argument's array, and where each input came from."""
    rng = np.random.default_rng(seed)
    indices = index_rows(program.kernel, dims)
    arrays, sources = {}, {}
    for buffer in program.signature.arguments:
        shape = tuple(evaluate(e, dims) for e in buffer.shape)
        if buffer.name in given:
            arrays[buffer.name], path = given[buffer.name]
            sources[buffer.name] = f"from {path}"
        elif buffer.io == "out":
            arrays[buffer.name] = all_ones(shape, buffer.dtype)
        elif buffer.name in indices:
            rows, distinct = indices[buffer.name]
            arrays[buffer.name] = _random_indices(shape, buffer.dtype, rows, distinct, rng)
            sources[buffer.name] = (f"random {'distinct ' * distinct}rows of 0..{rows - 1}, "
                                    f"seed {seed}")
        else:
            arrays[buffer.name] = _random_values(shape, buffer.dtype, rng)
            sources[buffer.name] = f"random, seed {seed}"
    return arrays, sources


def index_rows(kernel: Kernel, dims: dict[str, int]) -> dict[str, tuple[int, bool]]:
    """Per global index buffer of a gather or scatter: the fewest rows of the tables it indexes,
    and whether a scatter uses it (its indices must then be distinct)."""
    found: dict[str, tuple[int, bool]] = {}

    def note(name: str, rows: int, scatter: bool) -> None:
        before = found.get(name, (rows, False))
        found[name] = (min(rows, before[0]), before[1] or scatter)

    for stage in kernel.walk():
        if stage.kind in ("gather", "scatter"):
            table = kernel.buffers[stage.regions["src" if stage.kind == "gather" else "dst"].name]
            scatter = stage.kind == "scatter"
            if "index" in stage.regions:
                note(stage.regions["index"].name, evaluate(table.shape[0], dims), scatter)
            # computed indices: a tensor read in the expression of table dim k gets rows of
            # dim k (the value used as is, as in `block_table[b, t // P]`)
            for axis, expr in enumerate(stage.indices):
                for read in loads(expr) if expr is not None else ():
                    note(read.buffer, evaluate(table.shape[axis], dims), scatter)
    return found


def _random_indices(shape: tuple[int, ...], dtype: str, rows: int, distinct: bool,
                    rng: np.random.Generator) -> np.ndarray:
    """Random rows of a table; distinct ones for a scatter, as far as the table has rows (the
    positions beyond get -1, which moves nothing)."""
    count = int(np.prod(shape))
    if distinct:
        values = np.full(count, -1)
        chosen = rng.permutation(rows)[:count]
        values[:chosen.size] = chosen
    else:
        values = rng.integers(0, max(rows, 1), count)
    return values.reshape(shape).astype(dtype)


def _random_values(shape: tuple[int, ...], dtype: str, rng: np.random.Generator) -> np.ndarray:
    """Random values that are never zero: normal floats, small integers."""
    kind = numpy_dtype(dtype)
    if dtype.startswith(("float", "bfloat")):
        values = rng.standard_normal(shape).astype(np.float32).astype(kind)
    else:
        low = 1 if dtype.startswith("uint") else -100
        values = rng.integers(low, 101, shape).astype(kind)
    values[values == 0] = 1
    return values


def _check_out(out: Path) -> None:
    """That the outputs can be written to OUT, checked before the kernel runs: a folder, or a
    path where one can be made (the probe of tlspec compile's -o)."""
    from ..package import check_creatable

    if os.path.lexists(out) and not out.exists():
        raise RunUsageError(f"--out {out} is a symbolic link to nothing (or a loop); name a "
                            "folder for the outputs")
    if out.exists() and not out.is_dir():
        raise RunUsageError(f"--out {out} is a file; name a folder for the outputs")
    try:    # an existing folder is probed too: /proc, a read-only mount
        check_creatable(out, out if out.is_dir() else out.parent)
    except ValueError as err:
        raise RunUsageError(f"--out {out}: {err}") from None


def _write(program: Program, arrays: dict[str, np.ndarray], out: Path) -> dict[str, Path]:
    """Every out and inout argument to OUT/<name>.npy; bfloat16 and float8 as their bits
    (uint16, uint8), which numpy reads without ml_dtypes."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        for buffer in program.signature.arguments:
            if buffer.io != "in":
                array = arrays[buffer.name]
                if buffer.dtype in ML_DTYPES:
                    array = as_bits(array)
                written[buffer.name] = out / f"{buffer.name}.npy"
                np.save(written[buffer.name], array, allow_pickle=False)
        return written
    except OSError as err:
        raise RunUsageError(f"--out {out}: {err.strerror or err}") from None


def _summary(program: Program, done: Execution, arrays: dict[str, np.ndarray],
             sources: dict[str, str], written: dict[str, Path]) -> str:
    kernel = program.kernel
    symbolic = ", ".join(f"{n} = {v}" for n, v in done.dims.items()
                         if n in program.signature.symbolic)
    grid = " x ".join(str(n) for n in done.grid)
    lines = [f"{kernel.name}{f' ({symbolic})' if symbolic else ''}: {done.blocks} block"
             f"{'s' * (done.blocks != 1)} (grid {grid})"]
    rows = []
    for buffer in program.signature.arguments:
        array = arrays[buffer.name]
        what = [sources[buffer.name]] if buffer.name in sources else []
        if buffer.io != "in":
            what.append(f"{done.written[buffer.name]} of {array.size} elements written -> "
                        f"{written[buffer.name]}")
        rows.append((buffer.name, buffer.dtype, shape_text(array.shape), buffer.io,
                     "; ".join(what)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4]
              for row in rows]
    return "\n".join(lines)
