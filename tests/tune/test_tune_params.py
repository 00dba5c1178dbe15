"""Tunable parameters in the language (tlspec/tune/params.py, build.py): a parameter is a constant
wherever it is named, its first candidate unless a choice says otherwise; the located errors of
bad declarations and uses are in the catalogue (tests/catalogue/invalid/43*)."""
from tlspec.diagnostics import Diagnostics
from tlspec.expr import Const
from tlspec.tune.variants import with_choice
from tlspec.validate import validate_text

from tuned_specs import kernel_of, transpose


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
