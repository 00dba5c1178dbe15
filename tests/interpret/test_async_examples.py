"""The examples of the asynchronous stages (docs/spec.md's and specs/'), interpreted at
small and ragged sizes and compared bit-exactly with an expectation written here from what
each kernel's doc says it computes (numpy slicing, never the interpreter's code).

Their constant dims become symbolic (multiples of 8, so that the TMA boxes' rows stay whole
16-byte multiples), so that one kernel runs at every size, and a pipeline at any extent.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import ROOT, SPECS
from doc_examples import fenced_blocks
from example_kernels import inputs
from interpret_support import assert_same
from tlspec.interpret import Program
from tlspec.interpret.async_stages import ASYNC_STAGES
from tlspec.interpret.machine import _Run
from tlspec.validate import validate_text

REFUSED = {"copy_cluster"}     # what the interpreter refuses (test_undefined_results)


def stage_kinds(where: str, text: str) -> dict[str, set[str]]:
    """Per kernel of a spec, its stage kinds, "gather4" for the TMA forms of gather and scatter."""
    found = {}
    for kernel in validate_text(text, where).kernels:
        found[kernel.name] = {"gather4" if stage.kind in ("gather", "scatter") and
                              {"rows", "col", "barrier"} & set(stage.options) else stage.kind
                              for stage in kernel.walk()}
    return found


def async_examples() -> dict[str, tuple[str, dict]]:
    """name -> (where, document) of every example kernel with an asynchronous or synchronisation
    stage that the interpreter runs."""
    found = {}
    sources = [(b.where, b.text) for b in fenced_blocks(ROOT / "docs" / "spec.md")
               if b.info[:1] == ["yaml"] and "invalid" not in b.info]
    sources += [(p.relative_to(ROOT).as_posix(), p.read_text())
                for p in sorted(SPECS.glob("*.tlspec.yaml"))]
    for where, text in sources:
        kinds = stage_kinds(where, text)
        for document in yaml.safe_load_all(text):
            used = kinds[document["name"]]
            if used & set(ASYNC_STAGES) and not used & REFUSED:
                found[document["name"]] = (where, document)
    return found


def symbolic(where: str, document: dict):
    """The kernel with its constant dims made symbolic multiples of 8."""
    document = dict(document, dims={name: {"symbolic": True, "multiple_of": 8}
                                    for name in document["dims"]})
    result = validate_text(yaml.safe_dump(document, sort_keys=False), f"{where} (symbolic)")
    assert result.ok, result.diagnostics.render_text()
    return result.kernels[0]


def copy_of_a(x):
    return {"B": x["A"]}


def gathered(x):
    return {"out": x["table"][x["idx"].astype(np.int64)]}


def scattered(x):
    table = x["table"].copy()
    table[x["idx"].astype(np.int64)] = x["rows"]
    return {"table": table}


def concatenated(x):
    return {"out": np.concatenate([x["A"], x["B"]], axis=1)}


# per kernel: what its doc says it computes, and sizes (ragged ones where the kernel allows it;
# the concatenations need N to be a multiple of their tiles' width)
EXPECTED = {
    "slab_copy_prefetch": (copy_of_a, [dict(M=72, N=136), dict(M=64, N=384), dict(M=8, N=120)]),
    "copy_tile_tma": (copy_of_a, [dict(M=136, N=72), dict(M=128, N=128)]),
    "slab_copy_tma3": (copy_of_a, [dict(M=72, N=40), dict(M=64, N=128), dict(M=72, N=136),
                                   dict(M=8, N=448)]),       # pipelines of 1, 2, 3 and 7 tiles
    "slab_copy_one_barrier": (copy_of_a, [dict(M=72, N=200)]),
    "async_copy_pipeline": (copy_of_a, [dict(M=72, N=264), dict(M=64, N=128)]),
    "tma_pipeline_copy": (copy_of_a, [dict(M=72, N=200), dict(M=8, N=64)]),
    "concat_cols": (concatenated, [dict(M=72, N=128)]),
    "concat_cols_sm80": (concatenated, [dict(M=72, N=256)]),
    "copy_twice": (lambda x: {"B": x["A"], "C": x["A"]}, [dict(M=136, N=72)]),
    "transpose_padded_sm80": (lambda x: {"B": x["A"].T}, [dict(M=40, N=72)]),
    "transpose_tma_store": (lambda x: {"B": x["A"].T}, [dict(M=136, N=72)]),
    "tile_load": (copy_of_a, [dict(M=72, N=136), dict(M=64, N=64)]),   # its first candidates
    "gather4_rows": (gathered, [dict(V=40, D=512, R=24), dict(V=8, D=256, R=8)]),
    "scatter4_rows": (scattered, [dict(V=40, D=512, R=24), dict(V=8, D=256, R=8)]),
}
EXAMPLES_FOUND = async_examples()


def test_every_example_has_an_expectation():
    assert set(EXAMPLES_FOUND) == set(EXPECTED)


@pytest.mark.parametrize("name, size", [(name, size) for name, (_, sizes) in EXPECTED.items()
                                        for size in sizes],
                         ids=lambda v: v if isinstance(v, str) else "-".join(map(str, v.values())))
def test_example(name, size):
    kernel = symbolic(*EXAMPLES_FOUND[name])
    arrays = inputs(kernel, size)
    expected = EXPECTED[name][0](arrays)
    Program(kernel).run(arrays)
    for output, value in expected.items():
        assert_same(arrays[output], value)


def test_slab_copy_tma3_runs_its_barriers_through_their_phases():
    """7 tiles: full[0] completes phases 0, 1, 2 (tiles 0, 3, 6), full[1] and full[2] two."""
    kernel = symbolic(*EXAMPLES_FOUND["slab_copy_tma3"])
    arrays = inputs(kernel, dict(M=64, N=448))
    state = _Run(Program(kernel), {"M": 64, "N": 448}, [arrays["A"], arrays["B"]])
    state.execute()
    assert state.sync.barriers.phase == [3, 2, 2]
    assert_same(arrays["B"], arrays["A"])
