"""A `for` loop whose body is a single stage compiles, for every stage kind (it was an internal
compiler error, "A SeqStmt of length 1 is prohibited", the most common one found by fuzzing)."""
import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from tlspec.compiler.driver import compile_paths

HEADER = """tlspec: 1
name: loop_{kind}
target: sm_90a
dims: {{M: 4096, V: 4096, R: 4096}}
buffers:
  A:     {{scope: global, shape: [M, 256], dtype: float16, io: in}}
  B:     {{scope: global, shape: [M, 256], dtype: float16, io: inout}}
  idx:   {{scope: global, shape: [R], dtype: int32, io: in}}
  img:   {{scope: global, shape: [4, 16, 16, 64], dtype: float16, io: in}}
  A_s:   {{scope: shared, shape: [64, 64], dtype: float16}}
  At_s:  {{scope: shared, shape: [64, 64], dtype: float16}}
launch:
  grid: {{bx: M // 256}}
  threads: 128
stages:
"""
BODIES = {
    "copy_sync": 'copy: {src: "A[bx*256 + k*64 : +64, 0 : +64]", dst: "B[bx*256 + k*64 : +64, 0 : +64]"}',
    "copy_tma": 'copy: {src: "A[bx*256 + k*64 : +64, 0 : +64]", dst: A_s, prefer_instruction: tma}',
    "copy_cp_async": 'copy: {src: "A[bx*256 + k*64 : +64, 0 : +64]", dst: A_s, prefer_instruction: cp_async}',
    "transpose": "transpose: {src: A_s, dst: At_s}",
    "gather": 'gather: {src: "A[:, k*64 : +64]", dst: "B[bx*256 : +64, k*64 : +64]", index: "idx[bx*64 : +64]"}',
    "scatter": 'scatter: {src: "A[bx*64 : +64, k*64 : +64]", dst: "B[:, k*64 : +64]", index: "idx[bx*64 : +64]"}',
    "im2col": "im2col: {img: img, col: A_s, nhw_step: k, c_step: bx, kernel: 3, pad: 1}",
    "sync_threads": "sync_threads:",
}


def test_a_loop_around_a_single_stage_compiles_for_every_kind(tmp_path):
    docs = [HEADER.format(kind=kind) + f"  - for:\n      var: k\n      extent: 4\n"
            f"      stages:\n        - {body}\n" for kind, body in BODIES.items()]
    spec = tmp_path / "loops.tlspec.yaml"
    spec.write_text("---\n".join(docs))
    result = compile_paths([str(spec)], str(tmp_path / "kernels"))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    assert sorted(result.kernels) == sorted(f"loop_{kind}" for kind in BODIES)
