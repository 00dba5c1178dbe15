"""The tune record, `<spec>.tune.json` beside its spec (commit it with the spec): per tuned
kernel, the hash of its document (so that a record of an older spec is detected), the device
and tlspec version it was measured with, and per size class the winning parameter values and
the measured figures. JSON with sorted keys and one entry a line, so that diffs read well.

`tlspec tune --record RESULTS` writes it from a measured bundle; `tlspec compile` reads it
(chosen())."""
from __future__ import annotations

import json
from pathlib import Path

from typing import TYPE_CHECKING

from ..cache_key import digest

if TYPE_CHECKING:         # the GPU machine writes records too: no yaml needed for that
    from ..model import Kernel

FORMAT = 1
SUFFIX = ".tune.json"
SPEC_SUFFIXES = (".tlspec.yaml", ".tlspec.yml", ".yaml", ".yml")


def record_path(spec: str | Path) -> Path:
    """specs/transpose.tlspec.yaml -> specs/transpose.tune.json."""
    path = Path(spec)
    name = path.name
    for suffix in SPEC_SUFFIXES:
        if name.endswith(suffix):
            name = name[:-len(suffix)]
            break
    return path.with_name(name + SUFFIX)


def spec_hash(kernel: Kernel) -> str:
    """The hash of the kernel's document as validated (comments and layout do not count)."""
    return digest("tune", kernel.document.data)[:16]


def read_record(spec: str | Path) -> dict | None:
    """The record beside `spec`; None when there is none or it is unreadable."""
    try:
        record = json.loads(record_path(spec).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def record_bytes(spec: str | Path) -> bytes:
    """The record's bytes (empty without one): what a compile's cache key covers."""
    try:
        return record_path(spec).read_bytes()
    except OSError:
        return b""


def write_record(results: dict) -> Path:
    """Write (or update: other kernels' entries are kept) the record of a measured bundle (its
    manifest is in the results, as measure.py writes them)."""
    bundle = results["bundle"]
    path = Path(bundle["record"])
    record = read_record(bundle["spec"]) or {"format": FORMAT, "kernels": {}}
    for name, measured in results["kernels"].items():
        classes = {}
        for size_class, found in measured["classes"].items():
            if found.get("winner") is None:
                continue
            winner = found["variants"][found["winner"]]
            classes[size_class] = {"choice": winner["choice"], "us": winner["us"],
                                   "first_us": found["variants"][found["reference"]]["us"],
                                   "dims": found["dims"],
                                   "variants": {label: v.get("us", v["status"])
                                                for label, v in found["variants"].items()}}
        record["kernels"][name] = {"spec_hash": bundle["kernels"][name]["spec_hash"],
                                   "device": results["device"], "tlspec": bundle["tlspec"],
                                   "classes": classes}
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def chosen(kernel: Kernel,
           record: dict | None) -> tuple[dict[str, dict[str, int | str]], str | None]:
    """The winning choice per size class that the record holds for `kernel` ({} without one),
    and why the record is not used (a stale or foreign record), or None."""
    entry = (record or {}).get("kernels", {}).get(kernel.name)
    if entry is None:
        return {}, None
    if entry.get("spec_hash") != spec_hash(kernel):
        return {}, "stale"
    classes = {}
    for size_class, found in sorted(entry.get("classes", {}).items()):
        choice = found.get("choice", {})
        if set(choice) != set(kernel.tunables) or any(
                value not in kernel.tunables[n].candidates for n, value in choice.items()):
            return {}, "stale"
        classes[size_class] = {n: choice[n] for n in kernel.tunables}
    return classes, None
