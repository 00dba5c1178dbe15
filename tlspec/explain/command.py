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
    from ..tune.apply import explained, refused_choice
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
            # what `tlspec compile` runs for these dims: the tune record's choice, where the
            # compiler takes it, else the first candidates
            subject, source = explained(kernel, given[kernel.name], diags) \
                if kernel.tunables else (kernel, None)
            while True:
                observer, found = Observer(), Diagnostics()
                artifact = compile_located(subject, found, observe=observer)
                if artifact is not None or subject is kernel:
                    break
                refused_choice(subject, found.errors, diags)
                subject, source = kernel, "the first candidates: the tune record's choice is refused"
            for diagnostic in found:
                diags.add(diagnostic)
            if artifact is None:
                break
            warnings = [d.as_json() for d in found.sorted()]
            tune = None if source is None else {"choice": subject.choice, "from": source}
            reports.append(explain_kernel(subject, artifact, observer.records(),
                                          traffic(subject, given[kernel.name]), warnings, tune))
    if diags.has_errors:
        echo(diags.render_json() if as_json else
             diags.render_text() + f"\n{len(diags.errors)} error"
             f"{'s' * (len(diags.errors) != 1)}; nothing to explain")
        return 1
    echo(json.dumps({"kernels": reports}, indent=2) if as_json else render_text(reports))
    return 0
