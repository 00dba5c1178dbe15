"""Which spec files a command's paths name (files as given, folders searched for *.tlspec.yaml),
and reading them.
Kept apart from validation (and light) so that a compile answered from the cache needs neither
the validator nor tvm."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .diagnostics import Diagnostics, Location

SPEC_SUFFIX = ".tlspec.yaml"
MAX_FILE_BYTES = 256 << 10


class UsageError(Exception):
    """A command-line mistake (a path that does not exist, a folder without specs)."""


def discover(paths: Iterable[str], diags: Diagnostics) -> list[tuple[Path, str]]:
    """Spec files named by `paths` (files, or folders searched for *.tlspec.yaml), with the path
    to show for each: as the user wrote it, so that editors and terminals can follow it. A
    subfolder that cannot be read is an error in `diags` (its specs would be missed); a path
    that does not exist, cannot be read or holds no spec is a UsageError."""
    found: list[tuple[Path, str]] = []
    for given in paths:
        path = Path(given)
        if path.is_file():
            found.append((path, given))
        elif path.is_dir():
            specs, unreadable = _specs_under(path)
            if unreadable and unreadable[0][0] == path:
                raise UsageError(f"cannot read the folder '{given}': {unreadable[0][1]}")
            for folder, reason in unreadable:
                diags.error(Location(os.path.join(given, str(folder.relative_to(path)))),
                            f"cannot read this folder: {reason}; its specs are not checked",
                            hint="make it readable, or name the folders to check")
            if not specs and not unreadable:
                raise UsageError(f"no *{SPEC_SUFFIX} files under '{given}'")
            found.extend((p, os.path.join(given, str(p.relative_to(path)))) for p in specs)
        elif path.exists():            # a pipe or device named on purpose: <(...), /dev/stdin
            found.append((path, given))
        else:
            raise UsageError(f"'{given}' does not exist")
    return found


def _specs_under(top: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The spec files under `top` (sorted; folders starting with '.' and node_modules skipped,
    symbolic links to folders not followed) and the folders that could not be read, with why."""
    specs: list[Path] = []
    unreadable: list[tuple[Path, str]] = []

    def failed(error: OSError) -> None:
        unreadable.append((Path(error.filename), error.strerror or str(error)))

    for folder, subfolders, files in os.walk(top, onerror=failed):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d != "node_modules")
        specs.extend(Path(folder, f) for f in files if f.endswith(SPEC_SUFFIX)
                     and Path(folder, f).is_file())
    return sorted(specs), sorted(unreadable)


def read_file(path: Path, diags: Diagnostics, shown: str) -> bytes | None:
    """The bytes of a spec file; None when it cannot be read or is oversized (a diagnostic)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)        # bounded: a pipe has no size to ask
        if len(data) > MAX_FILE_BYTES:
            size = path.stat().st_size if path.is_file() else 0
            diags.error(Location(shown), (f"file is {size} bytes" if size else
                                          f"file is more than {MAX_FILE_BYTES} bytes")
                        + f"; spec files are limited to {MAX_FILE_BYTES} bytes",
                        hint="split it into several *.tlspec.yaml files")
            return None
        return data
    except OSError as err:
        diags.error(Location(shown), f"cannot read file: {err.strerror or err}")
        return None
