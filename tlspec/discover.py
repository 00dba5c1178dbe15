"""Which spec files a command's paths name (files as given, folders searched for *.tlspec.yaml),
and reading them.
Kept apart from validation (and light) so that a compile answered from the cache needs neither
the validator nor tvm."""
from __future__ import annotations

import errno
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
            broken = _broken_links(specs)
            for link in broken:
                diags.error(Location(os.path.join(given, str(link.relative_to(path)))),
                            f"this spec file is {link_problem(link)}; it is not checked",
                            hint="point the link at a spec file, or remove it")
            specs = [p for p in specs if p not in broken]
            if not specs and not unreadable and not broken:
                raise UsageError(f"no *{SPEC_SUFFIX} files under '{given}'")
            found.extend((p, os.path.join(given, str(p.relative_to(path)))) for p in specs)
        elif path.exists():            # a pipe or device named on purpose: <(...), /dev/stdin
            found.append((path, given))
        elif path.is_symlink():
            raise UsageError(f"'{given}' is {link_problem(path)}")
        else:
            raise UsageError(f"'{given}' does not exist")
    return found


def _broken_links(paths: list[Path]) -> list[Path]:
    """Those of `paths` that are symbolic links leading nowhere (to nothing, or in a loop)."""
    return [p for p in paths if p.is_symlink() and not p.exists()]


def link_problem(link: Path) -> str:
    """What is wrong with a symbolic link that leads nowhere."""
    try:
        link.stat()
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a symbolic link loop"
    return f"a symbolic link to '{os.readlink(link)}', which does not exist"


def _specs_under(top: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The spec files under `top` (sorted; folders starting with '.' and node_modules skipped,
    symbolic links to folders not followed) and the folders that could not be read, with why."""
    specs: list[Path] = []          # with links that lead nowhere, for discover to report
    unreadable: list[tuple[Path, str]] = []

    def failed(error: OSError) -> None:
        unreadable.append((Path(error.filename), error.strerror or str(error)))

    for folder, subfolders, files in os.walk(top, onerror=failed):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d != "node_modules")
        specs.extend(Path(folder, f) for f in files if f.endswith(SPEC_SUFFIX)
                     and (Path(folder, f).is_file() or _broken_links([Path(folder, f)])))
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
        denied = err.errno in (errno.EACCES, errno.EPERM)
        diags.error(Location(shown), f"cannot read file: {err.strerror or err}",
                    hint=f"give yourself read permission (chmod u+r {shown}), or leave it out"
                    if denied else "copy the spec into a regular file, or leave it out")
        return None
