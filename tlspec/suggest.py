"""'Did you mean ...?' suggestions for misspelt names, keys and enum values."""
from __future__ import annotations

import difflib
from typing import Iterable

POOL = 256     # the most names a suggestion is chosen among

# Spellings people bring from other tools, mapped to tlspec's.
ALIASES = {
    "fp16": "float16", "half": "float16", "f16": "float16",
    "bf16": "bfloat16",
    "fp32": "float32", "float": "float32", "f32": "float32",
    "fp64": "float64", "double": "float64", "f64": "float64",
    "fp8_e4m3": "float8_e4m3", "e4m3": "float8_e4m3", "float8_e4m3fn": "float8_e4m3",
    "fp8_e5m2": "float8_e5m2", "e5m2": "float8_e5m2",
    "int": "int32", "i32": "int32", "i64": "int64", "long": "int64", "i8": "int8",
    "smem": "shared", "gmem": "global", "register": "local", "registers": "local",
    "sm90": "sm_90a", "sm_90": "sm_90a", "sm90a": "sm_90a", "hopper": "sm_90a",
    "sm80": "sm_80", "ampere": "sm_80", "sm_100": "sm_100a", "sm100": "sm_100a",
    "sm100a": "sm_100a", "blackwell": "sm_100a",
    "input": "in", "output": "out", "rw": "inout",
    "cp.async": "cp_async", "cpasync": "cp_async", "simt": "sync",
}


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate the user most likely meant, or None when nothing is close."""
    options = list(candidates)
    alias = ALIASES.get(word.lower())
    if alias in options:
        return alias
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    if len(options) > POOL:
        # thousands of names (a generated spec): difflib's ratio against each, for every
        # misspelt name, would be quadratic; keep the names that could be a close match
        options = [c for c in options if abs(len(c) - len(word)) <= 2][:POOL]
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if match:
        return match[0]
    # A truncated name ('prefer' for 'prefer_instruction') is too short for difflib's ratio.
    prefixed = [c for c in options if len(word) >= 3 and c.startswith(word)]
    return prefixed[0] if len(prefixed) == 1 else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """'; did you mean 'x'?' or '' — to append to a message."""
    best = closest(word, candidates)
    return f"; did you mean '{best}'?" if best else ""
