"""tlspec/suggest.py: 'did you mean' among a spec's names, keys and enum values."""
import time

from tlspec.suggest import closest, did_you_mean


def test_close_names_aliases_and_prefixes():
    assert closest("tmaa", ["tma", "cp_async", "sync"]) == "tma"
    assert closest("fp16", ["float16", "bfloat16"]) == "float16"
    assert closest("prefer", ["prefer_instruction", "eviction_policy"]) == "prefer_instruction"
    assert did_you_mean("zzz", ["tma", "sync"]) == ""


def test_thousands_of_names_stay_fast_and_still_suggest():
    """A generated spec's thousands of names: each suggestion looks at the names of about the
    misspelt one's length (at most POOL of them), not at every name with difflib."""
    names = [f"buffer_{i}" for i in range(5000)] + ["table"]
    start = time.process_time()
    for i in range(300):
        closest(f"tabel{i % 3}", names)
    assert time.process_time() - start < 2.0
    assert closest("tabel", names) == "table"
