"""Tunable parameters in a spec: their declaration (`tune: {TILE: [64, 128]}`) and the integer
options that may name one (`threads: THREADS`). Expressions that name a parameter get its value
as a constant where the builder substitutes names (build.py), so it takes no path of its own."""
from __future__ import annotations

from typing import Callable

from ..model import Tunable
from ..source import pointer_join

# stage options that are integers in the schema and may name a tunable parameter instead
INTEGER_OPTIONS = ("coalesced_width", "num_stages")


def define_tunables(data: dict[str, list[int]], define: Callable[..., bool],
                    error: Callable[..., None]) -> dict[str, Tunable]:
    """The parameters of `tune:` (schema-valid: non-empty lists of distinct positive integers),
    each defined in the kernel's namespace."""
    tunables = {}
    for name, candidates in data.items():
        pointer = pointer_join("/tune", name)
        if define(name, "tunable parameter", pointer):
            tunables[name] = Tunable(name, pointer, list(candidates))
    return tunables


def check_candidate(pointer: str, value: int) -> str | None:
    """What is wrong with `value` as the integer option at `pointer` (its schema's bounds), or
    None when it is allowed there."""
    from ..schema import load_schema

    schema = load_schema()
    parts = pointer.split("/")
    if parts[1] == "launch":
        node = schema["properties"]["launch"]["properties"][parts[-1]]
    else:
        node = schema["definitions"]["stage"]["properties"][parts[-2]]["properties"][parts[-1]]
    bounds = node["anyOf"][0]
    if value < bounds.get("minimum", value) or value > bounds.get("maximum", value):
        return f"{parts[-1]} must be in {bounds['minimum']}..{bounds['maximum']}"
    if value % bounds.get("multipleOf", 1):
        return f"{parts[-1]} must be a multiple of {bounds['multipleOf']}"
    return None
