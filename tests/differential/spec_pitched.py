"""Pitched views: some global tensors of a generated spec given declared `strides` (docs/spec.md,
"Strides of a global tensor"): a row pitch above the row's length, a constant, an expression of
the row's extent (`N + 8`) or a symbolic dim of its own (`LD`, bound from the argument's stride,
its plan's smallest value at least the row's largest extent, so every call's pitch holds a row),
and outer strides that are multiples of the next (`(T + 1) * LD`).

A pitch is a multiple of 16 bytes where the tensor is moved by TMA (prefer_instruction: tma,
tma_copy, copy_cluster) and usually elsewhere; sometimes not, where SIMT loops must index the
rows by an odd pitch (and a vector wider than the pitch allows is refused, located). The cases
(cases.call_arrays) pass such a tensor as a strided view of a larger buffer, whose gaps are
compared too: neither side may write them.
"""
from __future__ import annotations

import re

from spec_builder import DimPlan, Generated, SpecBuilder
from spec_features import stages_of
from tlspec.dtypes import DTYPE_BYTES, MAX_VECTOR_BYTES

PITCHED = 0.12         # share of the specs (im2col's excepted) with pitched tensors
TMA_KINDS = ("tma_copy", "copy_cluster")
ORDER = ["tlspec", "name", "doc", "target", "dims", "buffers", "launch", "stages"]


def _tma_buffers(spec: dict) -> set[str]:
    """The global tensors a TMA copy may move."""
    names = set()
    for kind, options, _ in stages_of(spec["stages"]):
        if kind in TMA_KINDS or options.get("prefer_instruction") == "tma":
            names |= {options[k].split("[", 1)[0] for k in ("src", "dst") if k in options}
    return names


def _par(text) -> str:
    text = str(text)
    return text if re.fullmatch(r"\w+", text) else f"({text})"


def _row_pitch(b: SpecBuilder, last, vector: int, aligned: bool):
    """The pitch of rows of `last` elements: an integer, an expression, or a new symbolic dim."""
    value = last if isinstance(last, int) else b.dims.get(last)
    if isinstance(value, int):
        pitch = value + (b.rng.randint(0, 3) * vector if aligned else b.rng.randint(1, 7))
        return -(-pitch // vector) * vector if aligned else pitch
    plan = b.plans.get(last)
    if plan is not None and (aligned or b.chance(0.6)):
        name = b.fresh("LD")
        smallest = -(-plan.cap // vector) * vector if aligned else plan.cap
        entry = {"symbolic": True, "min": smallest}
        if aligned:
            entry["multiple_of"] = vector
        b.dims[name] = entry
        b.plans[name] = DimPlan(1, smallest + 2 * vector, multiple_of=entry.get("multiple_of"),
                                min=smallest)
        return name
    return f"{_par(last)} + {b.rng.randint(1, 3) * vector if b.chance(0.7) else b.rng.randint(1, 7)}"


def _strides(b: SpecBuilder, shape: list, vector: int, aligned: bool) -> list:
    strides = [1, _row_pitch(b, shape[-1], vector, aligned)]
    for extent in reversed(shape[1:-1]):
        extra = b.rng.choice([0, 0, 1])
        inner = strides[-1]
        if isinstance(extent, int) and isinstance(inner, int):
            strides.append((extent + extra) * inner)
        else:
            grown = f"{_par(extent)} + {extra}" if extra else extent
            strides.append(f"{_par(grown)} * {_par(inner)}")
    return strides[::-1]


def pitched(b: SpecBuilder, g: Generated) -> Generated:
    """`g` with some of its global tensors of rank 2 or more made pitched views (at times)."""
    spec = g.spec
    if not b.chance(PITCHED) or any(k == "im2col" for k, _, _ in stages_of(spec["stages"])):
        return g
    tma = _tma_buffers(spec)
    names = [n for n, buf in spec["buffers"].items()
             if buf["scope"] == "global" and len(buf["shape"]) >= 2]
    # an aligned pitch on a TMA tensor needs its row's extent to be a dim or constant
    names = [n for n in names if n not in tma or not isinstance(spec["buffers"][n]["shape"][-1],
                                                               str)
             or spec["buffers"][n]["shape"][-1].isidentifier()]
    if not names:
        return g
    for name in b.rng.sample(names, b.rng.randint(1, len(names))):
        buffer = spec["buffers"][name]
        vector = MAX_VECTOR_BYTES // DTYPE_BYTES[buffer["dtype"]]
        buffer["strides"] = _strides(b, buffer["shape"], vector, name in tma or b.chance(0.7))
    if b.dims:          # a new pitch dim: the dims section, before the buffers
        spec["dims"] = b.dims
        spec = {k: spec[k] for k in sorted(spec, key=lambda k: ORDER.index(k) if k in ORDER
                                            else len(ORDER))}
    return Generated(g.name, spec, g.dims)
