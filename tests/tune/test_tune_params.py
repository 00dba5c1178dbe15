"""Tunable parameters in the language (tlspec/tune/params.py, build.py): a parameter is a constant
wherever it is named, its first candidate unless a choice says otherwise; the located errors of
bad declarations and uses are in the catalogue (tests/catalogue/invalid/43*)."""
import json

import numpy as np

from tlspec.diagnostics import Diagnostics
from tlspec.expr import Const
from tlspec.tune.variants import with_choice
from tlspec.validate import validate_text

from conftest import tlspec_here
from tuned_specs import choices, kernel_of, transpose


def test_the_first_candidates_are_the_default():
    kernel = kernel_of(transpose())
    assert kernel.choice == {"TW": 64, "THREADS": 128}
    assert [t.candidates for t in kernel.tunables.values()] == [[64, 32], [128, 64]]
    assert kernel.launch.threads == 128
    assert kernel.buffers["A_s"].shape == [Const(64), Const(64)]
    assert kernel.launch.grid[0].extent.args[1] == Const(64)


def test_a_choice_sets_every_use():
    kernel = with_choice(kernel_of(transpose()), {"TW": 32, "THREADS": 64}, Diagnostics())
    assert kernel.choice == {"TW": 32, "THREADS": 64}
    assert kernel.launch.threads == 64
    assert kernel.buffers["A_s"].shape == [Const(64), Const(32)]
    assert kernel.buffers["At_s"].shape == [Const(32), Const(64)]
    (start, extent), = kernel.stages[0].regions["src"].dims[1:]
    assert extent == Const(32)
    assert "TW" not in repr(kernel.stages[4].regions["dst"].dims)


def test_integer_options_take_a_parameter():
    text = transpose().replace("TW: [64, 32]", "TW: [64, 32]\n  W: [4, 8]").replace(
        "coalesced_width: 8", "coalesced_width: W")
    kernel = kernel_of(text)
    assert kernel.stages[0].options["coalesced_width"] == 4
    assert kernel.document.data["stages"][0]["copy"]["coalesced_width"] == "W"  # as written


def test_cluster_extents_take_a_parameter():
    """launch.cluster's extents may name parameters: checked per variant against the cluster
    rules (the extent's bounds, the cluster's size, whole clusters in the grid)."""
    text = transpose().replace("THREADS: [128, 64]", "THREADS: [128, 64]\n  CX: [2, 4, 32]")\
        .replace("  threads: THREADS\n", "  threads: THREADS\n  cluster: [CX, 1, 1]\n")
    kernel = kernel_of(text)
    assert kernel.launch.cluster == (2, 1, 1)
    assert with_choice(kernel, {"TW": 64, "THREADS": 128, "CX": 4},
                       Diagnostics()).launch.cluster == (4, 1, 1)
    diags = Diagnostics()
    assert with_choice(kernel, {"TW": 64, "THREADS": 128, "CX": 32}, diags) is None
    assert [d.message for d in diags.errors][:2] == [
        "tunable parameter 'CX' = 32 here: cluster[0] must be in 1..16",
        "cluster of 32 blocks; sm_90a allows at most 16 (8 portably)"]


def test_an_invalid_combination_is_refused_with_its_reason():
    """TW = 32 with THREADS = 64 is fine; a choice that no candidate allows is not: the variant
    is refused by the same rules as a spec (here shared memory over 48 KB)."""
    diags = Diagnostics()
    assert with_choice(kernel_of(transpose()), {"TW": 512, "THREADS": 128}, diags) is None
    assert any("48 KB" in d.message for d in diags.errors), diags.render_text()


def test_symbolic_dims_and_tunables_together():
    kernel = kernel_of(transpose("{symbolic: true, multiple_of: 8}",
                                 "{symbolic: true, multiple_of: 8}"))
    assert kernel.dims["M"].symbolic and kernel.choice["TW"] == 64


def test_a_spec_without_tune_has_no_parameters():
    result = validate_text(transpose().replace("tune:\n  TW: [64, 32]\n  THREADS: [128, 64]\n",
                                               "").replace("TW", "64").replace("THREADS", "128"))
    assert result.ok, result.diagnostics.render_text()
    assert result.kernels[0].tunables == {} and result.kernels[0].choice == {}


def test_an_instruction_choice_sets_the_options_that_name_it():
    kernel = kernel_of(choices())
    assert kernel.choice == {"TW": 64, "LOAD": "tma", "POLICY": "evict_normal"}
    assert kernel.tunables["LOAD"].is_choice and not kernel.tunables["TW"].is_choice
    load, _, store = kernel.stages
    assert (load.options["prefer_instruction"], load.options["eviction_policy"]) == (
        "tma", "evict_normal")
    assert store.options["eviction_policy"] == "evict_normal"
    assert kernel.document.data["stages"][0]["copy"]["prefer_instruction"] == "LOAD"  # as written
    rebuilt = with_choice(kernel, {"TW": 64, "LOAD": "sync", "POLICY": "evict_first"},
                          Diagnostics())
    load, _, store = rebuilt.stages
    assert (load.options["prefer_instruction"], load.options["eviction_policy"]) == (
        "sync", "evict_first")
    assert store.options["eviction_policy"] == "evict_first"


def test_an_instruction_choice_the_region_cannot_take_is_refused_with_its_reason():
    """TW = 4 is fine with a SIMT load, not with TMA: 8-byte rows are no TMA box."""
    kernel = kernel_of(choices())
    assert with_choice(kernel, {"TW": 4, "LOAD": "sync", "POLICY": "evict_first"},
                       Diagnostics()) is not None
    diags = Diagnostics()
    assert with_choice(kernel, {"TW": 4, "LOAD": "tma", "POLICY": "evict_first"}, diags) is None
    (error,) = diags.errors
    assert error.pointer == "/stages/0/copy/src" and "innermost extent spans 8 bytes" in \
        error.message


def test_every_candidate_of_a_choice_is_checked_where_it_is_named():
    """Not only the first: each candidate must be a value of each option that names it, at the
    candidate, saying where it is named (the catalogue's 470 shows the rendered error)."""
    text = choices(policy=False).replace("LOAD: [tma, sync]", "LOAD: [tma, evict_last]").replace(
        "prefer_instruction: LOAD", "prefer_instruction: LOAD, eviction_policy: LOAD")
    result = validate_text(text)
    assert [(d.pointer, d.message) for d in result.diagnostics.errors] == [
        ("/tune/LOAD/1", "'evict_last' is not a value of prefer_instruction, which names 'LOAD' "
                         "at line 16, column 78"),
        ("/tune/LOAD/0", "'tma' is not a value of eviction_policy, which names 'LOAD' at line 16, "
                         "column 101")]


def test_explain_and_the_interpreter_see_the_first_candidates(tmp_path):
    from tlspec.interpret import run

    text = choices().replace("LOAD: [tma, sync]", "LOAD: [sync, tma]")
    spec = tmp_path / "tc.tlspec.yaml"
    spec.write_text(text)
    result = tlspec_here("explain", spec, "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    (explained,) = json.loads(result.stdout)["kernels"]
    assert explained["stages"][0]["instruction"] == "SIMT"
    assert explained["stages"][0]["why"].startswith("prefer_instruction: sync")
    a = np.arange(256 * 512, dtype=np.float16).reshape(256, 512)
    b = np.zeros_like(a)
    run(kernel_of(text), {"A": a, "B": b})
    assert np.array_equal(a, b)


LAYOUTS = """
tlspec: 1
name: layouts
target: sm_90a
dims: {M: 1024, N: 1024}
tune:
  SRC: [padded, swizzle_128B, row_major]
  FORM: [columns, blocks]
buffers:
  A:    {scope: global, shape: [M, N], dtype: float16, io: in}
  B:    {scope: global, shape: [N, M], dtype: float16, io: out}
  A_s:  {scope: shared, shape: [64, 64], dtype: float16, layout: SRC}
  At_s: {scope: shared, shape: [64, 64], dtype: float16, layout: swizzle_128B}
launch:
  grid: {bx: N // 64, by: M // 64}
  threads: 256
stages:
  - copy: {src: "A[by*64 : +64, bx*64 : +64]", dst: A_s}
  - sync_threads:
  - transpose: {src: A_s, dst: At_s, form: FORM}
  - sync_threads:
  - copy: {src: At_s, dst: "B[bx*64 : +64, by*64 : +64]"}
"""


def test_a_shared_tiles_layout_and_a_transposes_form_are_choices():
    kernel = kernel_of(LAYOUTS)
    assert kernel.choice == {"SRC": "padded", "FORM": "columns"}
    assert kernel.buffers["A_s"].layout == "padded"
    assert kernel.stages[2].options["form"] == "columns"
    rebuilt = with_choice(kernel, {"SRC": "swizzle_128B", "FORM": "blocks"}, Diagnostics())
    assert rebuilt.buffers["A_s"].layout == "swizzle_128B"
    assert rebuilt.stages[2].options["form"] == "blocks"


def test_a_layout_choice_of_no_layout_is_refused_at_the_candidate():
    result = validate_text(LAYOUTS.replace("SRC: [padded, swizzle_128B, row_major]",
                                           "SRC: [padded, tma]"))
    assert [(d.pointer, d.message) for d in result.diagnostics.errors] == [
        ("/tune/SRC/1", "'tma' is not a value of layout, which names 'SRC' at line 12, "
                        "column 66")]
