"""The `tlspec` command line. Exit codes: 0 success, 1 invalid specs, 2 usage error."""
from __future__ import annotations

import sys
from enum import Enum
from typing import List, Optional

import typer

from . import __version__

app = typer.Typer(
    name="tlspec",
    help="Declarative YAML specs for GPU data-movement kernels.\n\n"
         "\b\nExamples:\n  tlspec validate specs/\n  tlspec schema > tlspec.schema.json",
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tlspec {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                           help="Print the version and exit."),
) -> None:
    """Declarative YAML specs for GPU data-movement kernels."""


def _usage_error(message: str) -> None:
    typer.echo(f"tlspec: error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def validate(
    paths: List[str] = typer.Argument(..., metavar="PATH...",
                                      help="Spec files, or folders searched for *.tlspec.yaml."),
    output_format: OutputFormat = typer.Option(OutputFormat.text, "--format",
                                               help="text for people, json for tools."),
) -> None:
    """Check spec files against the schema and the semantic rules.

    Every problem of every file is reported as PATH:LINE:COL: error: MESSAGE,
    with the JSON pointer of the offending value and a hint. Exit code 0 when
    all specs are valid, 1 when any is invalid, 2 for a usage error.

    \b
    Examples:
      tlspec validate specs/
      tlspec validate kernels/copy.tlspec.yaml kernels/gather.tlspec.yaml
      tlspec validate --format json specs/ > diagnostics.json
    """
    from .validate import UsageError, validate_paths

    try:
        result = validate_paths(paths)
    except UsageError as err:
        _usage_error(str(err))
        return
    diags = result.diagnostics
    if output_format is OutputFormat.json:
        typer.echo(diags.render_json(files=len(result.files), kernels=result.documents))
    else:
        if len(diags):
            typer.echo(diags.render_text())
        errors, warnings = len(diags.errors), len(diags.warnings)
        summary = (f"{len(result.files)} file{'s' * (len(result.files) != 1)}, "
                   f"{result.documents} kernel{'s' * (result.documents != 1)}: ")
        if errors:
            summary += f"{errors} error{'s' * (errors != 1)}"
        else:
            summary += "valid"
        if warnings:
            summary += f", {warnings} warning{'s' * (warnings != 1)}"
        typer.echo(summary)
    raise typer.Exit(1 if diags.has_errors else 0)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec language (draft-07).

    Point your editor's YAML language server at it for completion and
    diagnostics, or add a modeline as the first line of a spec.

    \b
    Examples:
      tlspec schema > tlspec.schema.json
      # yaml-language-server: $schema=./tlspec.schema.json
    """
    from .schema import schema_text

    sys.stdout.write(schema_text())
