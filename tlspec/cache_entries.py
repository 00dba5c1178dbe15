"""What the compile cache (tlspec/cache.py) holds, as files: a compiled kernel, and the record of
a spec file (its kernels' keys and its warnings), which lets an unchanged file skip validation.
Light on purpose (no validator, no tvm): this is the whole work of a cache hit."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .cache import Cache
from .diagnostics import Diagnostic, Location, Severity
from .package import KernelArtifact


@dataclass(frozen=True)
class KernelRecord:
    """A kernel of a spec file, as its file record remembers it."""
    name: str
    key: str       # its kernel entry
    target: str


def put_kernel(cache: Cache, key: str, art: KernelArtifact) -> None:
    def fill(folder: Path) -> None:
        _write(folder, art, "")
        if art.aligned is not None:          # the variant its wrapper launches for aligned sizes
            _write(folder, art.aligned, ALIGNED)
    cache.put("kernels", key, fill)


def get_kernel(cache: Cache, key: str) -> KernelArtifact | None:
    folder = cache.get("kernels", key)
    if folder is None:
        return None
    try:
        aligned = (_read(folder, ALIGNED) if (folder / f"{ALIGNED}manifest.json").is_file()
                   else None)
        return _read(folder, "", aligned)
    except FileNotFoundError:
        return None                 # evicted by another process since get: a miss


ALIGNED = "aligned."        # the prefix of an aligned variant's files in its kernel's entry


def _write(folder: Path, art: KernelArtifact, prefix: str) -> None:
    (folder / f"{prefix}manifest.json").write_text(json.dumps(art.manifest), encoding="utf-8")
    (folder / f"{prefix}notes.json").write_text(json.dumps(art.notes), encoding="utf-8")
    (folder / f"{prefix}kernel.cu").write_text(art.source, encoding="utf-8")
    (folder / f"{prefix}kernel.cubin").write_bytes(bytes(art.cubin))
    if art.ptx is not None:
        (folder / f"{prefix}kernel.ptx").write_text(art.ptx, encoding="utf-8")


def _read(folder: Path, prefix: str, aligned: KernelArtifact | None = None) -> KernelArtifact:
    manifest = json.loads((folder / f"{prefix}manifest.json").read_text(encoding="utf-8"))
    ptx = folder / f"{prefix}kernel.ptx"
    return KernelArtifact(manifest["name"], manifest,
                          (folder / f"{prefix}kernel.cu").read_text(encoding="utf-8"),
                          (folder / f"{prefix}kernel.cubin").read_bytes(),
                          ptx.read_text(encoding="utf-8") if ptx.is_file() else None,
                          tuple(tuple(n) for n in json.loads(
                              (folder / f"{prefix}notes.json").read_text(encoding="utf-8"))),
                          aligned)


def put_file(cache: Cache, key: str, kernels: list[KernelRecord],
             diagnostics: list[Diagnostic]) -> None:
    """Record a spec file that validated and compiled: its kernels and its warnings (without the
    file's path, which the next reader may write differently)."""
    record = {"kernels": [vars(k) for k in kernels],
              "diagnostics": [{k: v for k, v in d.as_json().items() if k != "path"}
                              for d in diagnostics]}

    def fill(folder: Path) -> None:
        (folder / "record.json").write_text(json.dumps(record), encoding="utf-8")
    cache.put("files", key, fill)


def get_file(cache: Cache, key: str, shown: str) -> tuple[list[KernelRecord],
                                                          list[Diagnostic]] | None:
    """The kernels and warnings recorded for a file, its warnings located in `shown`."""
    folder = cache.get("files", key)
    if folder is None:
        return None
    try:
        record = json.loads((folder / "record.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None                 # evicted by another process since get: a miss
    diagnostics = [Diagnostic(Severity(d["severity"]), Location(shown, d["line"], d["column"]),
                              d["message"], d["pointer"], d["hint"])
                   for d in record["diagnostics"]]
    return [KernelRecord(**k) for k in record["kernels"]], diagnostics
