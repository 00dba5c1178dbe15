"""The Python entry points: `tlspec.interpret.run` on a kernel model and `tlspec.interpret.load`,
whose kernels take the compiled wrappers' arguments (outputs optional, allocated and poisoned,
returned) and report located errors as `tlspec validate` does."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from conftest import ROOT, SPECS
from interpret_support import assert_same, bits, poisoned, random
from tlspec.interpret import InterpretError, Program, load, run
from tlspec.validate import validate_paths, validate_text

TWO_OUTPUTS = """tlspec: 1
name: halves
doc: B and C get the two halves of every 8-element chunk of A; C's last two elements are never written.
dims: {N: {symbolic: true, multiple_of: 8}}
buffers:
  A: {scope: global, shape: [N], dtype: float16, io: in}
  B: {scope: global, shape: [N // 2], dtype: float16, io: out}
  S: {scope: global, shape: [1], dtype: int32, io: inout}
  C: {scope: global, shape: [N // 2], dtype: float16, io: out}
launch:
  grid: {bx: N // 8}
  threads: 32
stages:
  - copy: {src: "A[bx*8 : +4]", dst: "B[bx*4 : +4]"}
  - copy: {src: "A[bx*8 + 4 : +2]", dst: "C[bx*4 : +2]"}
"""


def test_run_writes_outputs_in_place_and_keeps_unwritten_elements():
    (kernel,) = validate_text(TWO_OUTPUTS).kernels
    a = random((16,))
    b, s, c = poisoned((8,)), np.array([7], np.int32), poisoned((8,))
    assert run(kernel, {"A": a, "B": b, "S": s, "C": c}) is None
    assert_same(b, a.reshape(2, 8)[:, :4].reshape(-1))
    expected = poisoned((2, 4))
    expected[:, :2] = a.reshape(2, 8)[:, 4:6]
    assert_same(c, expected.reshape(-1))
    assert s[0] == 7


def test_a_program_says_what_it_ran():
    (kernel,) = validate_text(TWO_OUTPUTS).kernels
    done = Program(kernel).run({"A": random((24,)), "B": poisoned((12,)),
                                "S": np.zeros(1, np.int32), "C": poisoned((12,))})
    assert (done.dims, done.grid, done.blocks) == ({"N": 24}, (3,), 3)
    assert done.written == {"B": 12, "S": 0, "C": 6}


def test_load_gives_functions_with_the_wrapper_signature():
    module = load(TWO_OUTPUTS)
    assert module.__all__ == ["halves"]
    halves = module.halves
    assert halves.__name__ == "halves"
    assert str(inspect.signature(halves)) == "(A, B=None, S=None, C=None, *, stream=None)"
    assert halves.__doc__.startswith("B and C get the two halves")
    assert "    B: float16 (N // 2,) with N a multiple of 8, out (allocated when omitted)." \
        in halves.__doc__


def test_omitted_outputs_are_allocated_poisoned_and_returned():
    halves = load(TWO_OUTPUTS).halves
    a = random((16,))
    with pytest.raises(TypeError, match=r"^halves\(\): missing required argument 'S'$"):
        halves(a)
    b, s, c = halves(a, None, np.zeros(1, np.int32))
    assert b.dtype == np.float16 and b.shape == (8,)
    assert_same(b, a.reshape(2, 8)[:, :4].reshape(-1))
    assert (bits(c).reshape(2, 4)[:, 2:] == 0xFFFF).all()
    with pytest.raises(TypeError, match=r"^halves\(\): too many positional arguments$"):
        halves(a, None, s, None, None)
    b, s, c = halves(A=a, S=s, stream=None)
    assert_same(b, a.reshape(2, 8)[:, :4].reshape(-1))
    with pytest.raises(TypeError, match=r"^halves\(\): got an unexpected keyword argument 'D'$"):
        halves(a, S=s, D=a)


def test_returns_like_the_wrapper():
    one = load(str(SPECS / "copy_symbolic.tlspec.yaml")).copy_symbolic
    a = random((64, 128))
    out = one(a, stream=7)
    assert isinstance(out, np.ndarray)
    assert_same(out, a)
    nothing = load("""tlspec: 1
name: reads_only
buffers:
  A: {scope: global, shape: [8], dtype: uint8, io: in}
  A_s: {scope: shared, shape: [8], dtype: uint8}
launch: {grid: {bx: 1}, threads: 32}
stages:
  - copy: {src: A, dst: A_s}
""").reads_only
    assert nothing(random((8,), "uint8")) is None


def test_lists_are_taken_in_the_buffer_dtype():
    halves = load(TWO_OUTPUTS).halves
    b, _, _ = halves([float(i) for i in range(8)], None, [0])
    assert b.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_bfloat16_and_float8_outputs_have_ml_dtypes_types():
    import ml_dtypes

    for dtype, expected in (("bfloat16", ml_dtypes.bfloat16),
                            ("float8_e4m3", ml_dtypes.float8_e4m3fn),
                            ("float8_e5m2", ml_dtypes.float8_e5m2)):
        copy = load(TWO_OUTPUTS.replace("float16", dtype).replace("N // 2", "N")).halves
        b, _, _ = copy(random((8,), dtype), None, [0])
        assert b.dtype == np.dtype(expected)


def test_load_a_file_a_path_and_a_folder():
    path = SPECS / "gather_rows.tlspec.yaml"
    assert load(path).__all__ == ["gather_rows"]
    assert load(str(path)).__name__ == "gather_rows"
    folder = ROOT / "tests" / "gpu" / "sm80"
    every = validate_paths([str(folder)]).kernels
    assert sorted(load(folder).__all__) == sorted(k.name for k in every)
    every = validate_paths([str(SPECS)]).kernels
    assert sorted(load(SPECS).__all__) == sorted(k.name for k in every)
    with pytest.raises(FileNotFoundError, match="no spec at 'nowhere.tlspec.yaml'"):
        load("nowhere.tlspec.yaml")


def test_an_invalid_spec_is_reported_as_validate_reports_it(tmp_path):
    path = tmp_path / "bad.tlspec.yaml"
    path.write_text(TWO_OUTPUTS.replace("threads: 32", "threads: 33"))
    with pytest.raises(InterpretError) as err:
        load(path)
    assert str(err.value) == validate_paths([str(path)]).diagnostics.render_text()
    assert str(err.value).startswith(f"{path}:12:")
