"""Editors see the schema: the real yaml-language-server completes, documents and checks specs.

The server is the one `package-lock.json` pins (`npm ci` installs it); it is driven over stdio,
as VS Code, Neovim and Helix drive it. Documents name the schema with the modeline the example
specs start with, or get it from the `yaml.schemas` setting, which maps `*.tlspec.yaml` to it.
"""
from __future__ import annotations

import itertools
import re

import pytest

from tlspec.schema import load_schema
from tlspec.stages import STAGE_KINDS

from conftest import ROOT
from lsp_client import SERVER_SCRIPT, LspClient, unavailable_reason

SCHEMA_URI = (ROOT / "schemas" / "tlspec.schema.json").as_uri()
MODELINE = f"# yaml-language-server: $schema={SCHEMA_URI}\n"

# A valid kernel up to its stages; the modeline is line 0, `  - ` is line 10.
KERNEL = """\
tlspec: 1
name: k
buffers:
  A: {scope: global, shape: [64], dtype: float16, io: in}
  B: {scope: global, shape: [64], dtype: float16, io: out}
launch:
  grid: {bx: 1}
  threads: 32
stages:
"""
STAGE_LINE = 10
CURRENT_KINDS = [name for name, kind in STAGE_KINDS.items() if kind.alias_of is None]

_counter = itertools.count()


@pytest.fixture(scope="module")
def server():
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    client = LspClient(
        ["node", str(SERVER_SCRIPT), "--stdio"],
        settings={"yaml": {"schemas": {SCHEMA_URI: "*.tlspec.yaml"}, "validate": True,
                           "completion": True, "hover": True, "schemaStore": {"enable": False}}},
        root=ROOT)
    try:
        client.initialize()
        yield client
    finally:
        client.shutdown()


def open_doc(server, text, modeline=True, suffix=".tlspec.yaml"):
    """Open `text` as a new document (never written to disk); return its URI."""
    uri = (ROOT / f"editor_test_{next(_counter)}{suffix}").as_uri()
    server.open(uri, (MODELINE if modeline else "") + text)
    return uri


def completions(server, text, line, character, **kwargs):
    uri = open_doc(server, text, **kwargs)
    try:
        return server.completion(uri, line, character)
    finally:
        server.close_document(uri)


def labels(server, text, line, character, **kwargs):
    return [item["label"] for item in completions(server, text, line, character, **kwargs)]


def test_top_level_completion(server):
    offered = labels(server, "", 1, 0)
    for key in ("tlspec", "name", "doc", "target", "dims", "buffers", "launch", "stages"):
        assert key in offered, offered


def test_stages_completion_offers_every_stage_kind(server):
    offered = labels(server, KERNEL + "  - \n", STAGE_LINE, 4)
    # Every kind, synchronisation and loops included; the deprecated alias is hidden.
    assert {"sync_threads", "async_wait", "barrier_wait", "for", "pipeline"} <= set(CURRENT_KINDS)
    for kind in CURRENT_KINDS:
        assert kind in offered, (kind, offered)
    assert "c2d_im2col" not in offered


@pytest.mark.parametrize("kind", [k for k in CURRENT_KINDS if STAGE_KINDS[k].options])
def test_stage_options_completion(server, kind):
    offered = labels(server, KERNEL + f"  - {kind}:\n      \n", STAGE_LINE + 1, 6)
    for option in STAGE_KINDS[kind].options:
        assert option in offered, (option, offered)


def test_dtype_completion(server):
    text = KERNEL.replace("stages:\n", "") + "  C:\n    dtype: \n"
    text = text.replace("launch:\n  grid: {bx: 1}\n  threads: 32\n", "")
    text += "launch:\n  grid: {bx: 1}\n  threads: 32\nstages: []\n"
    lines = (MODELINE + text).splitlines()
    line = lines.index("    dtype: ")
    offered = labels(server, text, line, len("    dtype: "))
    dtypes = load_schema()["definitions"]["buffer"]["properties"]["dtype"]["enum"]
    assert {"float16", "bfloat16", "float32", "float8_e4m3"} <= set(offered)
    assert set(dtypes) <= set(offered)


def test_prefer_instruction_completion(server):
    text = KERNEL + "  - copy:\n      src: A\n      prefer_instruction: \n"
    offered = labels(server, text, STAGE_LINE + 2, len("      prefer_instruction: "))
    assert set(offered) >= {"tma", "cp_async", "sync"}, offered


@pytest.mark.parametrize("kind", ["copy", "gather", "im2col"])
def test_fill_completion_offers_its_words(server, kind):
    text = KERNEL + f"  - {kind}:\n      fill: \n"
    offered = labels(server, text, STAGE_LINE + 1, len("      fill: "))
    assert set(offered) >= {"-inf", "inf", "nan"}, offered


def test_im2col_layout_completion(server):
    text = KERNEL + "  - im2col:\n      layout: \n"
    offered = labels(server, text, STAGE_LINE + 1, len("      layout: "))
    assert set(offered) >= {"nhwc", "nchw"}, offered


def test_buffer_keys_completion_offers_strides(server):
    text = KERNEL.replace("  B: {scope: global, shape: [64], dtype: float16, io: out}\n",
                          "  B:\n    \n")
    lines = (MODELINE + text).splitlines()
    offered = labels(server, text, lines.index("    "), 4)
    assert {"scope", "shape", "strides", "dtype", "io"} <= set(offered), offered


@pytest.mark.parametrize("kind", ["gather", "scatter"])
def test_out_of_range_completion_offers_fill_and_error(server, kind):
    text = KERNEL + f"  - {kind}:\n      out_of_range: \n"
    offered = labels(server, text, STAGE_LINE + 1, len("      out_of_range: "))
    assert set(offered) >= {"fill", "error"}, offered


def test_a_computed_index_gather_has_its_snippet(server):
    items = completions(server, KERNEL + "  - \n", STAGE_LINE, 4)
    [item] = [i for i in items if i["label"] == "gather (computed indices)"]
    text = item.get("insertText") or item.get("textEdit", {}).get("newText", "")
    assert "each:" in text and "block_table[by, t // P]" in text, text


@pytest.mark.parametrize("kind", CURRENT_KINDS)
def test_hover_on_a_stage_kind_shows_its_description(server, kind):
    uri = open_doc(server, KERNEL + f"  - {kind}: {{}}\n")
    try:
        hover = server.hover(uri, STAGE_LINE, 5)
        assert hover is not None, kind
        contents = hover["contents"]
        text = contents["value"] if isinstance(contents, dict) else str(contents)
        description = load_schema()["definitions"]["stage"]["properties"][kind]["description"]
        # The server may escape markdown punctuation; compare without escapes and code marks.
        assert plain(description) in plain(text), (kind, text)
    finally:
        server.close_document(uri)


def plain(markdown):
    return " ".join(re.sub(r"\\(.)", r"\1", markdown).replace("`", "").split())


def _diagnostics(server, text, **kwargs):
    uri = open_doc(server, text, **kwargs)
    try:
        return server.diagnostics(uri, predicate=lambda diags: len(diags) > 0)
    finally:
        server.close_document(uri)


def test_valid_kernel_has_no_diagnostics(server):
    uri = open_doc(server, KERNEL + "  - copy: {src: A, dst: B}\n")
    try:
        assert server.diagnostics(uri) == []
    finally:
        server.close_document(uri)


def test_unknown_key_is_reported_at_its_line(server):
    text = KERNEL + "  - copy: {src: A, dst: B}\n  - copy:\n      src: A\n      dst: B\n      bogus: 1\n"
    diags = _diagnostics(server, text)
    unknown = [d for d in diags if "bogus" in d["message"]]
    assert unknown, diags
    assert unknown[0]["range"]["start"]["line"] == STAGE_LINE + 4
    assert unknown[0]["severity"] == 1


def test_bad_enum_value_is_reported_at_its_line(server):
    text = KERNEL + "  - copy: {src: A, dst: B}\n  - copy: {src: A, dst: B, prefer_instruction: tmaa}\n"
    diags = _diagnostics(server, text)
    bad = [d for d in diags if "tma" in d["message"] and "cp_async" in d["message"]]
    assert bad, diags
    start = bad[0]["range"]["start"]
    assert start["line"] == STAGE_LINE + 1
    assert (MODELINE + text).splitlines()[start["line"]][start["character"]:].startswith("tmaa")


def test_schemas_setting_applies_without_a_modeline(server):
    offered = labels(server, KERNEL + "  - \n", STAGE_LINE - 1, 4, modeline=False)
    assert {"copy", "tma_copy", "pipeline"} <= set(offered), offered
    diags = _diagnostics(server, "tlspec: 1\nname: k\nbogus: 1\n", modeline=False)
    assert any("bogus" in d["message"] and d["range"]["start"]["line"] == 2 for d in diags), diags


def test_other_yaml_files_get_no_tlspec_schema(server):
    offered = labels(server, "\n", 0, 0, modeline=False, suffix=".yaml")
    assert "buffers" not in offered


def test_snippets_for_every_stage_kind_and_a_whole_kernel(server):
    items = completions(server, KERNEL + "  - \n", STAGE_LINE, 4)
    snippets = {item["label"]: item.get("insertText") or item.get("textEdit", {}).get("newText", "")
                for item in items if " (" in item["label"] or item["label"] in ("async_commit",
                                                                                "sync_threads")}
    for name, kind in STAGE_KINDS.items():
        if kind.alias_of is None:
            found = [text for label, text in snippets.items()
                     if label.split(" ")[0] == name and text.startswith(f"{name}:")]
            assert found, (name, sorted(snippets))
    copy = next(text for label, text in snippets.items() if label.startswith("copy ("))
    assert "src: ${1:" in copy and "dst: ${2:" in copy
    kernel = [item for item in server.completion(open_doc(server, ""), 1, 0)
              if item["label"] == "new tlspec kernel"]
    assert kernel, "no whole-kernel snippet at the top level"


# A kernel with tunable parameters (docs/tune.md): `tune:` is line 3, its parameter line 4.
TUNED = KERNEL.replace("name: k\n", "name: k\ntune:\n  T: [32, 64]\n").replace(
    "threads: 32", "threads: T")


def test_tune_is_offered_and_documented(server):
    assert "tune" in labels(server, "", 1, 0)
    uri = open_doc(server, TUNED + "  - copy: {src: A, dst: B}\n")
    try:
        hover = server.hover(uri, 3, 1)
        contents = hover["contents"]
        text = contents["value"] if isinstance(contents, dict) else str(contents)
        assert plain(load_schema()["properties"]["tune"]["description"]) in plain(text), text
        assert server.diagnostics(uri) == []     # threads: T is an integer option's other form
    finally:
        server.close_document(uri)


def test_empty_and_repeated_candidates_are_reported(server):
    for candidates in ("[]", "[32, 32]"):
        diags = _diagnostics(server, TUNED.replace("[32, 64]", candidates)
                             + "  - copy: {src: A, dst: B}\n")
        assert [d for d in diags if d["range"]["start"]["line"] == 4], (candidates, diags)


# An instruction choice (docs/spec.md#instruction-choices): its parameter line is line 5.
CHOICE = TUNED.replace("  T: [32, 64]\n", "  T: [32, 64]\n  LOAD: [tma, sync]\n")
CHOICE_COPY = "  - copy: {src: A, dst: B, prefer_instruction: LOAD}\n"


def test_instruction_choices_are_offered_and_a_parameter_may_stand_for_one(server):
    block = TUNED.replace("  T: [32, 64]\n", "  T: [32, 64]\n  LOAD:\n    - \n")
    offered = labels(server, block, 6, len("    - "))
    assert {"tma", "cp_async", "sync", "evict_normal", "evict_first", "evict_last"} <= \
        set(offered), offered
    uri = open_doc(server, CHOICE + CHOICE_COPY)
    try:
        assert server.diagnostics(uri) == []
    finally:
        server.close_document(uri)


@pytest.mark.parametrize("candidates", ["[tma, 64]", "[tma, simt]"])
def test_a_candidate_that_is_no_instruction_choice_is_reported(server, candidates):
    diags = _diagnostics(server, CHOICE.replace("[tma, sync]", candidates) + CHOICE_COPY)
    assert [d for d in diags if d["range"]["start"] == {"line": 5, "character": 14}], diags
