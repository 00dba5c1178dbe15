"""Reducing a failing spec: the one-step reductions of a spec (each a smaller spec), its cost,
and a greedy search that keeps taking the first reduction that still validates and still fails,
until none does. The predicate decides what "fails" means (shrink.py: an internal compiler error
of the same kind, or a GPU run that does not pass).
"""
from __future__ import annotations

import copy
import math
import re
from typing import Callable, Iterator

import yaml

from spec_yaml import to_yaml
from tlspec.validate import validate_text

REQUIRED = {"copy": {"src", "dst"}, "transpose": {"src", "dst"},
            "gather": {"src", "dst", "index"}, "scatter": {"src", "dst", "index"},
            "im2col": {"img", "col", "nhw_step", "c_step", "kernel"},
            "for": {"var", "extent", "stages"}, "pipeline": {"var", "extent", "stages"},
            "tma_copy": {"src", "dst"}, "async_copy": {"src", "dst"}, "alloc_barrier": {"name"},
            "barrier_arrive": {"barrier"}, "barrier_wait": {"barrier", "parity"}}
LOOPS = ("for", "pipeline")
INDEX_DTYPES = ("int32", "int64")


def _stage_lists(stages: list, path=()) -> Iterator[tuple[tuple, list]]:
    """Every stage list (the kernel's and each loop body) with its path of indices."""
    yield path, stages
    for i, stage in enumerate(stages):
        (kind, options), = stage.items()
        if kind in LOOPS:
            yield from _stage_lists(options["stages"], path + (i,))


def _at(spec: dict, path: tuple) -> list:
    stages = spec["stages"]
    for i in path:
        (options,) = stages[i].values()
        stages = options["stages"]
    return stages


def _words(spec: dict) -> set[str]:
    """Names used in the launch and the stages (buffers, dims, variables)."""
    text = yaml.safe_dump({"launch": spec["launch"], "stages": spec["stages"]})
    text += yaml.safe_dump([b["shape"] for b in spec["buffers"].values()])
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def _substitute(value, name: str, replacement: str):
    """`value` (a stage's options, recursively) with the name replaced in every expression
    (parenthesized unless it is a plain number)."""
    if not replacement.isdigit():
        replacement = f"({replacement})"
    if isinstance(value, str):
        return re.sub(rf"\b{re.escape(name)}\b", replacement, value)
    if isinstance(value, list):
        return [_substitute(v, name, replacement) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, name, replacement) for k, v in value.items()}
    return value


def reductions(spec: dict, dims: dict[str, int] | None = None) -> Iterator[dict]:
    """Specs one step smaller than `spec` (not all valid). `dims`: sizes of symbolic dims to
    use when one becomes a constant (a GPU call's), else small ones are tried."""
    for path, stages in list(_stage_lists(spec["stages"])):
        for i, stage in enumerate(stages):
            (kind, options), = stage.items()
            if len(stages) > 1:                       # drop the stage
                s = copy.deepcopy(spec)
                del _at(s, path)[i]
                yield s
            if kind in LOOPS:                         # the body alone, var = start
                s = copy.deepcopy(spec)
                body = _substitute(options["stages"], options["var"],
                                   str(options.get("start", 0)))
                _at(s, path)[i:i + 1] = body
                yield s
            if kind == "pipeline":                    # the same loop, not pipelined
                s = copy.deepcopy(spec)
                loop = {k: v for k, v in options.items()
                        if k not in ("num_stages", "warp_specialize")}
                _at(s, path)[i] = {"for": loop}
                yield s
            for key in sorted(set(options or {}) - REQUIRED.get(kind, set())):
                s = copy.deepcopy(spec)
                del _at(s, path)[i][kind][key]
                yield s
    used = _words(spec)
    for section in ("buffers", "dims"):
        for name in list(spec.get(section) or {}):
            if name not in used:
                s = copy.deepcopy(spec)
                del s[section][name]
                yield s
    yield from _dim_reductions(spec, dims)
    yield from _buffer_reductions(spec)
    yield from _integer_reductions(spec)


def _dim_reductions(spec: dict, dims: dict[str, int] | None) -> Iterator[dict]:
    for name, value in (spec.get("dims") or {}).items():
        if isinstance(value, int):            # written in place of its name
            s = _substitute({k: v for k, v in spec.items() if k != "dims"}, name, str(value))
            for b in s["buffers"].values():
                b["shape"] = [int(e) if str(e).isdigit() else e for e in b["shape"]]
            rest = {k: v for k, v in spec["dims"].items() if k != name}
            yield {k: rest if k == "dims" else s[k] for k in spec if k != "dims" or rest}
            continue
        if isinstance(value, dict):
            for key in [k for k in value if k != "symbolic"]:
                s = copy.deepcopy(spec)
                del s["dims"][name][key]
                yield s
        for constant in ([dims[name]] if dims and name in dims else [1, 7, 64, 100]):
            s = copy.deepcopy(spec)
            s["dims"][name] = constant
            yield s


def _buffer_reductions(spec: dict) -> Iterator[dict]:
    for name, b in spec["buffers"].items():
        if "layout" in b:
            s = copy.deepcopy(spec)
            del s["buffers"][name]["layout"]
            yield s
        if b["scope"] == "shared.dyn":
            s = copy.deepcopy(spec)
            s["buffers"][name]["scope"] = "shared"
            yield s
    for dtype in sorted({b["dtype"] for b in spec["buffers"].values()} - {"float32",
                                                                          *INDEX_DTYPES}):
        s = copy.deepcopy(spec)
        for b in s["buffers"].values():
            if b["dtype"] == dtype:
                b["dtype"] = "float32"
        yield s


def _integer_reductions(spec: dict) -> Iterator[dict]:
    """Every occurrence of an integer (tile extents, sizes, starts, threads...) made smaller at
    once, so that the regions that use it stay consistent."""
    text = to_yaml({k: v for k, v in spec.items() if k not in ("tlspec", "name", "doc")})
    for value in sorted({int(v) for v in re.findall(r"(?<![\w.])\d+(?![\w.])", text)}, reverse=True):
        for smaller in sorted({1, value // 2, value - 1}):
            if 1 <= smaller < value:
                replaced = re.sub(rf"(?<![\w.]){value}(?![\w.])", str(smaller), text)
                yield {"tlspec": 1, "name": spec["name"], "doc": spec.get("doc", ""),
                       **yaml.safe_load(replaced)}


def cost(spec: dict) -> tuple:
    """What shrinking makes smaller, most important first: stages, buffers, dims, symbolic
    dims, options, then the sizes of the integers, then the text."""
    stages = [s for _, lst in _stage_lists(spec["stages"]) for s in lst]
    options = sum(len(next(iter(s.values())) or {}) for s in stages)
    dims = spec.get("dims") or {}
    text = to_yaml(spec)
    ints = sum(math.log2(int(v) + 1) for v in re.findall(r"(?<![\w.])\d+(?![\w.])", text))
    return (len(stages), len(spec["buffers"]), len(dims),
            sum(not isinstance(v, int) for v in dims.values()), options, round(ints, 3),
            len(text))


def valid(spec: dict) -> bool:
    return validate_text(to_yaml(spec)).ok


def candidates(spec: dict, dims: dict[str, int] | None = None) -> Iterator[dict]:
    """The valid one-step reductions of `spec` that cost less, each once."""
    seen, limit = set(), cost(spec)
    for candidate in reductions(spec, dims):
        text = to_yaml(candidate)
        if text in seen or cost(candidate) >= limit:
            continue
        seen.add(text)
        if valid(candidate):
            yield candidate


def shrink(spec: dict, fails: Callable[[dict], bool], *, log=lambda text: None) -> dict:
    """The smallest spec reached from `spec` by one-step reductions that keep `fails` true."""
    current = spec
    progress = True
    while progress:
        progress = False
        for candidate in candidates(current):
            if fails(candidate):
                current, progress = candidate, True
                log(f"{cost(current)}")
                break
    return current
