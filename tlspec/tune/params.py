"""Tunable parameters in a spec: their declaration (`tune: {TILE: [64, 128]}`, `tune: {LOAD:
[tma, sync]}`), the integer options that may name a parameter of integers (`threads: THREADS`)
and the enum options that may name a parameter of strings, an instruction choice
(`prefer_instruction: LOAD`, a shared tile's `layout: SRC_LAYOUT`). Expressions that name a parameter get its value as a constant
where the builder substitutes names (build.py), so it takes no path of its own."""
from __future__ import annotations

import re
from typing import Callable

from ..diagnostics import Location
from ..model import Tunable
from ..source import pointer_join

# stage options that are integers in the schema and may name a tunable parameter instead
INTEGER_OPTIONS = ("coalesced_width", "num_stages")
# stage options that are enums of strings in the schema and may name an instruction choice
ENUM_OPTIONS = ("prefer_instruction", "eviction_policy", "form")
# what else may name one: a shared tile's layout (not im2col's `layout`, the image's: data)
CHOICE_OPTIONS = ENUM_OPTIONS + ("a shared tile's layout",)


def define_tunables(data: dict[str, list[int] | list[str]], define: Callable[..., bool],
                    error: Callable[..., None]) -> dict[str, Tunable]:
    """The parameters of `tune:` (schema-valid: non-empty lists of distinct positive integers or
    of distinct instruction choices), each defined in the kernel's namespace. An instruction
    choice is named in UPPER_CASE: enum options take such a name in place of a value."""
    tunables = {}
    for name, candidates in data.items():
        pointer = pointer_join("/tune", name)
        if define(name, "tunable parameter", pointer):
            tunables[name] = Tunable(name, pointer, list(candidates))
            if tunables[name].is_choice and not choice_name(name):
                error(pointer, f"tunable parameter '{name}' has string candidates, so its name "
                               "must be UPPER_CASE",
                      f"rename it '{name.upper()}' (here and where it is used): enum options "
                      "take a parameter's name in UPPER_CASE, which none of their values is",
                      key=True)
    return tunables


def choice_name(name: str) -> bool:
    """Whether `name` may name an instruction choice in an enum option (the schema's rule)."""
    from ..schema import load_schema

    return re.fullmatch(load_schema()["definitions"]["tunable_choice_name"]["pattern"],
                        name) is not None


def _option_schema(pointer: str) -> dict:
    """The schema of the launch or stage option at `pointer`."""
    from ..schema import load_schema

    schema = load_schema()
    parts = pointer.split("/")
    if parts[1] == "buffers":
        return schema["definitions"]["buffer"]["properties"][parts[-1]]
    if parts[1] == "launch":
        option = schema["properties"]["launch"]["properties"][parts[2]]
        return option["items"] if len(parts) > 3 else option       # a cluster extent
    return schema["definitions"]["stage"]["properties"][parts[-2]]["properties"][parts[-1]]


def check_candidate(pointer: str, value: int) -> str | None:
    """What is wrong with `value` as the integer option at `pointer` (its schema's bounds), or
    None when it is allowed there."""
    parts = pointer.split("/")
    option = f"{parts[-2]}[{parts[-1]}]" if parts[-1].isdigit() else parts[-1]
    bounds = _option_schema(pointer)["anyOf"][0]
    if value < bounds.get("minimum", value) or value > bounds.get("maximum", value):
        return f"{option} must be in {bounds['minimum']}..{bounds['maximum']}"
    if value % bounds.get("multipleOf", 1):
        return f"{option} must be a multiple of {bounds['multipleOf']}"
    return None


def option_values(pointer: str) -> list[str]:
    """The values of the enum option at `pointer` (its schema's enum)."""
    return _option_schema(pointer)["anyOf"][0]["enum"]


def check_choices(tunables: dict[str, Tunable], uses: dict[str, dict[str, str]],
                  error: Callable[..., None], at: Callable[[str], Location]) -> None:
    """Every candidate of an instruction choice is a value of each option that names it (`uses`:
    parameter -> option -> the pointer of its first use), so that every variant is one the
    schema would take written out."""
    for name, options in uses.items():
        tunable = tunables[name]
        for option, pointer in options.items():
            values = option_values(pointer)
            where = at(pointer)
            for i, candidate in enumerate(tunable.candidates):
                if candidate not in values:
                    error(pointer_join(tunable.pointer, i),
                          f"'{candidate}' is not a value of {option}, which names '{name}' at "
                          f"line {where.line}, column {where.column}",
                          f"{option} takes {', '.join(values)}: remove '{candidate}' from the "
                          f"candidates of '{name}', or name another parameter there")
