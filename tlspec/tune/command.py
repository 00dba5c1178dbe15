"""`tlspec tune`: its three steps, on one machine or two.

    tlspec tune SPEC [--sizes M=..,N=..]... -o BUNDLE    compile every variant (needs tvm)
    python -m tlspec.tune.measure BUNDLE                  time and check them (needs a GPU)
    tlspec tune --record BUNDLE/results.json              write SPEC's tune record

Without -o, where this machine has a CUDA GPU too, `tlspec tune SPEC` runs all three."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Callable

from ..diagnostics import Diagnostics
from ..discover import UsageError


def record_results(results_path: str, echo: Callable[[str], None]) -> int:
    from .record import write_record

    try:
        results = json.loads(Path(results_path).read_text(encoding="utf-8"))
        bundle = results["bundle"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"--record {results_path}: not the results of python -m "
                         f"tlspec.tune.measure ({err})") from None
    path = write_record(results)
    for name, kernel in results["kernels"].items():
        for size_class, found in kernel["classes"].items():
            echo(f"{name} [{size_class}]: " + (f"{found['winner']}" if found["winner"] else
                                               "no variant ran correctly; not recorded"))
    echo(f"wrote {path} (tlspec compile {bundle['spec']} uses it)")
    return 0


def _gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def tune(spec: str, out: str | None, sizes: list[str], names: list[str], workers: int | None,
         progress: bool, echo: Callable[[str], None]) -> tuple[Diagnostics, int]:
    """Build the bundle OUT; without OUT, on a machine with a GPU, measure and record too."""
    from .bundle import make_bundle
    from .measure import measure, summary
    from .record import write_record

    if out is None and not _gpu():
        raise UsageError("this machine has no CUDA GPU (or no torch): give -o BUNDLE, then run "
                         "python -m tlspec.tune.measure BUNDLE on a GPU machine and "
                         "tlspec tune --record BUNDLE/results.json here")
    diags = Diagnostics()
    folder = out or tempfile.mkdtemp(prefix="tlspec-tune-")
    manifest = make_bundle(spec, folder, sizes, names, diags, workers=workers, progress=progress)
    if manifest is None:
        return diags, 1
    for name, kernel in manifest["kernels"].items():
        built = [v for v in kernel["variants"] if "name" in v]
        echo(f"{name}: {len(built)} of {len(kernel['variants'])} variants compiled, "
             f"{len(kernel['sizes'])} size class{'es' * (len(kernel['sizes']) != 1)}")
        for variant in kernel["variants"]:
            if "skipped" in variant:
                echo("  skipped " + ",".join(f"{n}={v}" for n, v in variant["choice"].items())
                     + ": " + variant["skipped"])
    if out is not None:
        echo(f"wrote the bundle {out}; on a GPU machine: python -m tlspec.tune.measure {out}")
        return diags, 0
    results = measure(Path(folder))
    echo(summary(results))
    echo(f"wrote {write_record(results)}")
    return diags, 0
