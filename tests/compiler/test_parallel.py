"""tlspec/compiler/parallel.py: kernels compiled by worker processes are the kernels this process
compiles, their errors located alike; a terminal shows a progress bar."""
import os
import pty
import subprocess
import sys

import pytest

from tlspec.compiler.parallel import Options, compile_all
from tlspec.discover import read_file
from tlspec.diagnostics import Diagnostics
from tlspec.validate import validate_paths

from conftest import ROOT

pytest.importorskip("tvm", reason="compiling needs tvm")

SPECS = [ROOT / "specs" / "copy_tiles.tlspec.yaml", ROOT / "specs" / "im2col.tlspec.yaml"]


def kernels_of(paths):
    validation = validate_paths([str(p) for p in paths])
    assert validation.ok
    return [(k, read_file(ROOT / k.path, Diagnostics(), k.path)) for k in validation.kernels]


def test_workers_compile_what_this_process_compiles():
    kernels = kernels_of(SPECS)
    here = compile_all(kernels, Options(), workers=1)
    there = compile_all(kernels, Options(), workers=2)
    assert [(a.name, a.cubin, a.manifest, diags) for a, diags in here] == \
        [(a.name, a.cubin, a.manifest, diags) for a, diags in there]


def test_a_terminal_shows_a_progress_bar(tmp_path):
    """On a terminal (stderr a tty) `tlspec compile` draws its bar there; off one it is quiet
    (tests/test_cli_cache.py)."""
    main, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "tlspec", "compile", *map(str, SPECS),
                                "-o", str(tmp_path / "k"), "--no-cache", "-j", "1"],
                               stdout=subprocess.DEVNULL, stderr=secondary,
                               env={**os.environ, "COLUMNS": "100", "TERM": "xterm"})
    os.close(secondary)
    shown = b""
    while True:               # read as it is drawn (a full terminal would block the command)
        try:
            chunk = os.read(main, 4096)
        except OSError:       # the command closed the terminal: it has ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert process.wait() == 0
    assert b"compiling" in shown and b"2/2" in shown
