"""The cases of a differential batch (DIR/cases.json) and their data: the call sizes chosen for
each kernel, and the inputs and poisoned outputs of a call, made with numpy from the call's seed
so that the GPU side and the interpreter side build the very same arrays.

Arrays are unsigned-integer views of each element size (the kernels move bits); index tensors
hold row numbers, mostly in range, some outside (and distinct for scatter); a tensor with
declared strides is a strided view of a larger buffer (its gaps compared too: `storage`).

Needs numpy only (and the standard library): the GPU machine runs this without tvm.
"""
from __future__ import annotations

import json
import random
import sys
from math import gcd, prod
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
from poison import DTYPE_SIZE, POISON_BITS  # noqa: E402  (tests/gpu/poison.py)

CASES = "cases.json"
UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
OUT_OF_RANGE = 0.1          # share of index values outside the table


# -- call sizes ------------------------------------------------------------------------------
def _allowed(plan: dict) -> tuple[int, int, int]:
    """(lowest, highest, step) of the sizes a call may give a symbolic dim."""
    step = plan.get("multiple_of") or 1
    low = max(plan.get("min") or 1, step)
    low = -(-low // step) * step
    high = min(plan["cap"], plan.get("max") or plan["cap"])
    return low, max(low, high // step * step), step


def _sizes(plan: dict, rng: random.Random) -> dict[str, int]:
    """Sizes for one symbolic dim, by kind: dividing its tiles, ragged, and the smallest."""
    low, high, step = _allowed(plan)
    unit = step * plan["granule"] // gcd(step, plan["granule"])
    dividing = [v for v in range(-(-low // unit) * unit, high + 1, unit)]
    ragged = [v for v in range(low, high + 1, step) if v % plan["granule"]]
    values = list(range(low, high + 1, step))
    return {"dividing": rng.choice(dividing or values), "ragged": rng.choice(ragged or values),
            "small": low, "any": rng.choice(values)}


def choose_calls(plans: dict[str, dict], seed: int) -> list[dict[str, int]]:
    """The dims of the calls to run: one for a kernel without symbolic dims; else one whose
    sizes divide the tiles, one ragged, one at the smallest sizes (often 1) and one mixed."""
    if not plans:
        return [{}]
    rng = random.Random(seed)
    options = {name: _sizes(plan, rng) for name, plan in plans.items()}
    calls = []
    for kind in ("dividing", "ragged", "small", "any"):
        dims = {name: sizes[kind] for name, sizes in options.items()}
        if dims not in calls:
            calls.append(dims)
    return calls


# -- arrays ----------------------------------------------------------------------------------
def poisoned(shape: list[int], dtype: str) -> np.ndarray:
    return np.full(shape, POISON_BITS[dtype], dtype=UINT[DTYPE_SIZE[dtype]])


def random_bits(rng: np.random.Generator, shape: list[int], dtype: str) -> np.ndarray:
    """Random element bits, never zero nor the poison pattern."""
    kind = UINT[DTYPE_SIZE[dtype]]
    values = rng.integers(0, np.iinfo(kind).max, size=shape, dtype=kind, endpoint=True)
    values[(values == 0) | (values == POISON_BITS[dtype])] = 1
    return values


def index_values(rng: np.random.Generator, count: int, rows: int, dtype: str,
                 distinct: bool) -> np.ndarray:
    """`count` row indices of a table of `rows` rows: mostly in [0, rows), a share outside
    (negative, past the end, and for int64 beyond 32 bits); distinct when `distinct` (then
    count <= rows, which the generator's dims guarantee)."""
    if distinct:
        assert count <= rows, f"{count} distinct indices into a table of {rows} rows"
        values = rng.permutation(rows)[:count].astype(np.int64)
    else:
        values = rng.integers(0, max(rows, 1), size=count, dtype=np.int64)
    for j, position in enumerate(np.flatnonzero(rng.random(count) < OUT_OF_RANGE)):
        if dtype == "int64" and j % 3 == 2:
            values[position] = (2**33 + j) * (-1 if j % 2 else 1)
        else:
            values[position] = rows + j if j % 2 == 0 else -(j + 1)    # all distinct
    return values.astype(dtype).view(UINT[DTYPE_SIZE[dtype]])


def call_arrays(case: dict, call: dict) -> dict[str, np.ndarray]:
    """Every argument of `case` for `call`, by name: inputs random (index tensors as the case's
    fills say), outputs poisoned, inout tensors random (what the kernel leaves stays). An
    argument with declared strides (the call's `strides`) is a view of a larger buffer with
    those strides, whose gaps hold poison (outputs) or random bits (the others)."""
    rng = np.random.default_rng(call["seed"])
    arrays = {}
    for arg in case["arguments"]:
        shape, dtype = call["shapes"][arg["name"]], arg["dtype"]
        fill = arg.get("fill")
        if arg["io"] == "out":
            values = poisoned(shape, dtype)
        elif fill:
            rows = call["shapes"][fill["table"]][fill.get("dim", 0)]
            values = index_values(rng, prod(shape), rows, dtype, fill["distinct"]).reshape(shape)
        else:
            values = random_bits(rng, shape, dtype)
        strides = call.get("strides", {}).get(arg["name"])
        if strides is not None:
            values = pitched_view(rng, values, strides, dtype, poison=arg["io"] == "out")
        arrays[arg["name"]] = values
    return arrays


def span(shape: list[int], strides: list[int]) -> int:
    """Elements from the first to the last of a strided view, the gaps included."""
    return 1 + sum((n - 1) * s for n, s in zip(shape, strides)) if prod(shape) else 0


def pitched_view(rng: np.random.Generator, values: np.ndarray, strides: list[int], dtype: str,
                 *, poison: bool) -> np.ndarray:
    """`values` copied into a view with these element `strides` of a new buffer, the gaps
    poisoned or random."""
    length = span(list(values.shape), strides)
    base = poisoned([length], dtype) if poison else random_bits(rng, [length], dtype)
    view = np.lib.stride_tricks.as_strided(base, values.shape,
                                           [s * base.itemsize for s in strides])
    view[...] = values
    return view


def storage(array: np.ndarray) -> np.ndarray:
    """What a call's result is compared on: the array, or for a strided view (not C-contiguous)
    all of its buffer from its first element to its last, the gaps included (1-D)."""
    if array.flags.c_contiguous:
        return array
    length = span(list(array.shape), [s // array.itemsize for s in array.strides])
    return np.lib.stride_tricks.as_strided(array, (length,), (array.itemsize,))


def written(case: dict) -> list[str]:
    """The arguments a kernel may write: out and inout."""
    return [a["name"] for a in case["arguments"] if a["io"] != "in"]


def load_cases(folder: str | Path) -> dict:
    return json.loads((Path(folder) / CASES).read_text())
