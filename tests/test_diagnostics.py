"""Diagnostics as values: the collection keeps each problem once, in time linear in their number."""
import time

from tlspec.diagnostics import Diagnostics, Location
from tlspec.validate import validate_text

from conftest import ROOT

BASE = (ROOT / "specs" / "copy_tiles.tlspec.yaml").read_text(encoding="utf-8")


def test_the_same_diagnostic_is_kept_once():
    diags = Diagnostics()
    for _ in range(3):
        diags.error(Location("a.tlspec.yaml", 3, 4), "bad", pointer="/x", hint="fix it")
    diags.error(Location("a.tlspec.yaml", 3, 4), "bad", pointer="/x", hint="another hint")
    assert len(diags) == 2


def test_five_thousand_errors_validate_in_bounded_time():
    """Each error was once checked against every earlier one: 5000 errors took 12 s. Two
    errors from each of 1000 dims and three from each of 1000 gathers (a kernel holds at most
    1024 stages)."""
    dims = "".join(f"  D{i}: {{symbolic: true, min: 5, max: 2}}\n" for i in range(1000))
    gathers = "".join(f"  - gather: {{src: T{i}, dst: O{i}, index: I{i}}}\n" for i in range(1000))
    text = BASE.replace("dims:\n", "dims:\n" + dims, 1) + gathers
    start = time.process_time()     # CPU time: other work on the machine does not count
    result = validate_text(text, "many.tlspec.yaml")
    elapsed = time.process_time() - start
    assert len(result.diagnostics.errors) == 5000
    assert elapsed < 3.0, f"5000 errors took {elapsed:.1f} s"
