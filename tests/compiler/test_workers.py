"""tlspec/compiler/workers.py: calls made in worker processes come back in order; a call's
exception is raised in the caller; a worker that dies is a result, not a hang; a script that
compiles at its top level (no `if __name__ == "__main__"`) is not run again by the workers."""
import operator
import os
import subprocess
import sys
import textwrap

import pytest

from tlspec.compiler.workers import WorkerDied, run_in_workers

from conftest import ROOT


def test_results_come_back_in_order():
    calls = [(operator.mul, (i, i)) for i in range(7)]
    finished = []
    assert run_in_workers(calls, 2, finished.append) == [i * i for i in range(7)]
    assert sorted(finished) == list(range(7))


def test_a_calls_exception_is_raised_here():
    with pytest.raises(ValueError, match="invalid literal"):
        run_in_workers([(int, ("x",)), (operator.add, (1, 2))], 2, lambda i: None)


def test_a_worker_that_dies_is_a_result_and_the_rest_still_run():
    results = run_in_workers([(os._exit, (3,)), (operator.add, (1, 2))], 1, lambda i: None)
    assert isinstance(results[0], WorkerDied) and "exit code 3" in str(results[0])
    assert results[1] == 3


def test_a_script_compiling_at_its_top_level_runs_once(tmp_path):
    pytest.importorskip("tvm", reason="compiling needs tvm")
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(f"""
        import tlspec
        print("script ran")
        result = tlspec.compile([{str(ROOT / "specs" / "copy_tiles.tlspec.yaml")!r},
                                 {str(ROOT / "specs" / "im2col.tlspec.yaml")!r}],
                                out={str(tmp_path / "kernels")!r}, cache=False, jobs=2)
        print(result.kernels)
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert done.stdout == "script ran\n['copy_tiles', 'im2col_3x3']\n", done.stderr
