"""`tlspec run SPEC --interpret`: inputs from .npy files or random (seeded, never zero, indices
in the table), symbolic dims from --dim or the inputs, outputs to DIR/NAME.npy, a summary; exit
codes 0, 1 (located errors) and 2 (usage errors)."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import SPECS, tlspec
from interpret_support import assert_same, random, spec
from tlspec.cli import app

COPY = str(SPECS / "copy_symbolic.tlspec.yaml")

GATHER = "tlspec: 1\n" + spec("gather_small", dims="{V: symbolic, NI: symbolic}",
                              grid='{bx: "ceildiv(NI, 4)"}', buffers="""
    table: {scope: global, shape: [V, 8], dtype: bfloat16, io: in}
    idx:   {scope: global, shape: [NI], dtype: int64, io: in}
    out:   {scope: global, shape: [NI, 8], dtype: bfloat16, io: out}
""", stages="""
    - gather: {src: table, dst: "out[bx*4 : +4, :]", index: "idx[bx*4 : +4]"}
""")
SCATTER = GATHER.replace("gather_small", "scatter_small").replace(
    "table: {scope: global, shape: [V, 8], dtype: bfloat16, io: in}",
    "table: {scope: global, shape: [V, 8], dtype: bfloat16, io: inout}").replace(
    "io: out", "io: in").replace('- gather: {src: table, dst: "out[bx*4 : +4, :]"',
                                 '- scatter: {src: "out[bx*4 : +4, :]", dst: table')


def run(*args: str):
    result = CliRunner().invoke(app, ["run", *args])
    return result.exit_code, result.output


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_copy_with_dims_and_random_input(here):
    status, output = run(COPY, "--interpret", "--dim", "M=128", "--dim", "N=256", "--out", "res")
    assert (status, output) == (0, "copy_symbolic (M = 128, N = 256): 4 blocks (grid 2 x 2)\n"
                                   "  A  float16  (128, 256)  in   random, seed 0\n"
                                   "  B  float16  (128, 256)  out  32768 of 32768 elements "
                                   "written -> res/B.npy\n")
    b = np.load(here / "res" / "B.npy")
    assert b.dtype == np.float16 and b.shape == (128, 256) and (b != 0).all()


def test_dims_from_an_input_file_and_outputs_in_the_current_folder(here):
    a = random((64, 384))
    np.save(here / "a.npy", a)
    status, output = run(COPY, "--interpret", "--input", "A=a.npy")
    assert status == 0, output
    assert output.splitlines()[1] == "  A  float16  (64, 384)  in   from a.npy"
    assert_same(np.load(here / "B.npy"), a)


def test_random_indices_are_rows_of_the_table_and_the_seed_repeats(here):
    (here / "g.tlspec.yaml").write_text(GATHER)
    status, output = run("g.tlspec.yaml", "--interpret", "--dim", "V=5", "--dim", "NI=11",
                         "--seed", "3")
    assert status == 0, output
    assert output.splitlines()[2] == "  idx    int64     (11,)    in   random rows of 0..4, seed 3"
    first = np.load(here / "out.npy")
    assert first.dtype == np.uint16          # bfloat16 written as its bits
    assert (first != 0).all()
    run("g.tlspec.yaml", "--interpret", "--dim", "V=5", "--dim", "NI=11", "--seed", "3")
    assert np.array_equal(np.load(here / "out.npy"), first)
    run("g.tlspec.yaml", "--interpret", "--dim", "V=5", "--dim", "NI=11", "--seed", "4")
    assert not np.array_equal(np.load(here / "out.npy"), first)


def test_computed_indices_read_tensors_get_rows_of_the_dim_they_index(here):
    """specs/paged_kv_gather: `index: ["block_table[by, t // P]", "t % P"]` has no index region;
    block_table's values index the cache's pages (dim 0), so they are random pages."""
    status, output = run(str(SPECS / "paged_kv_gather.tlspec.yaml"), "--kernel",
                         "paged_kv_gather", "--interpret", "--dim", "B=2", "--dim", "T=32",
                         "--dim", "MAXP=2", "--dim", "NP=5", "--seed", "1")
    assert status == 0, output
    assert "  block_table  int32    (2, 2)         in   random rows of 0..4, seed 1" in output
    assert "65536 of 65536 elements written -> out.npy" in output
    assert (np.load(here / "out.npy") != 0).all()      # every page in range: no zero rows


def test_scatter_indices_are_distinct_rows(here):
    """12 rows scattered into a table of 9: the 3 positions that cannot be distinct rows get
    index -1, which writes nothing."""
    (here / "s.tlspec.yaml").write_text(SCATTER)
    status, output = run("s.tlspec.yaml", "--interpret", "--dim", "V=9", "--dim", "NI=12")
    assert status == 0, output
    assert "random distinct rows of 0..8, seed 0" in output
    assert "72 of 72 elements written -> table.npy" in output


@pytest.mark.parametrize("args, message", [
    ([COPY], "tlspec run runs kernels in the interpreter only, for now: add --interpret. To run "
             "a kernel on a GPU, compile its spec with tlspec compile and call it from the "
             "package it writes (docs/artifacts.md)"),
    (["nowhere.tlspec.yaml", "--interpret"], "'nowhere.tlspec.yaml' does not exist"),
    ([COPY, "--interpret", "--dim", "M=128"],
     "dim N is not given: pass --dim N=VALUE (N a multiple of 128 and >= 128) or an --input "
     "whose shape has it"),
    ([COPY, "--interpret", "--dim", "M"], "--dim M: expected NAME=VALUE, VALUE an integer"),
    ([COPY, "--interpret", "--dim", "M=x"], "--dim M=x: 'x' is not an integer"),
    ([COPY, "--interpret", "--dim", "K=64"],
     "--dim K=64: copy_symbolic has no dim 'K'; its symbolic dims are M, N"),
    ([COPY, "--interpret", "--dim", "M=100"], "--dim M=100: M must be a multiple of 64 and >= 64"),
    ([COPY, "--interpret", "--input", "C=c.npy"],
     "--input C=c.npy: copy_symbolic has no argument 'C'; its arguments are A, B"),
    ([COPY, "--interpret", "--kernel", "copy"],
     f"--kernel copy: {COPY} has no kernel 'copy'; it has copy_symbolic"),
    ([str(SPECS / "copy_tiles.tlspec.yaml"), "--interpret", "--dim", "M=1"],
     "--dim M=1: M is a constant dim (16384)"),
])
def test_usage_errors(here, args, message):
    status, output = run(*args)
    assert (status, output) == (2, f"tlspec: error: {message}\n")


@pytest.mark.parametrize("out, message", [
    ("a_file", "--out a_file is a file; name a folder for the outputs"),
    ("a_file/res", "--out a_file/res: a_file/res cannot be created: a_file is not a directory"),
    ("/proc/res", "--out /proc/res: /proc/res cannot be written: /proc is on a virtual file "
                  "system that takes no new folders (mkdir: No such file or directory); choose a "
                  "folder you can write to"),
    ("/proc", "--out /proc: /proc cannot be written: /proc is on a virtual file system that "
              "takes no new folders (mkdir: No such file or directory); choose a folder you can "
              "write to"),
    ("a_link", "--out a_link is a symbolic link to nothing (or a loop); name a folder for the "
               "outputs"),
])
def test_an_out_folder_that_cannot_be_written_is_refused_before_the_run(here, out, message):
    """It was found after the run, as '--out a_file: File exists' or '--out /proc/res: No such
    file or directory'; an existing folder that takes no files ('--out /proc: No such file or
    directory') and a link to nothing ('--out a_link: File exists') were found after it too."""
    (here / "a_file").write_text("mine")
    if out == "a_link":
        (here / "a_link").symlink_to("nowhere")
    status, output = run(COPY, "--interpret", "--dim", "M=64", "--dim", "N=128", "--out", out)
    assert (status, output) == (2, f"tlspec: error: {message}\n")
    assert sorted(p.name for p in here.iterdir()) == ["a_file"] + ["a_link"] * (out == "a_link")


def test_input_files_that_do_not_fit(here):
    np.save(here / "f32.npy", np.zeros((64, 128), np.float32))
    (here / "text.npy").write_text("not an array")
    status, output = run(COPY, "--interpret", "--input", "A=f32.npy")
    assert (status, output) == (2, "tlspec: error: --input A=f32.npy: copy_symbolic(): argument "
                                   "'A' has dtype float32; expected float16 (or any dtype of 2 "
                                   "bytes: elements are moved as bits)\n")
    status, output = run(COPY, "--interpret", "--input", "A=text.npy")
    assert status == 2 and output.startswith("tlspec: error: --input A=text.npy: cannot read "
                                              "text.npy: ")
    np.save(here / "a.npy", random((64, 100)))
    status, output = run(COPY, "--interpret", "--input", "A=a.npy")
    assert (status, output) == (2, "tlspec: error: copy_symbolic(): argument 'A' has shape "
                                   "(64, 100); expected (M, N) with M a multiple of 64 and "
                                   "M >= 64 and N a multiple of 128 and N >= 128 (got N = 100)\n")


def test_a_file_of_several_kernels_needs_kernel(here):
    (here / "two.tlspec.yaml").write_text(GATHER + "\n---\n" + SCATTER)
    status, output = run("two.tlspec.yaml", "--interpret", "--dim", "V=4", "--dim", "NI=4")
    assert (status, output) == (2, "tlspec: error: two.tlspec.yaml has 2 kernels (gather_small, "
                                   "scatter_small): choose one with --kernel NAME\n")
    status, output = run("two.tlspec.yaml", "--interpret", "--kernel", "scatter_small",
                         "--dim", "V=4", "--dim", "NI=4")
    assert status == 0 and output.startswith("scatter_small (V = 4, NI = 4): 1 block (grid 1)\n")


def test_spec_errors_and_undefined_results_exit_1(here):
    (here / "bad.tlspec.yaml").write_text(GATHER.replace("threads: 32", "threads: 31"))
    status, output = run("bad.tlspec.yaml", "--interpret")
    assert status == 1
    assert output.startswith("bad.tlspec.yaml:8:49: error: 'threads' must be a multiple of 32")
    assert output.endswith("\n2 errors; nothing was run\n")
    (here / "twice.tlspec.yaml").write_text(SCATTER)
    np.save(here / "idx.npy", np.array([1, 2, 1, 0]))
    status, output = run("twice.tlspec.yaml", "--interpret", "--dim", "V=4", "--input",
                         "idx=idx.npy")
    assert (status, output) == (1, "twice.tlspec.yaml:10:61: error: scatter in block (bx=0): "
                                   "writes row 1 of 'table' twice: index positions 0 and 2 hold "
                                   "it\n  at: /stages/0/scatter/index\n  hint: the indices of a "
                                   "scatter must be distinct: two rows written to one table row "
                                   "race\n1 error; no output was written\n")
    assert not (here / "table.npy").exists()


def test_the_command_line_end_to_end(tmp_path):
    result = tlspec("run", COPY, "--interpret", "--dim", "M=64", "--dim", "N=128", "--out",
                    str(tmp_path))
    assert result.returncode == 0 and result.stderr == ""
    assert (tmp_path / "B.npy").is_file()
    result = tlspec("run", COPY, "--dim", "M=64")
    assert result.returncode == 2 and result.stderr.startswith("tlspec: error: tlspec run runs ")
