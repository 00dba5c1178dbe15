"""Mutations of a spec's text, below YAML: characters, lines, indentation, line endings, odd
unicode, tags, huge numbers, bytes that are not UTF-8.

Each mutator takes a random generator and the seed's text, and returns the mutant (str, or
bytes when it is no longer UTF-8 text), or None when it does not apply to this text.
"""
from __future__ import annotations

import random
import re
from typing import Callable

NOISE = list(":,[]{}'\"#&*!|>-?%@`\\") + ["\t", " ", "\n", "0", "x", "A"]
ODD_UNICODE = ["\u200b", "\u200e", "\u202e", "\ufeff", "\u0085", "\u2028", "\u2029", "\u00a0",
               "\u0301", "\U0001f600", "\u00e9", "\u03bc", "\uff21", "\u3000", "\u180e",
               "\x0c", "\x0b", "\x7f", "\x1b"]
TAGS = ["!!int", "!!bool", "!!float", "!!str", "!!null", "!!binary", "!!timestamp", "!!set",
        "!!omap", "!!python/int", "!!python/object:os.system", "!custom", "!", "!!map",
        "!!seq", "&anchor", "*anchor", "!<tag:yaml.org,2002:int>"]
HUGE = ["9223372036854775807", "9223372036854775808", "-9223372036854775809",
        "4611686018427387904", "18446744073709551616", "1" + "0" * 30, "9" * 120,
        "1" + "0" * 4301, "-1", "0", "1e400", "0x7fffffffffffffff", "0b_", "1_000", ".inf",
        "1:30:00", "2**63"]
NUMBER = re.compile(r"(?<![\w.])-?\d+(?![\w.])")


def _pick_line(rng: random.Random, lines: list[str]) -> int | None:
    """The index of a non-blank line, or None."""
    candidates = [i for i, line in enumerate(lines) if line.strip()]
    return rng.choice(candidates) if candidates else None


def _edit_line(text: str, rng: random.Random, edit: Callable[[str], str | None]) -> str | None:
    lines = text.split("\n")
    i = _pick_line(rng, lines)
    if i is None:
        return None
    changed = edit(lines[i])
    if changed is None:
        return None
    lines[i] = changed
    return "\n".join(lines)


def char_delete(rng, text):
    if not text:
        return None
    i = rng.randrange(len(text))
    return text[:i] + text[i + rng.randint(1, 3):]


def char_insert(rng, text):
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(NOISE) + text[i:]


def char_replace(rng, text):
    if not text:
        return None
    i = rng.randrange(len(text))
    return text[:i] + rng.choice(NOISE) + text[i + 1:]


def truncate(rng, text):
    return text[:rng.randrange(len(text))] if text else None


def duplicate_line(rng, text):
    return _edit_line(text, rng, lambda line: f"{line}\n{line}")


def delete_line(rng, text):
    return _edit_line(text, rng, lambda line: "")


def swap_lines(rng, text):
    lines = text.split("\n")
    if len(lines) < 2:
        return None
    i, j = rng.sample(range(len(lines)), 2)
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def indentation(rng, text):
    def shift(line):
        if rng.random() < 0.5:
            return " " * rng.randint(1, 4) + line
        stripped = line.lstrip(" ")
        return stripped if stripped != line else None
    return _edit_line(text, rng, shift)


def tab_indent(rng, text):
    return _edit_line(text, rng, lambda line: "\t" + line.lstrip(" ") if line.startswith(" ")
                      else None)


def odd_unicode(rng, text):
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(ODD_UNICODE) * rng.randint(1, 3) + text[i:]


def line_endings(rng, text):
    style = rng.choice(["\r", "\r\n", "mixed", "\x85", "\u2028"])
    if style != "mixed":
        return text.replace("\n", style)
    return "".join(line + rng.choice(["\n", "\r", "\r\n"]) for line in text.split("\n"))


def tag(rng, text):
    """An explicit tag (or an anchor or alias) before some value."""
    spots = [m.end() for m in re.finditer(r": |- ", text)]
    if not spots:
        return None
    i = rng.choice(spots)
    return text[:i] + rng.choice(TAGS) + " " + text[i:]


def huge_number(rng, text):
    numbers = list(NUMBER.finditer(text))
    if not numbers:
        return None
    m = rng.choice(numbers)
    return text[:m.start()] + rng.choice(HUGE) + text[m.end():]


def not_utf8(rng, text):
    data = text.encode("utf-8")
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xfe\xff"]) + data[i:]


def control_char(rng, text):
    i = rng.randrange(len(text) + 1)
    return text[:i] + chr(rng.choice([0, 1, 7, 8, 0x1f, 0x7f, 0x9f])) + text[i:]


def repeat_block(rng, text):
    """Many copies of a slice of lines: long files, many errors."""
    lines = text.split("\n")
    if len(lines) < 3:
        return None
    i = rng.randrange(1, len(lines))
    j = min(len(lines), i + rng.randint(1, 4))
    return "\n".join(lines[:j] + lines[i:j] * rng.choice([10, 200, 3000]) + lines[j:])


def duplicate_key(rng, text):
    """A `key: value` line repeated right after itself at the same indentation."""
    keyed = [i for i, line in enumerate(text.split("\n")) if re.match(r"\s*[\w-]+:", line)]
    if not keyed:
        return None
    lines = text.split("\n")
    i = rng.choice(keyed)
    lines.insert(i + 1, lines[i])
    return "\n".join(lines)


MUTATORS = {fn.__name__: fn for fn in (
    char_delete, char_insert, char_replace, truncate, duplicate_line, delete_line, swap_lines,
    indentation, tab_indent, odd_unicode, line_endings, tag, huge_number, not_utf8,
    control_char, repeat_block, duplicate_key)}
