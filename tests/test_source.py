"""Loading spec text: whatever the YAML says, a located error and never an exception."""
import pytest

from tlspec.validate import validate_text

from conftest import ROOT

BASE = (ROOT / "specs" / "copy_tiles.tlspec.yaml").read_text(encoding="utf-8")
THREADS = "threads: 256"
THREADS_AT = next(i for i, line in enumerate(BASE.splitlines(), 1) if THREADS in line)


def only_error(text: str):
    result = validate_text(text, "t.tlspec.yaml")
    (error,) = result.diagnostics.errors
    return error


@pytest.mark.parametrize("value, message", [
    ("!!int abc", "'abc' is not a valid !!int value"),
    ("!!bool 16384", "'16384' is not a valid !!bool value"),
    ("!!float x", "'x' is not a valid !!float value"),
    ("!!float 256", "'256' is not a valid !!float value"),
    ("!!int ''", "'' is not a valid !!int value"),
    ("!!null 256", "'256' is not a valid !!null value"),
    ("0b_", "unsupported YAML value: '0b_' is not a number"),
    ("0x_", "unsupported YAML value: '0x_' is not a number"),
    ("9" * 5000, "integer of 5000 characters: far outside the 64-bit range of spec integers"),
    ("-0b" + "1_" * 60, "integer of 123 characters: far outside the 64-bit range"),
])
def test_a_scalar_that_cannot_be_read_as_tagged_is_a_located_error(value, message):
    """PyYAML's constructors raise ValueError, KeyError or IndexError on such text; only
    YAMLError was caught, so these escaped as tracebacks."""
    error = only_error(BASE.replace(THREADS, f"threads: {value}"))
    assert error.message.startswith(message), error.message
    assert (error.location.line, error.location.column) == (THREADS_AT, 12)
    assert error.pointer == "/launch/threads"


@pytest.mark.parametrize("value", ["!!int 256", "!!int '256'", "!!str 256", "!!int 0x100"])
def test_a_tag_that_agrees_with_its_text_is_read(value):
    result = validate_text(BASE.replace(THREADS, f"threads: {value}"), "t.tlspec.yaml")
    if value == "!!str 256":
        (error,) = result.diagnostics.errors
        assert error.message == ("'threads' must be an integer or the name of a tunable "
                                 "parameter, got the string '256'")
    else:
        assert result.ok, result.diagnostics.render_text()


@pytest.mark.parametrize("value, message, hint", [
    ("0256", "'0256' is read by YAML as the octal number 174",
     "write it without the leading zero (256), or write 174 if the octal number is meant"),
    ("0_256", "'0_256' is read by YAML as the octal number 174",
     "write it without the leading zero (256), or write 174 if the octal number is meant"),
    ("2:08", "'2:08' is read by YAML as the base-60 number 128",
     "write 128, or quote it if it is meant as text"),
])
def test_an_integer_yaml_reads_otherwise_than_it_looks_is_a_located_error(value, message, hint):
    """YAML 1.1's octal and base-60 integers: 'threads: 0256' was 174 threads (a fuzzer's find);
    hex, binary and _ separators read as written."""
    error = only_error(BASE.replace(THREADS, f"threads: {value}"))
    assert (error.message, error.hint) == (message, hint)
    assert (error.location.line, error.location.column) == (THREADS_AT, 12)


@pytest.mark.parametrize("value", ["256", "0x100", "0b100000000", "2_56", "+256"])
def test_integers_that_read_as_written_are_taken(value):
    result = validate_text(BASE.replace(THREADS, f"threads: {value}"), "t.tlspec.yaml")
    assert result.ok, result.diagnostics.render_text()


@pytest.mark.parametrize("around", [("", "---\n"), ("---\n---\n", ""), ("", "...\n"),
                                    ("---\n", "---\n---\n")])
def test_empty_documents_around_a_kernel_are_skipped(around):
    before, after = around
    result = validate_text(before + BASE + after, "t.tlspec.yaml")
    assert result.ok and len(result.kernels) == 1, result.diagnostics.render_text()


@pytest.mark.parametrize("text", ["---\n", "---\n---\n", "---\n...\n"])
def test_a_file_of_separators_only_is_an_empty_file(text):
    error = only_error(text)
    assert error.message == "empty file: expected at least one kernel document"


@pytest.mark.parametrize("char", ["\x07", "\x0c", "\x1b"])
def test_a_control_character_is_located_where_it_is(char):
    """PyYAML's reader reports it by position only (it was shown at 1:1 with PyYAML's own
    text, a fuzzer's find)."""
    error = only_error(BASE.replace(THREADS, f"threads: 25{char}6"))
    assert error.message == (f"the character U+{ord(char):04X} is not allowed in YAML text (a "
                             "control character)")
    assert error.hint == ("delete it, or write it as an escape inside double quotes "
                          f"(\\x{ord(char):02x})")
    assert (error.location.line, error.location.column) == (THREADS_AT, 14)


def test_messages_quote_long_values_and_many_keys_cut_short():
    """A 2000-key mapping as the version, a stage of 2000 keys: one error of 27 KB and 2001
    errors of 650 KB before (a fuzzer's find); now values are cut at 60 characters, a list of
    keys at 8, and unknown keys past the 8th are one error."""
    version = "tlspec: {" + ", ".join(f"k{i}: {i}" for i in range(2000)) + "}\n"
    errors = validate_text(BASE.replace("tlspec: 1\n", version), "t").diagnostics.errors
    (error,) = [e for e in errors if "version" in e.message]
    assert error.message == ('unsupported language version {"k0": 0, "k1": 1, "k2": 2, "k3": 3, '
                             '"k4": 4, "k5": 5, "k6":...; this tlspec reads version 1')
    stage = "  - {" + ", ".join(f"k{i}: {i}" for i in range(2000)) + "}\n"
    text = BASE.split("stages:\n", 1)[0] + "stages:\n" + stage
    errors = validate_text(text, "t.tlspec.yaml").diagnostics.errors
    messages = [e.message for e in errors]
    assert messages[0] == ("a stage has exactly one key, the stage kind; this one has 2000: 'k0', "
                           "'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7' and 1992 more")
    assert len(errors) == 10 and len(validate_text(text, "t").diagnostics.render_text()) < 4000
    assert "1992 more unknown keys in " in "\n".join(messages)


@pytest.mark.parametrize("text, shown", [
    ("name: copy_tiles\n", None),
    ("name: k\u200b\n", "'k<U+200B>' is not a valid name"),
    ("name: k\u00a0x\n", "'k<U+00A0>x' is not a valid name"),
])
def test_a_name_with_a_character_one_cannot_see_names_its_code_point(text, shown):
    """A zero-width space printed as itself made 'k' look valid in the message (a fuzzer's
    find); such characters are shown as <U+XXXX>."""
    result = validate_text(BASE.replace("name: copy_tiles\n", text), "t.tlspec.yaml")
    if shown is None:
        assert result.ok
    else:
        (error,) = result.diagnostics.errors
        assert error.message == shown


def test_the_version_is_the_integer_1_not_the_number_1_0():
    """JSON Schema's const 1 also matches 1.0 (a fuzzer's find), where every other integer of a
    spec refuses a float: the version is typed an integer too."""
    error = only_error(BASE.replace("tlspec: 1\n", "tlspec: 1.0\n"))
    assert error.message == "'tlspec' must be an integer, got the number 1.0"
    assert error.pointer == "/tlspec"


def test_a_tab_between_a_colon_and_its_value_is_named():
    """Tabs in indentation had their message; one after a key's colon got PyYAML's 'found
    character '\\t' that cannot start any token' (a fuzzer's find)."""
    error = only_error(BASE.replace(THREADS, "threads:\t256"))
    assert error.message == ("tab character: YAML separates a key's colon from its value, and "
                             "any two tokens, with spaces only")
    assert error.hint == "replace the tab with a space"
    assert (error.location.line, error.location.column) == (THREADS_AT, 11)


def test_a_quoted_boolean_is_told_to_lose_its_quotes():
    text = BASE.replace("dst: A_s}", 'dst: A_s, disable_tma: "true"}', 1)
    error = only_error(text)
    assert error.message == "'disable_tma' must be true or false, got the string 'true'"
    assert error.hint == "write true without quotes: quoted, YAML reads it as text"


@pytest.mark.parametrize("text, message, hint", [
    ("- tlspec: 1\n", "document 1 is not a mapping",
     "write each key at the start of a line as 'key: value', starting with 'tlspec: 1'"),
    ("just some words\n", "document 1 is not a mapping", "write each key at the start"),
    (BASE.replace("stages:\n", "[stages]: 1\nstages:\n"),
     "a mapping key must be a plain name, not a list or mapping",
     "a '[' or '{' before the ':' makes the key a list or mapping"),
])
def test_a_document_or_key_of_the_wrong_shape_has_a_hint(text, message, hint):
    """They had none (the spec fuzzer's list of errors without one)."""
    errors = validate_text(text, "t.tlspec.yaml").diagnostics.errors
    (error,) = [e for e in errors if e.message.startswith(message)]
    assert error.hint.startswith(hint)
