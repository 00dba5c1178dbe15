"""`tlspec explain SPEC`: compile each kernel of a spec (as `tlspec compile` does, nothing
written) and report what the compiler chose and what that costs (docs/cli.md)."""
from __future__ import annotations

import json
from typing import Callable, Sequence

from ..diagnostics import Diagnostics
from ..interpret.command import RunUsageError, choose_kernel, parse_dims
from ..validate import UsageError, validate_paths


class ExplainUsageError(Exception):
    """A mistake on the command line (exit status 2)."""


def explain_spec(spec: str, kernel_name: str | None, dims: Sequence[str], as_json: bool,
                 echo: Callable[[str], None]) -> int:
    """Print the explanation of the kernels of `spec` (the one named `kernel_name`); returns the
    exit status (0, or 1 for errors in the spec, printed); raises ExplainUsageError."""
    from ..compiler.driver import compile_located
    from ..compiler.support import check_supported
    from .collect import Observer
    from .render import render_text
    from .report import explain_kernel
    from .traffic import traffic

    try:
        result = validate_paths([spec])
        if len(result.kernels) != 1 and dims and kernel_name is None and result.ok:
            raise ExplainUsageError(f"{spec} has {len(result.kernels)} kernels: choose the one "
                                    "--dim is for with --kernel NAME")
        kernels = (result.kernels if kernel_name is None or not result.ok
                   else [choose_kernel(result.kernels, kernel_name, spec)])
        given = {k.name: parse_dims(k, dims) for k in kernels}
    except (UsageError, RunUsageError) as err:
        raise ExplainUsageError(str(err)) from None
    diags = result.diagnostics
    reports = []
    if result.ok:
        for kernel in kernels:
            check_supported(kernel, diags)
            if diags.has_errors:
                break
            observer, found = Observer(), Diagnostics()
            artifact = compile_located(kernel, found, observe=observer)
            for diagnostic in found:
                diags.add(diagnostic)
            if artifact is None:
                break
            warnings = [d.as_json() for d in found.sorted()]
            reports.append(explain_kernel(kernel, artifact, observer.records(),
                                          traffic(kernel, given[kernel.name]), warnings))
    if diags.has_errors:
        echo(diags.render_json() if as_json else
             diags.render_text() + f"\n{len(diags.errors)} error"
             f"{'s' * (len(diags.errors) != 1)}; nothing to explain")
        return 1
    echo(json.dumps({"kernels": reports}, indent=2) if as_json else render_text(reports))
    return 0
