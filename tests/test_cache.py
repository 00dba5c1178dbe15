"""tlspec/cache.py: entries are written whole or not at all, a damaged entry is never used, and
two processes writing the same entry are safe."""
import json
import subprocess
import sys

from tlspec.cache import CHECKSUMS, Cache, cache_root


def _fill(text):
    def fill(folder):
        (folder / "a.txt").write_text(text)
        (folder / "sub").mkdir()
        (folder / "sub" / "b.bin").write_bytes(b"\0" * 100)
    return fill


def test_an_entry_is_read_back_as_written(tmp_path):
    cache = Cache(tmp_path)
    folder = cache.put("kernels", "k1", _fill("hello"))
    assert cache.get("kernels", "k1") == folder
    assert (folder / "a.txt").read_text() == "hello"
    assert set(json.loads((folder / CHECKSUMS).read_text())) == {"a.txt", "sub/b.bin"}
    assert cache.get("kernels", "absent") is None
    assert not any((tmp_path / "tmp").iterdir())


def test_a_truncated_entry_is_removed_not_used(tmp_path):
    cache = Cache(tmp_path)
    folder = cache.put("kernels", "k1", _fill("hello"))
    (folder / "sub" / "b.bin").write_bytes(b"\0" * 10)
    assert cache.get("kernels", "k1") is None
    assert not folder.exists()
    cache.put("kernels", "k1", _fill("again"))        # and it can be written anew
    assert (cache.get("kernels", "k1") / "a.txt").read_text() == "again"


def test_an_entry_without_its_checksums_is_removed(tmp_path):
    cache = Cache(tmp_path)
    folder = cache.put("files", "f", _fill("x"))
    (folder / CHECKSUMS).unlink()
    assert cache.get("files", "f") is None and not folder.exists()
    folder = cache.put("files", "f", _fill("x"))
    (folder / CHECKSUMS).write_text("{not json")
    assert cache.get("files", "f") is None and not folder.exists()


def test_the_first_writer_of_an_entry_wins(tmp_path):
    cache = Cache(tmp_path)
    cache.put("kernels", "k", _fill("first"))
    cache.put("kernels", "k", _fill("second"))
    assert (cache.get("kernels", "k") / "a.txt").read_text() == "first"


def test_processes_writing_one_entry_at_once_leave_one_intact_entry(tmp_path):
    script = ("import sys\nfrom pathlib import Path\nfrom tlspec.cache import Cache\n"
              "def fill(folder):\n    (folder / 'data').write_bytes(sys.argv[1].encode() * 200000)\n"
              "for _ in range(20):\n    Cache(Path(sys.argv[2])).put('kernels', 'same', fill)\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, tag, str(tmp_path)])
             for tag in "ab"]
    assert [p.wait() for p in procs] == [0, 0]
    folder = Cache(tmp_path).get("kernels", "same")
    assert folder is not None
    assert set((folder / "data").read_bytes()) in ({ord("a")}, {ord("b")})
    assert not any((tmp_path / "tmp").iterdir())


def test_info_counts_entries_and_clear_removes_them(tmp_path):
    cache = Cache(tmp_path)
    cache.put("kernels", "k1", _fill("x"))
    cache.put("kernels", "k2", _fill("y"))
    cache.put("files", "f", _fill("z"))
    info = cache.info()
    assert info["path"] == str(tmp_path)
    assert info["kernels"]["entries"] == 2 and info["files"]["entries"] == 1
    assert info["packages"] == {"entries": 0, "bytes": 0}
    assert info["bytes"] == sum(v["bytes"] for k, v in info.items() if isinstance(v, dict))
    assert cache.clear() == 3
    assert cache.info()["bytes"] == 0 and cache.get("kernels", "k1") is None


def test_the_folder_is_tlspec_cache_dir_or_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TLSPEC_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("TLSPEC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert cache_root() == tmp_path / "xdg" / "tlspec"
