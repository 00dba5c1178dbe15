"""The compiled launcher a package carries: codegen/_native_launch.c (what it does: that file
and codegen/_native.py), built with the host's C compiler into LIBRARY, a CPython extension of
the stable ABI (one file serves CPython 3.10 and later), once per (source, compiler, Python
headers, machine) into the cache, and copied into every package written.

Where it cannot be built (not Linux, no C compiler, no Python headers, or
TLSPEC_NATIVE_LAUNCH=0), packages are written without it and launch through their Python path
alone, which is correct and about 1.5 us slower per call; `library()` says why, and
`tlspec compile` prints it once as a note."""
from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Optional

LIBRARY = "_native_launch.abi3.so"
SOURCE = "_native_launch.c"
FLAGS = ["-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-fno-strict-aliasing"]


def _compiler() -> Optional[list[str]]:
    """The C compiler command: $CC, else cc, gcc or clang on PATH."""
    if os.environ.get("CC"):
        return shlex.split(os.environ["CC"])
    found = next((shutil.which(c) for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    return [found] if found else None


def _headers() -> Optional[Path]:
    include = sysconfig.get_paths().get("include")
    return Path(include) if include and (Path(include) / "Python.h").is_file() else None


def _identity(cc: list[str]) -> list:
    """What tells one compiler from another without running it (a load of a cached package
    asks, and must stay fast): its command, and its file's real path, size and time."""
    path = shutil.which(cc[0])
    try:
        found = os.stat(path) if path else None
    except OSError:
        found = None
    real = os.path.realpath(path) if path else None
    return [cc, real, found and found.st_size, found and found.st_mtime_ns]


def _build(cc: list[str], include: Path, source: Path, folder: Path) -> None:
    """Compile source into folder/LIBRARY; RuntimeError with the compiler's message."""
    import subprocess

    command = cc + FLAGS + [f"-I{include}", "-o", str(folder / LIBRARY), str(source)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(f"{shlex.join(command)} did not run: {e}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{shlex.join(command)} failed: " + " / ".join(tail))


@lru_cache(maxsize=2)
def library(cached: bool = True) -> tuple[Optional[bytes], str]:
    """(the compiled launcher's bytes, "") or (None, why a package goes without it); cached=False
    (`tlspec compile --no-cache`) builds it without reading or writing the cache."""
    from .cache import Cache
    from .cache_key import digest
    from .package import codegen_dir

    if os.environ.get("TLSPEC_NATIVE_LAUNCH", "1") == "0":
        return None, "TLSPEC_NATIVE_LAUNCH=0"
    if not sys.platform.startswith("linux"):
        return None, f"the compiled launcher is built on Linux only (this is {sys.platform})"
    cc, include = _compiler(), _headers()
    if cc is None:
        return None, "no C compiler (cc, gcc or clang) on PATH"
    if include is None:
        return None, "no Python.h (install the Python development headers)"
    source = codegen_dir() / SOURCE
    key = digest("native-launch", source.read_bytes(), _identity(cc), FLAGS, str(include),
                 os.uname().machine, sys.version_info[:2])
    try:
        if cached:
            try:
                store = Cache()
                folder = store.get("launchers", key) or store.put(
                    "launchers", key, lambda f: _build(cc, include, source, f))
                return (folder / LIBRARY).read_bytes(), ""
            except OSError:
                pass              # a cache that cannot be written: build in a temporary folder
        with tempfile.TemporaryDirectory(prefix="tlspec-launch-") as tmp:
            _build(cc, include, source, Path(tmp))
            return (Path(tmp) / LIBRARY).read_bytes(), ""
    except RuntimeError as e:
        return None, str(e)


def tag() -> str:
    """What a cached package's key records of its launcher: built or not (a package cached
    without it is not served once it can be built)."""
    return "native" if library()[0] is not None else "python"
