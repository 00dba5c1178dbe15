"""Bit-exact comparison of what a kernel wrote with what the interpreter says it must write."""
from __future__ import annotations

import numpy as np

FIRST = 4           # differing indices reported per output


def compare(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray],
            poison: dict[str, int], guards: dict[str, list[int]]) -> dict:
    """The result of one call: 'pass', or 'mismatch' with, per output that differs, the number
    of elements the kernel left unwritten (still poisoned where the interpreter wrote), the
    number it got wrong (any other difference), the first differing indices, and the elements
    written in the guard regions around it (before, after)."""
    outputs = {}
    for name, want in expected.items():
        got = actual[name]
        diff = got != want
        damage = guards.get(name, [0, 0])
        if not diff.any() and not any(damage):
            continue
        unwritten = int((diff & (got == poison[name])).sum())
        outputs[name] = {"unwritten": unwritten, "wrong": int(diff.sum()) - unwritten,
                         "guard": list(damage), "elements": int(want.size),
                         "first": np.argwhere(diff)[:FIRST].tolist()}
    return {"status": "mismatch", "outputs": outputs} if outputs else {"status": "pass"}
