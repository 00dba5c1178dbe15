"""The schema is valid draft-07, documents everything, and is what `tlspec schema` prints."""
import json
import re
import subprocess
import sys

import jsonschema
import pytest
import yaml

from tlspec.limits import INT_MAX, INT_MIN, MAX_SIZE
from tlspec.schema import load_schema, schema_path, stage_kinds
from tlspec.stages import STAGE_KINDS
from tlspec.validate import validate_text

from conftest import ROOT, example_specs, modeline_for


def walk(node, pointer=""):
    """Yield (pointer, schema) for every subschema."""
    if isinstance(node, dict):
        yield pointer, node
        for key, value in node.items():
            if key in ("properties", "patternProperties", "definitions"):
                for name, sub in value.items():
                    yield from walk(sub, f"{pointer}/{key}/{name}")
            elif key in ("items", "additionalProperties", "propertyNames") and isinstance(value, dict):
                yield from walk(value, f"{pointer}/{key}")
            elif key in ("anyOf", "allOf", "oneOf"):
                for i, sub in enumerate(value):
                    yield from walk(sub, f"{pointer}/{key}/{i}")


def test_schema_passes_its_metaschema():
    schema = load_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)


def test_schema_in_the_checkout_is_the_one_loaded():
    assert schema_path() == ROOT / "schemas" / "tlspec.schema.json"


def test_every_property_has_a_description():
    missing = [f"{pointer}/{key}" for pointer, node in walk(load_schema())
               for key, prop in node.get("properties", {}).items()
               if "description" not in prop]
    assert missing == []


def test_every_enum_value_is_documented():
    for pointer, node in walk(load_schema()):
        if "enum" in node:
            assert len(node.get("enumDescriptions", [])) == len(node["enum"]), pointer


def test_unknown_keys_are_rejected_except_extensions():
    for pointer, node in walk(load_schema()):
        if node.get("type") in ("object", ["object", "null"]) and "properties" in node:
            assert node.get("additionalProperties") is False, pointer
            if pointer != "/definitions/stage":
                assert "^x-" in node.get("patternProperties", {}), pointer


def test_every_integer_is_bounded():
    """Every integer the language takes has a maximum in the schema: huge values (cluster:
    [2**63], dims of 2**63) once reached validation's arithmetic and the compiler. Sizes are
    bounded by limits.MAX_SIZE, expressions by the 64-bit range."""
    integers = {pointer: node for pointer, node in walk(load_schema())
                if "integer" in (node.get("type") if isinstance(node.get("type"), list)
                                 else [node.get("type")])}
    assert len(integers) > 20
    for pointer, node in integers.items():
        if "const" in node:                          # the version: one value
            continue
        assert "maximum" in node and "minimum" in node or pointer == "/definitions/expr", pointer
        assert node["maximum"] <= INT_MAX, pointer
    for pointer in ("/definitions/dim/anyOf/0", "/definitions/dim/anyOf/2/properties/min",
                    "/definitions/dim/anyOf/2/properties/max",
                    "/definitions/dim/anyOf/2/properties/multiple_of"):
        assert integers[pointer]["maximum"] == MAX_SIZE, pointer
    expr = integers["/definitions/expr"]
    assert (expr["minimum"], expr["maximum"]) == (INT_MIN, INT_MAX)


def test_schema_stage_kinds_match_the_stage_registry():
    assert stage_kinds() == list(STAGE_KINDS)
    props = load_schema()["definitions"]["stage"]["properties"]
    for name, kind in STAGE_KINDS.items():
        assert set(props[name]["properties"]) == set(kind.options), name


def test_tlspec_schema_prints_the_schema():
    out = subprocess.run([sys.executable, "-m", "tlspec", "schema"], capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out) == load_schema()


@pytest.mark.parametrize("spec", example_specs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_example_specs_start_with_the_schema_modeline(spec):
    first = spec.read_text().splitlines()[0]
    assert first == modeline_for(spec)
    schema = (spec.parent / first.split("$schema=", 1)[1]).resolve()
    assert schema == ROOT / "schemas" / "tlspec.schema.json"


def all_descriptions(node, pointer=""):
    """Yield (pointer, schema) for every subschema with a description, snippets excepted."""
    for ptr, sub in walk(node, pointer):
        if "description" in sub:
            yield ptr, sub


def test_every_description_has_a_markdown_description():
    missing = [pointer for pointer, node in all_descriptions(load_schema())
               if "markdownDescription" not in node]
    assert missing == []


def resolve_snippet(value):
    """A defaultSnippet body as the editor inserts it with its placeholders' defaults."""
    if isinstance(value, dict):
        return {key: resolve_snippet(v) for key, v in value.items()}
    if isinstance(value, list):
        return [resolve_snippet(v) for v in value]
    if isinstance(value, str):
        text = re.sub(r"\$\{\d+:([^}]*)\}", r"\1", value)
        text = re.sub(r"\$\d+", "", text)
        if text.startswith("^"):                     # inserted unquoted: YAML types it
            return yaml.safe_load(text[1:])
        return text
    return value


def stage_snippets():
    return {next(iter(snippet["body"])): snippet
            for snippet in load_schema()["definitions"]["stage"]["defaultSnippets"]}


def test_every_stage_kind_has_a_snippet():
    snippets = stage_snippets()
    expected = [name for name, kind in STAGE_KINDS.items() if kind.alias_of is None]
    assert list(snippets) == expected          # the deprecated alias gets none, on purpose
    for name, snippet in snippets.items():
        assert snippet["label"].split(" ")[0] == name
        assert snippet["description"] and snippet["markdownDescription"]


MINIMAL_KERNEL = {
    "tlspec": 1, "name": "k",
    "buffers": {"A": {"scope": "global", "shape": [64], "dtype": "float16", "io": "in"}},
    "launch": {"grid": {"bx": 1}, "threads": 32},
    "stages": [{"sync_threads": None}],
}


@pytest.mark.parametrize("kind", [n for n, k in STAGE_KINDS.items() if k.alias_of is None])
def test_stage_snippet_is_schema_valid_in_a_kernel(kind):
    body = resolve_snippet(stage_snippets()[kind]["body"])
    kernel = dict(MINIMAL_KERNEL, stages=[body])
    errors = list(jsonschema.Draft7Validator(load_schema()).iter_errors(kernel))
    assert errors == [], [e.message for e in errors]


def test_kernel_snippet_is_a_valid_kernel():
    (snippet,) = load_schema()["defaultSnippets"]
    text = yaml.safe_dump(resolve_snippet(snippet["body"]), sort_keys=False)
    result = validate_text(text, "snippet.tlspec.yaml")
    assert result.ok and not result.diagnostics.warnings, result.diagnostics.render_text()


@pytest.mark.parametrize("pointer, default", [
    ("/properties/target", "sm_90a"),
    ("/definitions/buffer/properties/layout", "auto"),
    ("/definitions/stage/properties/copy/properties/disable_tma", False),
    ("/definitions/stage/properties/copy/properties/eviction_policy", "evict_normal"),
    ("/definitions/stage/properties/im2col/properties/stride", 1),
    ("/definitions/stage/properties/im2col/properties/dilation", 1),
    ("/definitions/stage/properties/im2col/properties/pad", 0),
    ("/definitions/stage/properties/alloc_barrier/properties/count", 1),
    ("/definitions/stage/properties/alloc_barrier/properties/arrive_count", 1),
    ("/definitions/stage/properties/async_wait/properties/pending", 0),
    ("/definitions/stage/properties/tma_store_wait/properties/pending", 0),
    ("/definitions/stage/properties/for/properties/start", 0),
    ("/definitions/stage/properties/pipeline/properties/num_stages", 2),
])
def test_defaults_are_what_the_validator_assumes(pointer, default):
    node = load_schema()
    for part in pointer.strip("/").split("/"):
        node = node[part]
    assert node["default"] == default


def test_deprecated_alias_has_a_deprecation_message():
    alias = load_schema()["definitions"]["stage"]["properties"]["c2d_im2col"]
    assert "use im2col" in alias["deprecationMessage"]


@pytest.mark.parametrize("value, got", [(".inf", "got inf"), ("1e400", "the string '1e400'"),
                                        ("-.inf", "got -inf"), ("2.5e+30", "got 2.5e+30")])
def test_a_float_past_a_bound_is_reported_like_an_integer(value, got):
    """A float fails `maximum` too: its message printed it as an integer (AttributeError)."""
    base = (ROOT / "specs" / "copy_tiles.tlspec.yaml").read_text()
    result = validate_text(base.replace("threads: 256", f"threads: {value}"), "f.tlspec.yaml")
    assert result.diagnostics.errors
    assert any(got in d.message for d in result.diagnostics.errors), \
        result.diagnostics.render_text()


COPY_TILES = (ROOT / "specs" / "copy_tiles.tlspec.yaml").read_text()


@pytest.mark.parametrize("old, new, message, hint", [
    ("threads: 256", "threads: 0", "'threads' must be at least 32, got 0",
     "'threads': Threads per block: a multiple of 32, at most 1024."),
    ("shape: [M, N], dtype: float16, io: in,", "shape: 1, dtype: float16, io: in,",
     "'shape' must be a list, got the number 1", "'shape': Extents, outermost first"),
    ("  A_s: {scope: shared.dyn, shape: [64, 128], dtype: float16}", "  A_s: 0",
     "buffer 'A_s' must be a mapping, got the number 0", "A buffer: a global tensor"),
    ('grid: {bx: "ceildiv(N, 128)", by: "ceildiv(M, 64)"}', "grid: {}",
     "'grid' must have at least 1 entry",
     "'grid': Block indices and their extents, as expressions of dims. The first maps to "
     "blockIdx.x, then y, then z; e.g. 'grid: {bx: \"ceildiv(N, 128)\", by: \"ceildiv(M, 64)\"}'"),
    ("stages:\n", "stages:\n  - 0\n", "item 0 of 'stages' must be a mapping, got the number 0",
     "One stage: a mapping with exactly one key, the stage kind"),
    ("shape: [64, 128]", "shape: [64, [128]]",
     "item 1 of 'shape' must be an integer or an expression, got a list",
     "An integer, or an integer expression"),
    ("threads: 256", "threads: 256\n  cluster: [2, 1.5]",
     "item 1 of 'cluster' must be an integer, got the number 1.5",
     "'cluster': Thread block cluster shape (sm_90a and later), x first."),
])
def test_a_schema_error_says_what_the_value_is_for(old, new, message, hint):
    """Type, bound and size errors had no hint (the spec fuzzer's list of errors without one,
    most of them schema errors): the hint is the schema's description of the value, with its
    example where the description has none."""
    text = COPY_TILES.replace(old, new)
    assert text != COPY_TILES
    (error,) = validate_text(text, "t.tlspec.yaml").diagnostics.errors
    assert error.message == message
    assert error.hint.startswith(hint), error.hint


@pytest.mark.parametrize("value, got", [("{}", "a mapping"), ("1.5", "the number 1.5"),
                                        ("null", "nothing (null)"), ("'1e400'", "the string '1e400'")])
def test_a_value_no_alternative_fits_is_named_by_the_alternatives(value, got):
    """An im2col window option of the wrong type was "'kernel' is invalid: None is not valid
    under any of the given schemas" (jsonschema's words, with Python's repr of the value)."""
    text = (ROOT / "tlspec" / "starters" / "im2col.tlspec.yaml").read_text().replace("$name", "k")
    assert "kernel: 3" in text
    (error,) = validate_text(text.replace("kernel: 3", f"kernel: {value}"),
                             "t.tlspec.yaml").diagnostics.errors
    assert error.message == f"'kernel' must be an integer or a list, got {got}"
    assert error.hint == "give one integer for both axes ('kernel: 3') or an [h, w] pair " \
                         "('kernel: [3, 5]')"


def test_the_line_for_unknown_keys_past_the_eighth_has_the_hint_of_the_others():
    stage = "  - copy: {src: A_s, dst: B, " + ", ".join(f"k{i}: {i}" for i in range(12)) + "}\n"
    text = COPY_TILES.split("stages:\n", 1)[0] + "stages:\n" + stage
    errors = [e for e in validate_text(text, "t.tlspec.yaml").diagnostics.errors
              if "unknown key" in e.message]
    (rest,) = [e for e in errors if e.message.startswith("4 more unknown keys in the copy "
                                                         "stage: 'k8'")]
    assert len(errors) == 9 and {e.hint for e in errors} == {rest.hint}
    assert rest.hint.startswith("allowed keys: src, dst,")


@pytest.mark.parametrize("value, got", [("7", "the number 7"), ("[padded]", "a list")])
def test_a_name_that_is_not_a_string_is_named_as_what_it_is(value, got):
    """A value of a list of names that is not a string was 'invalid layout the number 7'."""
    text = COPY_TILES.replace("  A_s: {scope: shared.dyn, shape: [64, 128], dtype: float16}",
                              "  A_s: {scope: shared.dyn, shape: [64, 128], dtype: float16, "
                              f"layout: {value}}}")
    assert text != COPY_TILES
    errors = validate_text(text, "t.tlspec.yaml").diagnostics.errors
    assert [e.message for e in errors] == \
        [f"'layout' must be one of the names listed below, got {got}"]
    assert errors[0].hint.startswith("expected one of: row_major, padded")
