"""tlspec/cache.py's size limit: $TLSPEC_CACHE_MAX_BYTES, least recently used entries evicted
when an insert passes the limit (down to LOW_WATER of it, never one used in the last
KEEP_RECENT seconds), hits marking their entry used at most once a minute,
`clear(older_than=...)`, and the leftovers of killed writers in tmp/ swept."""
import os
import time

import pytest

from tlspec.cache import (DEFAULT_MAX_BYTES, KEEP_RECENT, LOW_WATER, STALE_TMP, TOUCH_EVERY,
                          Cache, max_bytes)

ENTRY = 1000                  # bytes of each test entry


def _fill(folder):
    (folder / "data.bin").write_bytes(b"\1" * ENTRY)


def _age(cache, kind, key, seconds):
    """Pretend the entry was last used `seconds` ago."""
    folder = cache.path(kind, key)
    then = time.time() - seconds
    os.utime(folder, (then, then))


@pytest.mark.parametrize("value, expected", [
    ("", DEFAULT_MAX_BYTES), ("0", None), ("1048576", 1 << 20), ("2G", 2 << 30),
    ("500M", 500 << 20), ("1.5GiB", 3 << 29), ("64kb", 64 << 10)])
def test_the_limit_comes_from_tlspec_cache_max_bytes(monkeypatch, value, expected):
    monkeypatch.setenv("TLSPEC_CACHE_MAX_BYTES", value)
    assert max_bytes() == expected


@pytest.mark.parametrize("value", ["lots", "-1", "2X", "G"])
def test_a_limit_that_is_not_a_size_says_how_to_write_one(monkeypatch, value):
    monkeypatch.setenv("TLSPEC_CACHE_MAX_BYTES", value)
    with pytest.raises(ValueError, match=r"TLSPEC_CACHE_MAX_BYTES=.* is not a size: give bytes"):
        Cache()


def test_an_insert_past_the_limit_evicts_the_least_recently_used(tmp_path):
    limit = 10 * 1100                          # ten entries and their checksum files
    cache = Cache(tmp_path, limit=limit)
    for i in range(10):
        cache.put("kernels", f"k{i}", _fill)
        _age(cache, "kernels", f"k{i}", KEEP_RECENT + 1000 - i)   # k0 the oldest
    _age(cache, "kernels", "k3", KEEP_RECENT + 5000)               # now older than k0
    cache.put("files", "new", _fill)                               # over the limit
    kept = {e[2].name for e in cache.entries()}
    assert "k3" not in kept and "k0" not in kept and "new" in kept
    assert sum(size for _, size, _ in cache.entries()) <= limit * LOW_WATER
    assert len(kept) == 8                                          # no more than needed
    assert cache.info()["bytes"] == int((tmp_path / "usage").read_text())
    assert not any((tmp_path / "tmp").iterdir())                   # deleted, not left in tmp/


def test_entries_used_lately_are_never_evicted(tmp_path):
    cache = Cache(tmp_path, limit=3000)
    for i in range(5):
        cache.put("kernels", f"k{i}", _fill)                       # all just used
    assert len(cache.entries()) == 5                               # over the limit, all kept
    _age(cache, "kernels", "k1", KEEP_RECENT + 1)
    cache.put("kernels", "k5", _fill)
    assert "k1" not in {e[2].name for e in cache.entries()}


def test_a_hit_marks_its_entry_used_at_most_once_a_minute(tmp_path):
    cache = Cache(tmp_path)
    folder = cache.put("kernels", "k", _fill)
    _age(cache, "kernels", "k", TOUCH_EVERY - 10)
    before = folder.stat().st_mtime
    assert cache.get("kernels", "k") == folder
    assert folder.stat().st_mtime == before                        # marked recently: untouched
    _age(cache, "kernels", "k", TOUCH_EVERY + 10)
    cache.get("kernels", "k")
    assert time.time() - folder.stat().st_mtime < 5


def test_usage_is_counted_per_insert_and_rebuilt_when_missing(tmp_path):
    cache = Cache(tmp_path)
    cache.put("kernels", "a", _fill)
    first = int((tmp_path / "usage").read_text())
    cache.put("kernels", "b", _fill)
    assert int((tmp_path / "usage").read_text()) == 2 * first
    cache.put("kernels", "b", _fill)                  # already there: nothing added
    assert int((tmp_path / "usage").read_text()) == 2 * first
    (tmp_path / "usage").unlink()
    cache.put("kernels", "c", _fill)                  # listed once, then counted
    assert int((tmp_path / "usage").read_text()) == 3 * first


def test_no_limit_counts_nothing(tmp_path):
    cache = Cache(tmp_path, limit=None)
    for i in range(3):
        cache.put("kernels", f"k{i}", _fill)
    assert len(cache.entries()) == 3 and not (tmp_path / "usage").exists()


def test_clear_older_than_removes_only_entries_not_used_since(tmp_path):
    cache = Cache(tmp_path)
    for key in ("old", "new"):
        cache.put("kernels", key, _fill)
    _age(cache, "kernels", "old", 3 * 86400)
    assert cache.clear(older_than=2 * 86400) == 1
    assert [e[2].name for e in cache.entries()] == ["new"]
    assert int((tmp_path / "usage").read_text()) == cache.info()["bytes"]


def test_a_write_sweeps_the_leftovers_of_killed_writers_from_tmp(tmp_path):
    """A folder in tmp/ older than STALE_TMP was left by a process killed mid-write (or
    mid-delete): the next write deletes it; a younger one may still be being written: kept."""
    cache = Cache(tmp_path, limit=None)
    stale, young = tmp_path / "tmp" / "0123456789abcdef", tmp_path / "tmp" / "fedcba9876543210"
    for folder, age in ((stale, STALE_TMP + 60), (young, STALE_TMP - 60)):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "kernel.cubin").write_bytes(b"\0" * 4096)
        then = time.time() - age
        os.utime(folder, (then, then))
    cache.put("kernels", "k", _fill)
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == [young.name]
    assert cache.get("kernels", "k") is not None
