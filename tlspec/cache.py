"""The compile cache: a content-addressed folder of entries that `tlspec compile` and
`tlspec.load` reuse instead of compiling again (keys: tlspec/cache_key.py).

    $TLSPEC_CACHE_DIR (default: the platform's user cache folder, e.g. ~/.cache/tlspec)
        kernels/<key>/    one compiled kernel: manifest, CUDA source, cubin, PTX, notes
        files/<key>/      what validating and compiling a spec file's bytes gave: its kernels'
                          keys and its warnings (an unchanged file skips validation)
        packages/<key>/   a package of kernels written by tlspec (what tlspec.load imports)
        tmp/              entries being written, and entries being deleted
        usage             the bytes the entries hold, kept up to date approximately

Every entry is a folder written whole in tmp/ with a CHECKSUMS.json of its files and renamed
into place: a reader sees a complete entry or none, and when two processes write the same entry
the first rename wins and the second process uses it. An entry whose files do not match their
checksums (a truncated write, a disk error, an edit) is removed and never used.

Size: the cache holds at most $TLSPEC_CACHE_MAX_BYTES (default 2 GiB; 0: no limit). A hit marks
its entry used by setting the folder's modification time, at most once a minute (a stat per
hit). Writing an entry adds its bytes to `usage`; when that passes the limit, the entries are
listed and the least recently used ones deleted until the cache holds at most 80% of the limit
(so that the listing is not repeated at every insert). An entry used in the last ten minutes is
never deleted (a process may be reading it), and deleting is a rename into tmp/ (atomic) before
the folder is removed: a reader finds a whole entry or none. `usage` is read and written without
a lock; a lost update only delays an eviction, and every listing writes the true total.

Leftovers: a process killed while writing an entry (or while deleting one) leaves its folder in
tmp/. Every write first deletes what tmp/ holds that is older than an hour (no write takes that
long), so leftovers never pile up; `tlspec cache clear` deletes them all.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional

CHECKSUMS = "CHECKSUMS.json"
KINDS = ("kernels", "files", "packages", "launchers")
MAX_BYTES_VARIABLE = "TLSPEC_CACHE_MAX_BYTES"
DEFAULT_MAX_BYTES = 2 * 1024 ** 3
TOUCH_EVERY = 60             # seconds: a hit marks its entry used at most this often
KEEP_RECENT = 600            # seconds: an entry used this recently is never evicted
LOW_WATER = 0.8              # an eviction leaves the cache at most this full
STALE_TMP = 3600             # seconds: a folder in tmp/ this old was left by a killed process
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def max_bytes() -> Optional[int]:
    """The cache's size limit from $TLSPEC_CACHE_MAX_BYTES (None: no limit); ValueError saying
    what is wrong with a value that is not a size."""
    text = os.environ.get(MAX_BYTES_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    import re

    match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([KMGT]?)(?:I?B)?", text.upper())
    if match is None:
        raise ValueError(f"{MAX_BYTES_VARIABLE}={text!r} is not a size: give bytes (2147483648) "
                         "or a number with K, M, G or T (2G, 500M); 0 for no limit")
    return int(float(match[1]) * _UNITS[match[2]]) or None


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
    def __init__(self, root: Path | None = None, limit: Optional[int] = -1) -> None:
        """limit: the most bytes it may hold (None: no limit; by default max_bytes())."""
        self.root = Path(root) if root is not None else cache_root()
        self.limit = max_bytes() if limit == -1 else limit

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str) -> Path | None:
        """The entry's folder when it is there and intact; a damaged entry is removed."""
        folder = self.path(kind, key)
        try:
            sums = json.loads((folder / CHECKSUMS).read_text(encoding="utf-8"))
            if all(_sha256(folder / name) == digest for name, digest in sums.items()):
                _touch(folder)
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
        self._sweep_tmp()
        tmp = self._fresh_tmp()
        try:
            fill(tmp)
            sums = {name: _sha256(tmp / name) for name in _files(tmp)}
            (tmp / CHECKSUMS).write_text(json.dumps(sums, indent=1), encoding="utf-8")
            size = _bytes(tmp)
            final = self.path(kind, key)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():
                    raise
            else:
                self._count(size)
        finally:
            _remove(tmp)
        return final

    # -- size ----------------------------------------------------------------------------------
    def _count(self, size: int) -> None:
        """Add a new entry's bytes to `usage`; evict when the cache is over its limit."""
        if self.limit is None:
            return
        usage = self._usage()
        if usage is None:
            self.evict()                      # no usage yet: list the entries once
        elif usage + size > self.limit:
            self.evict()
        else:
            self._write_usage(usage + size)

    def entries(self) -> list:
        """(last use, bytes, folder) of every entry, least recently used first."""
        found = []
        for kind in KINDS:
            folder = self.root / kind
            for entry in (folder.iterdir() if folder.is_dir() else ()):
                try:
                    found.append((entry.stat().st_mtime, _bytes(entry), entry))
                except OSError:
                    continue                  # deleted meanwhile
        return sorted(found, key=lambda e: e[0])

    def evict(self, now: Optional[float] = None) -> int:
        """Delete the least recently used entries (not those used in the last KEEP_RECENT
        seconds) until the cache holds at most LOW_WATER of its limit, when it holds more than
        the limit; the number deleted."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        removed = 0
        if self.limit is not None and total > self.limit:
            now = time.time() if now is None else now
            for used, size, folder in entries:
                if total <= self.limit * LOW_WATER:
                    break
                if now - used >= KEEP_RECENT and self._discard(folder):
                    total -= size
                    removed += 1
        self._write_usage(total)
        return removed

    def _usage(self) -> Optional[int]:
        try:
            return int((self.root / "usage").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _write_usage(self, total: int) -> None:
        """Write `usage` whole (a temporary file renamed over it)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            part = self.root / f"usage.{os.urandom(4).hex()}"
            part.write_text(str(total), encoding="utf-8")
            os.replace(part, self.root / "usage")
        except OSError:
            pass                              # a read-only cache: nothing to keep up to date

    def _fresh_tmp(self) -> Path:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        while True:
            tmp = self.root / "tmp" / os.urandom(8).hex()
            try:
                tmp.mkdir()
                return tmp
            except FileExistsError:
                continue

    def _sweep_tmp(self, now: Optional[float] = None) -> None:
        """Delete what tmp/ holds that is older than STALE_TMP: the leftovers of processes killed
        while they wrote or deleted an entry (a listing of a folder that is normally empty)."""
        now = time.time() if now is None else now
        try:
            leftovers = list(os.scandir(self.root / "tmp"))
        except OSError:
            return
        for leftover in leftovers:
            try:
                if now - leftover.stat(follow_symlinks=False).st_mtime > STALE_TMP:
                    _remove(Path(leftover.path))
            except OSError:
                continue                      # removed meanwhile

    def _discard(self, folder: Path) -> bool:
        """Move an entry out of the way first (atomic), then delete it; whether it was this
        call that removed it."""
        try:
            trash = self._fresh_tmp()
        except OSError:
            return False
        try:
            os.rename(folder, trash / "discarded")
        except OSError:
            _remove(trash)
            return False   # gone already (another process discarded it), or not removable
        _remove(trash)
        return True

    def info(self) -> dict:
        """The folder, its limit, and per kind of entry how many and their bytes (the listing
        also brings `usage` up to date)."""
        report: dict = {"path": str(self.root), "bytes": 0, "limit": self.limit}
        for kind in KINDS:
            report[kind] = {"entries": 0, "bytes": 0}
        for _, size, folder in self.entries():
            report[folder.parent.name]["entries"] += 1
            report[folder.parent.name]["bytes"] += size
            report["bytes"] += size
        if self.root.is_dir():
            self._write_usage(report["bytes"])
        return report

    def clear(self, older_than: Optional[float] = None) -> int:
        """Remove every entry, and what tmp/ holds; with older_than (seconds), only the entries
        not used for that long. The number of entries removed. (A process writing an entry
        meanwhile loses that entry only: writing the cache never fails a compile.)"""
        if older_than is not None:
            now = time.time()
            removed = sum(self._discard(folder) for used, _, folder in self.entries()
                          if now - used > older_than)
            if self.root.is_dir():
                self.evict()                  # brings `usage` up to date
            return removed
        removed = 0
        (self.root / "usage").unlink(missing_ok=True)
        for kind in (*KINDS, "tmp"):
            folder = self.root / kind
            if folder.is_dir():
                removed += sum(1 for _ in folder.iterdir()) if kind != "tmp" else 0
                _remove(folder)
        return removed


def _touch(folder: Path) -> None:
    """Mark an entry used now, when it was last marked more than TOUCH_EVERY seconds ago."""
    try:
        if time.time() - folder.stat().st_mtime > TOUCH_EVERY:
            os.utime(folder)
    except OSError:
        pass                                  # a read-only cache: its entries still serve


def _bytes(folder: Path) -> int:
    """The bytes of the files under folder."""
    total = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.stat(os.path.join(parent, name)).st_size
            except OSError:
                pass
    return total


def _remove(folder: Path) -> None:
    """Delete a folder and what it holds, if it is there (shutil is imported only then)."""
    if os.path.lexists(folder):
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
