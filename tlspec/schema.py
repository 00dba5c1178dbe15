"""The JSON Schema of the spec language: where it lives, and structural validation against it.

schemas/tlspec.schema.json is the single source of truth for the structure of a spec. This module
loads it (from the installed wheel, or from the source tree in a checkout), validates documents
with it and turns jsonschema's errors into located diagnostics written for people.
"""
from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import jsonschema

from .diagnostics import Diagnostics, abbreviated
from .im2col import WINDOW_OPTIONS
from .limits import MAX_SIZE, int_text
from .names import visible
from .schema_hints import about, branches
from .source import SourceDocument, pointer_join
from .suggest import closest, did_you_mean
from .tune.params import CHOICE_OPTIONS, ENUM_OPTIONS

SCHEMA_FILE = "tlspec.schema.json"


def schema_path() -> Path:
    """The wheel ships the schema inside the package; a source checkout keeps it in schemas/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schemas" / SCHEMA_FILE, here.parent / "schemas" / SCHEMA_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{SCHEMA_FILE} is missing from the tlspec installation")


def schema_text() -> str:
    return schema_path().read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_schema() -> dict:
    return json.loads(schema_text())


# Draft-07 counts 2.0 as an integer; a spec's sizes and counts are written as integers.
_TYPES = jsonschema.Draft7Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool))
_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=_TYPES)


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft7Validator:
    return _Validator(load_schema())


def stage_kinds() -> list[str]:
    """Stage kinds as the schema declares them, in declaration order."""
    return list(load_schema()["definitions"]["stage"]["properties"])


# `{bx: ceildiv(N, 128)}` is two entries to YAML: flow collections split at commas.
FLOW_COMMA_HINT = ("inside { } and [ ], YAML splits values at commas: quote expressions that "
                   "contain commas, e.g. \"ceildiv(N, 128)\"")
NAME_HINT = "names are C identifiers: letters, digits and underscores, not starting with a digit"


def _split_by_flow_comma(key: str) -> bool:
    """Whether a key looks like the tail of an expression cut at a comma ('128)')."""
    return key.count(")") > key.count("(")


def _pointer(path: Iterable[Any]) -> str:
    pointer = ""
    for part in path:
        pointer = pointer_join(pointer, part)
    return pointer


MAX_LISTED = 8          # keys a message names before it says how many more
MAX_SHOWN = 60          # characters of a value a message shows


def _json(value: Any) -> str:
    """A value as JSON, cut short: a message quotes what was written, not all of it."""
    return abbreviated(json.dumps(value), MAX_SHOWN)


def _listed(keys: list) -> str:
    """'a', 'b', ... and N more."""
    shown = ", ".join(f"'{abbreviated(str(k), MAX_SHOWN)}'" for k in keys[:MAX_LISTED])
    return shown + (f" and {len(keys) - MAX_LISTED} more" if len(keys) > MAX_LISTED else "")


def _unquote_hint(value: Any, types: Any) -> str | None:
    """For a quoted true, false or integer where one is expected: write it without quotes."""
    types = types if isinstance(types, list) else [types]
    text = value.strip() if isinstance(value, str) else None
    if text in ("true", "false") and "boolean" in types or \
            text is not None and re.fullmatch(r"[-+]?[0-9]+", text) and "integer" in types:
        return f"write {text} without quotes: quoted, YAML reads it as text"
    return None


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {_number(value)}"
    if isinstance(value, str):
        return f"the string '{abbreviated(value, MAX_SHOWN)}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({value})"  # e.g. a YAML date


def _number(value: int | float) -> str:
    """A number as a message shows it (a float such as .inf fails a maximum too)."""
    return int_text(value) if isinstance(value, int) else str(value)


_TYPE_WORDS = {"integer": "an integer", "string": "a string", "object": "a mapping",
               "array": "a list", "boolean": "true or false", "null": "nothing", "number": "a number"}


def _expected_types(types: str | list[str]) -> str:
    if isinstance(types, str):
        types = [types]
    if sorted(types) == ["integer", "string"]:
        return "an integer or an expression"
    return " or ".join(_TYPE_WORDS.get(t, t) for t in types)


def _context(path: list[Any]) -> str:
    """How a person would name the mapping at `path`."""
    if not path:
        return "the kernel"
    last = path[-1]
    if len(path) >= 2 and path[-2] == "stages":
        return "the stage"
    if len(path) >= 3 and path[-3] == "stages":
        return f"the {last} stage"
    if len(path) == 2 and path[0] in ("buffers", "dims"):
        return f"{path[0][:-1]} '{last}'"
    return f"'{last}'"


def _field(path: list[Any]) -> str:
    """How a person would name the value at `path`."""
    if not path:
        return "the document"
    if len(path) == 2 and path[0] in ("buffers", "dims"):
        return f"{path[0][:-1]} '{path[1]}'"
    if isinstance(path[-1], int):
        return f"item {path[-1]} of '{path[-2]}'"
    return f"'{path[-1]}'"


class _Translator:
    def __init__(self, doc: SourceDocument, diags: Diagnostics):
        self.doc = doc
        self.diags = diags

    def report(self, path: list[Any], message: str, hint: str | None = None, *,
               key: str | None = None, at_key: bool = False):
        """Report at the value at `path`, at its child `key`'s key, or (`at_key`) at its own key."""
        pointer = _pointer(path)
        if key is not None:
            pointer = pointer_join(pointer, key)
        location = self.doc.location(pointer, key=key is not None or at_key)
        self.diags.error(location, message, pointer=pointer, hint=hint)

    def translate(self, error: jsonschema.ValidationError) -> None:
        path = list(error.absolute_path)
        handler = getattr(self, f"on_{error.validator}", None)
        if handler is not None:
            handler(error, path)
        else:  # a keyword the schema may gain later: still located, with jsonschema's words
            self.report(path, error.message, about(load_schema(), path))

    # -- one method per JSON Schema keyword the spec schema uses --------------------------------

    def on_additionalProperties(self, error, path):
        allowed = list(error.schema.get("properties", {}))
        patterns = error.schema.get("patternProperties", {})
        unknown = [key for key in error.instance
                   if key not in allowed and not any(re.search(p, key) for p in patterns)]
        stage = len(path) >= 2 and path[-2] == "stages"
        hint = ("stage kinds: " + ", ".join(allowed) if stage else
                "allowed keys: " + ", ".join(allowed)
                + ("; extensions start with 'x-'" if patterns else ""))
        if len(unknown) > MAX_LISTED:       # each reported, then one line for the rest
            self.report(path, f"{len(unknown) - MAX_LISTED} more unknown keys in "
                              f"{_context(path) if path else 'the document'}: "
                              + _listed(unknown[MAX_LISTED:]), hint, key=unknown[MAX_LISTED])
        for key in unknown[:MAX_LISTED]:
            if stage:
                self.report(path, f"unknown stage kind '{key}'{did_you_mean(key, allowed)}",
                            hint, key=key)
            else:
                where = f"top-level key '{key}'" if not path else f"key '{key}' in {_context(path)}"
                self.report(path, f"unknown {where}{did_you_mean(key, allowed)}", hint, key=key)

    def on_required(self, error, path):
        for name in error.validator_value:
            if name not in error.instance:
                description = error.schema.get("properties", {}).get(name, {}).get("description")
                self.report(path, f"{_context(path)} is missing required key '{name}'",
                            f"'{name}': {description}" if description else None, at_key=True)

    def on_enum(self, error, path):
        options = [str(v) for v in error.validator_value]
        value = error.instance
        what = path[-1] if path and isinstance(path[-1], str) else "value"
        hint = "expected one of: " + ", ".join(options)
        tune = self.doc.data.get("tune") if isinstance(self.doc.data, dict) else None
        if path[:1] == ["tune"] and isinstance(value, str):
            message = f"unknown choice '{value}' in '{path[1]}'{did_you_mean(value, options)}"
            hint = (f"string candidates are values of {' or '.join(CHOICE_OPTIONS)}: "
                    + ", ".join(options))
        elif what in ENUM_OPTIONS and isinstance(value, str) and _choices(tune, value):
            message = f"{what} names tunable parameter '{value}', whose name is not UPPER_CASE"
            hint = (f"rename it '{value.upper()}' (in `tune:` and here): {what} takes a "
                    "parameter's name in UPPER_CASE, which none of its values is")
        elif isinstance(value, str):
            message = f"unknown {what} '{value}'{did_you_mean(value, options)}"
        else:
            message = f"{_field(path)} must be one of the names listed below, got {_describe(value)}"
        self.report(path, message, hint)

    def on_const(self, error, path):
        if path == ["tlspec"]:
            self.report(path, f"unsupported language version {_json(error.instance)}; this tlspec "
                              "reads version 1", "write 'tlspec: 1'")
        else:
            self.report(path, f"{_field(path)} must be {_json(error.validator_value)}, "
                              f"got {_describe(error.instance)}", about(load_schema(), path))

    def on_type(self, error, path):
        expected = _expected_types(error.validator_value)
        if len(path) >= 3 and path[-3] == "stages":
            hint = f"give the options of '{path[-1]}' as a mapping, e.g. {{src: A, dst: B}}"
        elif len(path) == 3 and path[0] == "tune":
            hint = ("a parameter's candidates are all integers ('TILE: [64, 128]') or all "
                    "instruction choices ('LOAD: [tma, sync]')")
        else:
            hint = _unquote_hint(error.instance, error.validator_value) or about(load_schema(), path)
        self.report(path, f"{_field(path)} must be {expected}, got {_describe(error.instance)}", hint)

    def on_minimum(self, error, path):
        self.report(path, f"{_field(path)} must be at least {int_text(error.validator_value)}, "
                          f"got {_number(error.instance)}", about(load_schema(), path))

    def on_maximum(self, error, path):
        hint = ("sizes are at most 2**62, so that every offset and sum of sizes fits in 64 bits"
                if error.validator_value == MAX_SIZE else about(load_schema(), path))
        self.report(path, f"{_field(path)} must be at most {int_text(error.validator_value)}, "
                          f"got {_number(error.instance)}", hint)

    def on_multipleOf(self, error, path):
        hint = "threads run in warps of 32" if path[-1:] == ["threads"] else about(load_schema(), path)
        self.report(path, f"{_field(path)} must be a multiple of {error.validator_value}, "
                          f"got {error.instance}", hint)

    def on_minLength(self, error, path):
        self.report(path, f"{_field(path)} must not be empty", about(load_schema(), path))

    def on_pattern(self, error, path):
        if "propertyNames" in error.schema_path:
            # A mapping key failed: the error's instance is the key itself; point at it.
            name = visible(str(error.instance))
            if _split_by_flow_comma(name):
                self.report(path, f"'{name}' is not a valid name in {_field(path)}: a comma "
                                  "split the value before it", FLOW_COMMA_HINT, key=name)
            else:
                self.report(path, f"'{name}' is not a valid name in {_field(path)}", NAME_HINT,
                            key=name)
        else:
            self.report(path, f"'{visible(str(error.instance))}' is not a valid name", NAME_HINT)

    def on_minProperties(self, error, path):
        if len(path) >= 2 and path[-2] == "stages":
            self.report(path, "empty stage: a stage is a mapping with one key, the stage kind",
                        "e.g. '- copy: {src: A, dst: B}'")
        else:
            self.report(path, f"{_field(path)} must have at least {error.validator_value} "
                              f"entr{'y' if error.validator_value == 1 else 'ies'}", about(load_schema(), path))

    def on_maxProperties(self, error, path):
        keys = _listed(list(error.instance))
        if len(path) >= 2 and path[-2] == "stages":
            self.report(path, f"a stage has exactly one key, the stage kind; this one has "
                              f"{len(error.instance)}: {keys}",
                        "start each stage with its own '- ', and put options inside the kind's mapping")
        else:
            self.report(path, f"{_field(path)} has {len(error.instance)} entries ({keys}); at most "
                              f"{error.validator_value} are allowed", about(load_schema(), path))

    def on_minItems(self, error, path):
        self.report(path, f"{_field(path)} must have at least {error.validator_value} "
                          f"item{'s' if error.validator_value != 1 else ''}",
                    _TUNE_HINT if path[:1] == ["tune"] else _pair_hint(path) or about(load_schema(), path))

    def on_uniqueItems(self, error, path):
        seen: set = set()
        twice = next(v for v in error.instance if v in seen or seen.add(v))
        self.report(path, f"{_field(path)} lists {twice} twice",
                    _TUNE_HINT if path[:1] == ["tune"] else "list each value once")

    def on_maxItems(self, error, path):
        self.report(path, f"{_field(path)} has {len(error.instance)} items; at most "
                          f"{error.validator_value} are allowed", _pair_hint(path) or about(load_schema(), path))

    def on_tunable_integer(self, error, path, integer_errors):
        """An integer option that may name a tunable parameter: a number is judged by the
        integer's bounds, anything else is neither."""
        value = error.instance
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            for sub in integer_errors:
                self.translate(sub)
            return
        if isinstance(value, str) and value.strip().isdigit():
            hint = "write the integer without quotes" + (
                "" if isinstance(path[-1], int) else f": '{path[-1]}: {value.strip()}'")
        elif isinstance(path[-1], int):          # an extent of launch.cluster
            hint = (f"e.g. '{path[-2]}: [2, 1, 1]', or '{path[-2]}: [C, 1, 1]' with "
                    "'tune: {C: [1, 2]}'")
        else:
            hint = f"e.g. '{path[-1]}: 256', or '{path[-1]}: T' with 'tune: {{T: [128, 256]}}'"
        self.report(path, f"{_field(path)} must be an integer or the name of a tunable "
                          f"parameter, got {_describe(value)}", hint)

    def on_tune_candidates(self, value, branches):
        """A parameter's candidates, integers or strings: judged as a list of the kind of the
        first (a mixed list by its first candidate), each item's type before its value."""
        strings = isinstance(value, list) and bool(value) and isinstance(value[0], str)
        errors = branches.get(1 if strings else 0, [])
        typed = {tuple(e.relative_path) for e in errors if e.validator == "type"}
        for sub in errors:
            if sub.validator == "type" or tuple(sub.relative_path) not in typed:
                self.translate(sub)

    def on_anyOf(self, error, path):
        # Pick the alternative whose type fits the value and report why it failed; where none
        # fits, list what would.
        by_branch: dict[int, list] = {}
        for sub in error.context:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
        if {"$ref": "#/definitions/tunable_name"} in error.validator_value:
            self.on_tunable_integer(error, path, by_branch.get(0, []))
            return
        if len(path) == 2 and path[0] == "tune":
            self.on_tune_candidates(error.instance, by_branch)
            return
        fitting = [errs for errs in by_branch.values()
                   if not any(e.validator in ("type", "const") and not e.relative_path for e in errs)]
        # Of two mappings ({symbolic: true, ...} and {expr: ...}), the one whose key is written.
        keyed = [errs for errs in fitting
                 if not any(e.validator == "required" and not e.relative_path for e in errs)]
        fitting = keyed if len(keyed) == 1 else fitting
        if len(fitting) == 1:
            for sub in fitting[0]:
                self.translate(sub)
            return
        if path[:1] == ["dims"]:
            self.report(path, f"{_field(path)} must be a positive integer, 'symbolic', a mapping "
                              f"with 'symbolic: true', or a mapping with 'expr'; got "
                              f"{_describe(error.instance)}",
                        f"e.g. '{path[-1]}: 4096', '{path[-1]}: symbolic', "
                        f"'{path[-1]}: {{symbolic: true, multiple_of: 64}}' or "
                        f"'{path[-1]}: {{expr: \"H // 2\"}}'")
        else:   # no alternative fits the value's type: name those that would
            types = [t for branch in error.validator_value for b in branches(load_schema(), branch)
                     for t in ([b["type"]] if isinstance(b.get("type"), str) else b.get("type", []))]
            expected = _expected_types(list(dict.fromkeys(types))) if types else "valid"
            self.report(path, f"{_field(path)} must be {expected}, got "
                              f"{_describe(error.instance)}", _pair_hint(path) or about(load_schema(), path))


_TUNE_HINT = "list each candidate value once, the default first, e.g. 'TILE: [64, 128]'"
_CHOICE_NAME = {"$ref": "#/definitions/tunable_choice_name"}


def _choices(tune: Any, name: str) -> bool:
    """Whether `tune:` declares `name` with string candidates (an instruction choice)."""
    candidates = tune.get(name) if isinstance(tune, dict) else None
    return isinstance(candidates, list) and bool(candidates) and isinstance(candidates[0], str)


def _enum_error(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """An enum option that may name an instruction choice, given neither a value nor such a
    name: its enum's error, so that it reads, and is repaired, as a misspelt value."""
    if error.validator == "anyOf" and _CHOICE_NAME in error.validator_value:
        return next(e for e in error.context if e.validator == "enum")
    return error


def _pair_hint(path: list[Any]) -> str | None:
    """How to write an im2col window option of the wrong length."""
    if len(path) >= 4 and path[-4] == "stages" and path[-1] in WINDOW_OPTIONS:
        return (f"give one integer for both axes ('{path[-1]}: 3') or an [h, w] pair "
                f"('{path[-1]}: [3, 5]')")
    return None


def _repair(data: Any, errors: list[jsonschema.ValidationError]) -> Any | None:
    """A copy of `data` with the reported problems taken out, when that is safe, so that the
    semantic rules can still report on the rest of the document: unknown keys are dropped and a
    misspelt enum value is read as the value it was close to. Anything else leaves the
    structure in doubt, and None is returned."""
    repaired = copy.deepcopy(data)
    for error in errors:
        *parents, last = list(error.absolute_path) or [None]
        container = repaired
        for part in parents:
            container = container[part]
        if error.validator == "additionalProperties":
            if len(error.absolute_path) >= 2 and list(error.absolute_path)[-2] == "stages":
                return None  # an unknown stage kind: the stage has no kind left to check
            target = container[last] if last is not None else repaired
            for key in [k for k in target if k not in error.schema.get("properties", {})
                        and not k.startswith("x-")]:
                del target[key]
        elif error.validator == "enum" and isinstance(error.instance, str):
            guess = closest(error.instance, [str(v) for v in error.validator_value])
            if guess is None:
                return None
            container[last] = guess
        else:
            return None
    return repaired


def validate_structure(doc: SourceDocument, diags: Diagnostics) -> Any | None:
    """Check one document against the schema, reporting every violation.

    Returns the data the semantic rules may work on: the document itself when it conforms, a
    repaired copy when its problems were only unknown keys or misspelt enum values, else None.
    """
    errors = [_enum_error(e) for e in _validator().iter_errors(doc.data)]
    translator = _Translator(doc, diags)
    # The tail of an expression cut at a comma ('128)': null) is reported once, as such; its
    # missing value is not a second problem.
    cut = {(*e.absolute_path, e.instance) for e in errors
           if "propertyNames" in e.schema_path and _split_by_flow_comma(str(e.instance))}
    for error in errors:
        if tuple(error.absolute_path) not in cut:
            translator.translate(error)
    return doc.data if not errors else _repair(doc.data, errors)
