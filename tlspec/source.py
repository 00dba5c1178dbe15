"""Loading spec files: YAML to plain Python data that remembers where every value came from.

PyYAML's safe composer gives nodes with marks; we construct plain data from them ourselves so
that we can (1) record the line and column of every key and value under its JSON pointer,
(2) reject duplicate keys, which PyYAML would silently resolve to the last one, and
(3) bound the work done for aliases, so that an alias bomb costs milliseconds, not gigabytes.

File-level problems (too large, not UTF-8, tabs in indentation, syntax errors, empty files,
documents that are not mappings) are reported as diagnostics; nothing here raises.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .diagnostics import Diagnostics, Location, abbreviated
from .limits import MAX_INT_CHARS

# A spec is a few KB. The bound keeps validation of the densest file that passes it to about
# a second and a half (YAML is read in pure Python for its messages and marks).
MAX_NODES = 100_000          # values constructed per document, counting alias expansions
MAX_DEPTH = 64               # levels of nesting in one document


def pointer_join(pointer: str, key: str | int) -> str:
    """Append one reference token to a JSON pointer (RFC 6901 escaping)."""
    token = str(key).replace("~", "~0").replace("/", "~1")
    return f"{pointer}/{token}"


@dataclass
class SourceDocument:
    """One YAML document of a spec file: its data and the location of every value and key."""

    path: str
    index: int                     # 0-based position of the document in its file
    data: Any
    values: dict[str, Location] = field(default_factory=dict)  # pointer -> where the value starts
    keys: dict[str, Location] = field(default_factory=dict)    # pointer -> where its key starts
    # Scalars written on one line without escapes: an offset into their text is a column offset.
    verbatim: set[str] = field(default_factory=set)

    @property
    def start(self) -> Location:
        return self.values.get("", Location(self.path))

    def location(self, pointer: str, *, key: bool = False, offset: int = 0) -> Location:
        """Where `pointer` is (its key when `key`; the nearest located ancestor when it has no
        location of its own). `offset` moves into the text of a scalar written verbatim."""
        if key and pointer in self.keys:
            return self.keys[pointer]
        if offset and pointer in self.verbatim:
            at = self.values[pointer]
            return Location(at.path, at.line, at.column + offset)
        while pointer not in self.values and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        return self.values.get(pointer, self.start)


_YAML_TAG = "tag:yaml.org,2002:"
_COLLECTION_TAGS = {_YAML_TAG + "map", _YAML_TAG + "seq"}
_SCALAR_TAGS = {_YAML_TAG + t for t in ("str", "int", "float", "bool", "null")}
_TAG_HINT = ("spec files hold plain strings, integers, booleans, lists and mappings; remove the "
             "tag (quote the value for a string)")


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag


class _Unusable(Exception):
    """The document cannot be turned into data worth validating; already explained."""


class _Builder:
    """Constructs plain data from a composed node tree, recording locations."""

    def __init__(self, path: str, diags: Diagnostics):
        self.path = path
        self.diags = diags
        self.constructor = yaml.SafeLoader("")  # only its scalar resolution/construction is used
        self.count = 0
        self.open: set[int] = set()             # collections being built: a repeat is a cycle
        self.broken = False                     # a problem was reported that changes the data
        self.values: dict[str, Location] = {}
        self.keys: dict[str, Location] = {}
        self.verbatim: set[str] = set()
        self.entry: tuple[yaml.Node, str] | None = None  # the top-level entry being built

    def loc(self, mark: yaml.Mark) -> Location:
        return Location(self.path, mark.line + 1, mark.column + 1)

    def fail(self, node: yaml.Node, pointer: str, message: str, hint: str) -> None:
        self.diags.error(self.loc(node.start_mark), message, pointer=pointer, hint=hint)
        raise _Unusable

    def build(self, node: yaml.Node, pointer: str, depth: int = 0) -> Any:
        self.count += 1
        if depth == 1:
            self.entry = (node, pointer)
        if self.count > MAX_NODES:
            # Deep inside an expansion: report at the top-level entry that expands.
            self.fail(*self.entry, f"'{self.entry[1][1:]}' expands to more than {MAX_NODES} "
                                   "values (aliases referring to aliases?)",
                      "spec files do not need nested aliases; write the values out")
        if depth > MAX_DEPTH:
            self.fail(node, pointer, f"the document nests deeper than {MAX_DEPTH} levels",
                      "a kernel spec needs a handful of levels; flatten this value")
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, pointer)
        if node.tag not in _COLLECTION_TAGS:
            self.fail(node, pointer, f"unsupported YAML tag '{_short_tag(node.tag)}'", _TAG_HINT)
        if id(node) in self.open:
            self.fail(node, pointer, "recursive alias: this value contains itself",
                      "an alias ('*name') may only refer to a value that is complete")
        self.values.setdefault(pointer, self.loc(node.start_mark))
        self.open.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            value: Any = [self.build(item, pointer_join(pointer, i), depth + 1)
                          for i, item in enumerate(node.value)]
        else:
            value = self.build_mapping(node, pointer, depth)
        self.open.discard(id(node))
        return value

    def scalar(self, node: yaml.ScalarNode, pointer: str) -> Any:
        start, end = node.start_mark, node.end_mark
        quoted = node.style in ("'", '"')
        # Point inside the quotes, so that offsets into the text (expressions) line up.
        location = self.loc(start)
        if quoted:
            location = Location(location.path, location.line, location.column + 1)
        self.values.setdefault(pointer, location)
        raw_length = end.index - start.index - (2 if quoted else 0)
        if node.style in (None, "'", '"') and start.line == end.line and raw_length == len(node.value):
            self.verbatim.add(pointer)
        if node.tag not in _SCALAR_TAGS:
            self.fail(node, pointer, f"unsupported YAML tag '{_short_tag(node.tag)}'", _TAG_HINT)
        # An explicit tag must say what the text says anyway ('!!int 16' is 16): PyYAML's
        # constructors read the text as their tag asks and fail in their own ways otherwise.
        plain = self.constructor.resolve(yaml.ScalarNode, node.value, (True, False))
        if node.tag not in (plain, _YAML_TAG + "str"):
            self.fail(node, pointer, f"'{abbreviated(node.value)}' is not a valid "
                                     f"{_short_tag(node.tag)} value", _TAG_HINT)
        if node.tag == _YAML_TAG + "int" and (_OCTAL.match(node.value) or ":" in node.value):
            self.fail(node, pointer, *_surprising_int(node.value))
        if node.tag == _YAML_TAG + "int" and len(node.value) > MAX_INT_CHARS:
            self.fail(node, pointer, f"integer of {len(node.value)} characters: far outside the "
                                     "64-bit range of spec integers",
                      "sizes are at most 2**62; quote the value if it is meant as text")
        try:
            return self.constructor.construct_object(node)
        except yaml.YAMLError as err:  # e.g. a date that is not one (2024-13-45)
            problem = getattr(err, "problem", None) or str(err)
        except ValueError as err:      # text the resolver took for a number: '0b_', '._'
            problem = f"'{abbreviated(node.value)}' is not a number ({err})"
        self.fail(node, pointer, f"unsupported YAML value: {problem}",
                  "quote the value to make it a string")

    def build_mapping(self, node: yaml.MappingNode, pointer: str, depth: int) -> dict:
        out: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.diags.error(self.loc(key_node.start_mark),
                                 "a mapping key must be a plain name, not a list or mapping",
                                 pointer=pointer,
                                 hint="a '[' or '{' before the ':' makes the key a list or "
                                      "mapping: write the name alone, or quote the whole key")
                self.broken = True
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.diags.error(self.loc(key_node.start_mark),
                                 "YAML merge keys ('<<') are not supported in spec files",
                                 pointer=pointer,
                                 hint="write the keys out, or use an alias ('*name') for a whole value")
                self.broken = True
                continue
            # Keys are names: take their text as written, so that `on:` or `1:` stay strings.
            key = key_node.value
            if key in first_seen:
                first = first_seen[key].start_mark
                self.diags.error(self.loc(key_node.start_mark),
                                 f"duplicate key '{key}' (first defined at line {first.line + 1}, "
                                 f"column {first.column + 1})",
                                 pointer=pointer_join(pointer, key),
                                 hint="YAML keeps only one of them; remove or rename the other")
                continue
            first_seen[key] = key_node
            child = pointer_join(pointer, key)
            self.keys[child] = self.loc(key_node.start_mark)
            out[key] = self.build(value_node, child, depth + 1)
        return out


# YAML's line breaks, as PyYAML counts lines: a CR alone (old Mac files) ends a line too, and
# form feeds or vertical tabs do not (str.splitlines would split at those).
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def yaml_lines(text: str) -> list[str]:
    """The lines of `text` as YAML (and so every location of tlspec) counts them."""
    return _LINE_BREAK.split(text)


def _check_tabs(text: str, path: str, diags: Diagnostics) -> bool:
    """YAML forbids tabs in indentation; PyYAML's own message for them is cryptic."""
    ok = True
    for number, line in enumerate(yaml_lines(text), start=1):
        indent = len(line) - len(line.lstrip(" \t"))
        if "\t" in line[:indent]:
            diags.error(Location(path, number, line.index("\t") + 1),
                        "tab character in indentation",
                        hint="YAML indents with spaces only; replace the tab with spaces")
            ok = False
    return ok


def _yaml_error(err: yaml.YAMLError, text: str, path: str, diags: Diagnostics) -> None:
    if isinstance(err, yaml.reader.ReaderError):     # a character YAML does not allow
        return _character_error(err, text, path, diags)
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    location = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    opened = getattr(err, "context_mark", None)
    if context and opened and (opened.line, opened.column) != (mark.line, mark.column):
        context += f" that starts at line {opened.line + 1}, column {opened.column + 1}"
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    if "'\\t'" in problem:                       # PyYAML's words for a tab between tokens
        message = "tab character: YAML separates a key's colon from its value, and any two " \
                  "tokens, with spaces only"
        hint = "replace the tab with a space"
    elif "flow" in (context or ""):
        hint = ("inside { } and [ ], quote regions and expressions that contain brackets or "
                "commas, e.g. {src: \"A[0 : 64, 0 : 64]\", dst: A_s}; and close every { and [")
    else:
        hint = "check indentation, colons and quoting around this point"
    diags.error(location, message, hint=hint)


def _character_error(err: yaml.reader.ReaderError, text: str, path: str,
                     diags: Diagnostics) -> None:
    """PyYAML's reader names a character it refuses by its position in the text only."""
    lines = yaml_lines(text[:err.position])
    code = err.character if isinstance(err.character, int) else ord(str(err.character)[:1] or "?")
    diags.error(Location(path, len(lines), len(lines[-1]) + 1),
                f"the character U+{code:04X} is not allowed in YAML text (a control character)",
                hint="delete it, or write it as an escape inside double quotes ("
                     + (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") + ")")


# YAML 1.1's integers that do not read as they look: a leading zero makes octal (0256 is 174),
# colons base 60 (2:08 is 128); 0x, 0b and _ separators read as written
_OCTAL = re.compile(r"[-+]?0[0-7_]+$")


def _surprising_int(text: str) -> tuple[str, str]:
    """(message, hint) for an integer YAML 1.1 reads otherwise than it looks."""
    value = yaml.safe_load(text)
    if ":" in text:
        return (f"'{abbreviated(text)}' is read by YAML as the base-60 number {value}",
                f"write {value}, or quote it if it is meant as text")
    sign = text[:1] if text[:1] in "+-" else ""
    digits = text.lstrip("+-").lstrip("0_") or "0"
    return (f"'{abbreviated(text)}' is read by YAML as the octal number {value}",
            f"write it without the leading zero ({sign}{digits}), or write {value} if the "
            "octal number is meant")


def _no_kernel(path: str, diags: Diagnostics) -> list[SourceDocument]:
    diags.error(Location(path), "empty file: expected at least one kernel document",
                hint="start from an example in specs/ or docs/spec.md")
    return []


def _empty(node) -> bool:
    """Whether a composed document is empty (PyYAML composes one as a null scalar of no text)."""
    return node is None or (isinstance(node, yaml.ScalarNode) and node.value == ""
                            and node.tag == "tag:yaml.org,2002:null")


def load_text(text: str, path: str, diags: Diagnostics) -> list[SourceDocument]:
    """Parse every document of a spec file's text; problems go to `diags`."""
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in yaml_lines(text)
    ):
        return _no_kernel(path, diags)
    if not _check_tabs(text, path, diags):
        return []
    documents: list[SourceDocument] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        _yaml_error(err, text, path, diags)
        return []
    except RecursionError:  # PyYAML's composer recurses once per level of nesting
        diags.error(Location(path), f"the file nests too deeply (far more than {MAX_DEPTH} levels)",
                    hint="a kernel spec needs a handful of levels")
        return []
    if all(_empty(node) for node in nodes):        # only separators ('---', '...')
        return _no_kernel(path, diags)
    for index, node in enumerate(nodes):
        if _empty(node):  # an empty document: before, between or after '---' separators
            continue
        builder = _Builder(path, diags)
        if not isinstance(node, yaml.MappingNode):
            diags.error(builder.loc(node.start_mark),
                        f"document {index + 1} is not a mapping: a kernel document is a mapping "
                        "of keys such as 'tlspec', 'name', 'buffers' and 'stages'", pointer="",
                        hint="write each key at the start of a line as 'key: value', starting "
                             "with 'tlspec: 1' (see the examples in specs/)")
            continue
        try:
            data = builder.build(node, "")
        except _Unusable:
            continue
        if not builder.broken:  # otherwise its keys are not what the author meant: stop here
            documents.append(SourceDocument(path, index, data, builder.values, builder.keys,
                                            builder.verbatim))
    return documents


def load_bytes(raw: bytes, shown: str, diags: Diagnostics) -> list[SourceDocument]:
    """Parse a spec file's bytes (shown as `shown`); non-UTF-8 text is a diagnostic."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        lines = yaml_lines(raw[: err.start].decode("utf-8").removeprefix("\ufeff"))
        diags.error(Location(shown, len(lines), len(lines[-1]) + 1), "file is not valid UTF-8 text",
                    hint="save the spec as UTF-8")
        return []
    return load_text(text.removeprefix("\ufeff"), shown, diags)
