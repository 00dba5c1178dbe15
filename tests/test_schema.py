"""The schema is valid draft-07, documents everything, and is what `tlspec schema` prints."""
import json
import subprocess
import sys

import jsonschema
import pytest

from tlspec.schema import load_schema, schema_path, stage_kinds
from tlspec.stages import STAGE_KINDS

from conftest import ROOT


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


def test_schema_stage_kinds_match_the_stage_registry():
    assert stage_kinds() == list(STAGE_KINDS)
    props = load_schema()["definitions"]["stage"]["properties"]
    for name, kind in STAGE_KINDS.items():
        assert set(props[name]["properties"]) == set(kind.options), name


def test_tlspec_schema_prints_the_schema():
    out = subprocess.run([sys.executable, "-m", "tlspec", "schema"], capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out) == load_schema()


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").glob("*.tlspec.yaml")), ids=lambda p: p.name)
def test_example_specs_start_with_the_schema_modeline(spec):
    first = spec.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/tlspec.schema.json"
