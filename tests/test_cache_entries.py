"""tlspec/cache_entries.py: a kernel artifact and a file's record come back from the cache as
they went in, the record's diagnostics located in the file as the reader names it."""
from tlspec.cache import Cache
from tlspec.cache_entries import KernelRecord, get_file, get_kernel, put_file, put_kernel
from tlspec.diagnostics import Diagnostic, Location, Severity
from tlspec.package import KernelArtifact


def test_a_kernel_comes_back_as_it_went_in(tmp_path):
    cache = Cache(tmp_path)
    for ptx in (None, ".version 8.0\n"):
        art = KernelArtifact("copy_rows", {"name": "copy_rows", "format": 1}, "__global__ ...",
                             b"\x7fELF\0\1", ptx, (("/stages/0/copy", "slow", "use tma"),))
        put_kernel(cache, f"k{ptx is None}", art)
        assert get_kernel(cache, f"k{ptx is None}") == art
    assert get_kernel(cache, "absent") is None


def test_a_files_record_is_located_in_the_file_as_named_now(tmp_path):
    cache = Cache(tmp_path)
    warning = Diagnostic(Severity.WARNING, Location("old/name.tlspec.yaml", 3, 5), "deprecated",
                         "/stages/0", "rename it")
    records = [KernelRecord("copy_rows", "key1", "sm_90a")]
    put_file(cache, "f", records, [warning])
    kernels, diagnostics = get_file(cache, "f", "new.tlspec.yaml")
    assert kernels == records
    assert [str(d) for d in diagnostics] == [
        "new.tlspec.yaml:3:5: warning: deprecated\n  at: /stages/0\n  hint: rename it"]
