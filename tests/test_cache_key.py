"""tlspec/cache_key.py: a kernel's key is its validated content, target and options, the same in
every process; not its file's path, comments or layout."""
import os
import subprocess
import sys

from tlspec.cache_key import environment, file_key, kernel_key
from tlspec.validate import validate_text

SPEC = """tlspec: 1
name: copy_rows
dims: {M: 128, N: 256}
buffers:
  A: {scope: global, shape: [M, N], dtype: float16, io: in}
  B: {scope: global, shape: [M, N], dtype: float16, io: out}
launch:
  grid: {bx: "ceildiv(M, 64)"}
  threads: 128
stages:
  - copy: {src: "A[bx*64 : +64, :]", dst: "B[bx*64 : +64, :]"}
"""
REFORMATTED = "# the same kernel, written differently\n" + SPEC.replace(
    "dims: {M: 128, N: 256}", "dims:\n  M: 128   # rows\n  N: 256").replace(
    "threads: 128", "threads:   128")


def key_of(text, path="a.tlspec.yaml", target="sm_90a", ptx=False):
    (kernel,) = validate_text(text, path).kernels
    return kernel_key(kernel.document.data, target, ptx)


def test_path_comments_and_layout_do_not_change_the_key():
    assert key_of(SPEC) == key_of(REFORMATTED, "elsewhere/b.tlspec.yaml")


def test_content_target_and_options_change_the_key():
    base = key_of(SPEC)
    assert key_of(SPEC.replace("threads: 128", "threads: 256")) != base
    assert key_of(SPEC, target="sm_100a") != base
    assert key_of(SPEC, ptx=True) != base
    assert file_key(SPEC.encode(), False) != file_key(REFORMATTED.encode(), False)


def test_reordered_buffers_are_another_kernel():
    """The buffers' order is the wrapper's argument order: a cached kernel of the other order
    would bind every argument to the wrong tensor."""
    swapped = SPEC.replace(
        "  A: {scope: global, shape: [M, N], dtype: float16, io: in}\n"
        "  B: {scope: global, shape: [M, N], dtype: float16, io: out}\n",
        "  B: {scope: global, shape: [M, N], dtype: float16, io: out}\n"
        "  A: {scope: global, shape: [M, N], dtype: float16, io: in}\n")
    assert swapped != SPEC
    assert key_of(swapped) != key_of(SPEC)


def test_keys_are_the_same_in_another_process():
    """Nothing process-local (ids, hash seeds, times) enters a key."""
    script = ("from tlspec.cache_key import environment, file_key\n"
              "print(environment(), file_key(b'x', False))")
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": "123"})
    assert other.stdout.split() == [environment(), file_key(b"x", False)]
