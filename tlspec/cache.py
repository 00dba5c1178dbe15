"""The compile cache: a content-addressed folder of entries that `tlspec compile` and
`tlspec.load` reuse instead of compiling again (keys: tlspec/cache_key.py).

    $TLSPEC_CACHE_DIR (default: the platform's user cache folder, e.g. ~/.cache/tlspec)
        kernels/<key>/    one compiled kernel: manifest, CUDA source, cubin, PTX, notes
        files/<key>/      what validating and compiling a spec file's bytes gave: its kernels'
                          keys and its warnings (an unchanged file skips validation)
        packages/<key>/   a package of kernels written by tlspec (what tlspec.load imports)
        tmp/              entries being written

Every entry is a folder written whole in tmp/ with a CHECKSUMS.json of its files and renamed
into place: a reader sees a complete entry or none, and when two processes write the same entry
the first rename wins and the second process uses it. An entry whose files do not match their
checksums (a truncated write, a disk error, an edit) is removed and never used.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Callable

CHECKSUMS = "CHECKSUMS.json"
KINDS = ("kernels", "files", "packages")


def default_root() -> Path:
    """The platform's user cache folder for tlspec."""
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "tlspec"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "tlspec" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "tlspec"


def cache_root() -> Path:
    return Path(os.environ.get("TLSPEC_CACHE_DIR") or default_root())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder: Path) -> list[str]:
    """The files under `folder`, relative, except the checksums."""
    found = []
    for parent, _, names in os.walk(folder):
        found += [Path(parent, n).relative_to(folder).as_posix() for n in names]
    return sorted(f for f in found if f != CHECKSUMS)


class Cache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_root()

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str) -> Path | None:
        """The entry's folder when it is there and intact; a damaged entry is removed."""
        folder = self.path(kind, key)
        try:
            sums = json.loads((folder / CHECKSUMS).read_text(encoding="utf-8"))
            if all(_sha256(folder / name) == digest for name, digest in sums.items()):
                return folder
        except FileNotFoundError:
            if not folder.exists():
                return None
        except (OSError, ValueError, AttributeError):
            pass
        self._discard(folder)
        return None

    def put(self, kind: str, key: str, fill: Callable[[Path], None]) -> Path:
        """Write the entry: `fill(folder)` writes its files into a new folder, which becomes the
        entry unless another process put it first (then that one is kept)."""
        tmp = self._fresh_tmp()
        try:
            fill(tmp)
            sums = {name: _sha256(tmp / name) for name in _files(tmp)}
            (tmp / CHECKSUMS).write_text(json.dumps(sums, indent=1), encoding="utf-8")
            final = self.path(kind, key)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():
                    raise
        finally:
            _remove(tmp)
        return final

    def _fresh_tmp(self) -> Path:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        while True:
            tmp = self.root / "tmp" / os.urandom(8).hex()
            try:
                tmp.mkdir()
                return tmp
            except FileExistsError:
                continue

    def _discard(self, folder: Path) -> None:
        """Move a damaged entry out of the way first (atomic), then delete it."""
        try:
            trash = self._fresh_tmp()
            os.rename(folder, trash / "discarded")
        except OSError:
            return   # gone already (another process discarded it), or not removable
        _remove(trash)

    def info(self) -> dict:
        """The folder, and per kind of entry how many and their bytes."""
        report: dict = {"path": str(self.root), "bytes": 0}
        for kind in KINDS:
            folder = self.root / kind
            entries = [e for e in folder.iterdir() if e.is_dir()] if folder.is_dir() else []
            size = sum(f.stat().st_size for e in entries for f in e.rglob("*") if f.is_file())
            report[kind] = {"entries": len(entries), "bytes": size}
            report["bytes"] += size
        return report

    def clear(self) -> int:
        """Remove every entry, and what tmp/ holds; the number of entries removed. (A process
        writing an entry meanwhile loses that entry only: writing the cache never fails a compile.)"""
        removed = 0
        for kind in (*KINDS, "tmp"):
            folder = self.root / kind
            if folder.is_dir():
                removed += sum(1 for _ in folder.iterdir()) if kind != "tmp" else 0
                _remove(folder)
        return removed


def _remove(folder: Path) -> None:
    """Delete a folder and what it holds, if it is there (shutil is imported only then)."""
    if os.path.lexists(folder):
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
