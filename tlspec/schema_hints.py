"""Hints from the spec schema's own words: what schemas/tlspec.schema.json says of the value at
a path (its description, and an example where the description gives none), for the errors of
structural validation (tlspec/schema.py) that have no hint of their own."""
from __future__ import annotations

import json
import re
from typing import Any


def _resolved(schema: dict, node: dict) -> dict:
    """A subschema with its `$ref` followed (the spec schema refers only into its definitions)."""
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def branches(schema: dict, node: dict) -> list[dict]:
    """The subschemas a value at `node` is checked against: itself and its allOf and anyOf
    alternatives, references followed."""
    node = _resolved(schema, node)
    return [node] + [b for key in ("allOf", "anyOf") for sub in node.get(key, [])
                     for b in branches(schema, sub)]


def _schema_at(schema: dict, path: list[Any]) -> dict | None:
    """The subschema of the value at `path` (of the first alternative that has the value's
    key), or None where the schema says nothing of it."""
    node: dict = schema
    for part in path:
        found = None
        for branch in branches(schema, node):
            if isinstance(part, int):
                found = branch.get("items") if isinstance(branch.get("items"), dict) else None
            else:
                found = branch.get("properties", {}).get(part) or next(
                    (sub for pattern, sub in branch.get("patternProperties", {}).items()
                     if re.search(pattern, part)), None)
                if found is None and isinstance(branch.get("additionalProperties"), dict):
                    found = branch["additionalProperties"]
            if found is not None:
                break
        if found is None:
            return None
        node = found
    return node


def about(schema: dict, path: list[Any]) -> str | None:
    """What `schema` says of the value at `path`, as a hint: its description, and an example
    where the description gives none. An item the schema does not describe (an extent of
    'shape') gets what it says of its list."""
    node = _schema_at(schema, path)
    if node is None:
        return None
    node = _resolved(schema, node)
    own = [node] + [b for b in branches(schema, node) if "anyOf" not in b] \
        if "anyOf" not in node else [node]
    described = next((b for b in own if "description" in b), None)
    if described is None:
        return about(schema, path[:-1]) if path and isinstance(path[-1], int) else None
    text = described["description"]
    examples = next((b["examples"] for b in own if b.get("examples")), None)
    if not path or not isinstance(path[-1], str) or _is_entry(path):
        return text
    key = path[-1]
    if examples and "e.g." not in text:
        text = text.rstrip(".") + f"; e.g. '{key}: {_flow(examples[0])}'"
    return f"'{key}': {text}"


def _is_entry(path: list[Any]) -> bool:
    """Whether `path` is a buffer or dim by name, named by its mapping rather than its key."""
    return len(path) == 2 and path[0] in ("buffers", "dims")


def _flow(value: Any) -> str:
    """A value as YAML's flow style writes it (strings quoted where YAML would misread them)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        return value
    return json.dumps(value)
