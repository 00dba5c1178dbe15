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
         "\b\nExamples:\n  tlspec new copy copy_tiles\n  tlspec validate specs/\n"
         "  tlspec schema > tlspec.schema.json",
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
def compile(  # noqa: A001  (the command is called compile)
    paths: List[str] = typer.Argument(..., metavar="PATH...",
                                      help="Spec files, or folders searched for *.tlspec.yaml."),
    out: str = typer.Option(..., "-o", "--out", metavar="OUT",
                            help="The Python package to write (a directory named like a module)."),
    arch: Optional[str] = typer.Option(None, "--arch", metavar="ARCH",
                                       help="Require every spec to target ARCH (sm_90a, "
                                            "sm_80 or sm_100a); without it each kernel is "
                                            "compiled for its spec's target."),
    ptx: bool = typer.Option(False, "--ptx",
                             help="Ship each kernel's PTX beside its cubin, which the driver "
                                  "compiles for a GPU the cubin cannot run on (always done "
                                  "for sm_80)."),
    nvcc: Optional[str] = typer.Option(None, "--nvcc", metavar="PATH",
                                       help="Compile CUDA with this nvcc instead of NVRTC."),
    dump_ir: Optional[str] = typer.Option(None, "--dump-ir", metavar="DIR",
                                          help="Write the IR before and after every pass to "
                                               "DIR/<kernel>/NN_<pass>.py."),
    output_format: OutputFormat = typer.Option(OutputFormat.text, "--format",
                                               help="text for people, json for tools."),
    keep_going: bool = typer.Option(False, "--keep-going",
                                    help="Compile every spec file that has no error into OUT "
                                         "and report the others (exit code 1 still)."),
    jobs: Optional[int] = typer.Option(None, "-j", "--jobs", metavar="N", min=1,
                                       help="Compile in N processes (default: one per core)."),
    no_cache: bool = typer.Option(False, "--no-cache",
                                  help="Compile everything anew, neither reading nor writing "
                                       "the cache (tlspec cache info)."),
) -> None:
    """Compile specs into CUDA kernels with Python launch wrappers.

    Validates every spec, lowers each kernel through tlspec's pass pipeline
    (tlspec passes lists it), compiles the CUDA with NVRTC and writes OUT as an
    importable package: import OUT; OUT.<kernel>(...). Errors are reported like
    tlspec validate's; nothing is written unless every kernel compiled (with
    --keep-going: the kernels of every spec file without errors). Kernels and
    unchanged files come from the cache when they compiled before (not with
    --nvcc or --dump-ir); new kernels compile on every core, with a progress
    bar on a terminal.
    Exit code 0 on success, 1 on errors in the specs, 2 for a usage error.

    \b
    Examples:
      tlspec compile specs/ -o kernels
      tlspec compile copy.tlspec.yaml -o kernels --dump-ir ir/
      tlspec compile specs/ -o kernels --nvcc /usr/local/cuda/bin/nvcc
      tlspec compile specs/ -o kernels --ptx
      tlspec compile specs/ -o kernels --keep-going
    """
    from .compile_command import run as run_compile

    raise typer.Exit(run_compile(paths, out, arch=arch, ptx=ptx, nvcc=nvcc, dump_ir=dump_ir,
                                 output_format=output_format.value, keep_going=keep_going,
                                 jobs=jobs, no_cache=no_cache, echo=typer.echo))


@app.command()
def tune(
    spec: Optional[str] = typer.Argument(None, metavar="SPEC",
                                         help="The spec file whose tunable parameters to tune."),
    out: Optional[str] = typer.Option(None, "-o", "--out", metavar="BUNDLE",
                                      help="Write the compiled variants here, to measure on a "
                                           "GPU machine (python -m tlspec.tune.measure BUNDLE)."),
    sizes: List[str] = typer.Option([], "--sizes", metavar="DIM=N,...",
                                    help="A size to tune at, one per size class: every "
                                         "symbolic dim's value (repeat for more classes)."),
    kernels: List[str] = typer.Option([], "--kernel", metavar="NAME",
                                      help="Tune only this kernel of SPEC (repeatable)."),
    record: Optional[str] = typer.Option(None, "--record", metavar="RESULTS",
                                         help="Write SPEC's tune record from the measured "
                                              "results (BUNDLE/results.json)."),
    jobs: Optional[int] = typer.Option(None, "-j", "--jobs", metavar="N", min=1,
                                       help="Compile in N processes (default: one per core)."),
) -> None:
    """Time every combination of a spec's tunable parameters and record the fastest.

    Compiles each variant (every combination of the candidates in `tune:`),
    times each on the GPU (CUDA events, median of 50 after 5 warm-ups, L2
    flushed), checks its outputs bit for bit against the first variant's, and
    writes the winner per size class to SPEC's tune record (<spec>.tune.json
    beside it), which tlspec compile then uses. Where tvm and the GPU are on two
    machines, run the steps apart (docs/tune.md).
    Exit code 0 on success, 1 on errors in the spec, 2 for a usage error.

    \b
    Examples:
      tlspec tune specs/transpose.tlspec.yaml -o build/tune_transpose
      python -m tlspec.tune.measure build/tune_transpose     # on the GPU machine
      tlspec tune --record build/tune_transpose/results.json
    """
    from .discover import UsageError
    from .tune.command import record_results, tune as run_tune

    try:
        if record is not None:
            if spec is not None:
                _usage_error("--record RESULTS takes no SPEC (the results name it)")
            raise typer.Exit(record_results(record, typer.echo))
        if spec is None:
            _usage_error("give SPEC (or --record RESULTS)")
        diags, code = run_tune(spec, out, sizes, kernels, jobs, sys.stderr.isatty(), typer.echo)
    except (UsageError, ValueError) as err:
        _usage_error(str(err))
        return
    if len(diags):
        typer.echo(diags.render_text())
    raise typer.Exit(code)


@app.command()
def run(
    spec: str = typer.Argument(..., metavar="SPEC", help="A spec file."),
    kernel: Optional[str] = typer.Option(None, "--kernel", metavar="NAME",
                                         help="The kernel to run, when the file has several."),
    interpret: bool = typer.Option(False, "--interpret",
                                   help="Run in the reference interpreter (numpy, no GPU); "
                                        "required for now."),
    dims: List[str] = typer.Option([], "--dim", metavar="NAME=VALUE",
                                   help="The value of a symbolic dim (repeatable)."),
    inputs: List[str] = typer.Option([], "--input", metavar="ARG=FILE.npy",
                                     help="An argument's array from a .npy file (repeatable); "
                                          "the other inputs are random."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed of the random inputs."),
    out: str = typer.Option(".", "--out", metavar="DIR",
                            help="Where to write each out and inout argument as NAME.npy."),
) -> None:
    """Run a kernel of a spec in the reference interpreter, on the CPU.

    Inputs come from .npy files (--input) or are random and never zero
    (--seed); the indices of a gather or scatter are random rows of its table.
    Symbolic dims come from --dim or from the shapes of the given inputs.
    Every out and inout argument is written to DIR/NAME.npy (outputs start
    with every bit set, so unwritten elements show). Errors, and results the
    spec leaves undefined (races, unwritten tile elements stored), are
    reported like tlspec validate's. Exit code 0 on success, 1 on errors in
    the spec, 2 for a usage error.

    \b
    Examples:
      tlspec run specs/copy_symbolic.tlspec.yaml --interpret --dim M=128 --dim N=256
      tlspec run gather.tlspec.yaml --interpret --input idx=idx.npy --out results/
    """
    from .interpret.command import RunUsageError, run_spec

    try:
        status = run_spec(spec, kernel, interpret, dims, inputs, seed, out, typer.echo)
    except RunUsageError as err:
        _usage_error(str(err))
        return
    raise typer.Exit(status)


@app.command()
def explain(
    spec: str = typer.Argument(..., metavar="SPEC", help="A spec file."),
    kernel: Optional[str] = typer.Option(None, "--kernel", metavar="NAME",
                                         help="Explain this kernel only (default: every kernel "
                                              "of SPEC)."),
    dims: List[str] = typer.Option([], "--dim", "--dims", metavar="NAME=VALUE",
                                   help="The value of a symbolic dim for the bytes moved "
                                        "(repeatable; default: an example size)."),
    output_format: OutputFormat = typer.Option(OutputFormat.text, "--format",
                                               help="text for people, json for tools."),
) -> None:
    """Explain what the compiler chose for each kernel of a spec, and what it costs.

    Compiles SPEC as tlspec compile does (writing nothing) and prints, per
    kernel: each stage's instruction (TMA, cp.async, a SIMT loop and its vector
    width) and why; each pipeline loop's plan; the shared tiles (layout,
    swizzle, bytes, offset) and mbarriers; registers from the cubin; blocks per
    SM and what limits them; the bytes one launch moves and its roofline time
    on H100, H200 and B200. Exit code 0 on success, 1 on errors in the spec,
    2 for a usage error.

    \b
    Examples:
      tlspec explain specs/tma_pipeline.tlspec.yaml
      tlspec explain specs/copy_symbolic.tlspec.yaml --dim M=8192 --dim N=8192
      tlspec explain specs/transpose.tlspec.yaml --format json
    """
    from .explain.command import ExplainUsageError, explain_spec

    try:
        status = explain_spec(spec, kernel, dims, output_format is OutputFormat.json, typer.echo)
    except ExplainUsageError as err:
        _usage_error(str(err))
        return
    raise typer.Exit(status)


@app.command()
def passes() -> None:
    """Print the lowering pipeline in order, one line per pass.

    \b
    Example:
      tlspec passes
    """
    from .compiler.pipeline import PASSES

    width = max(len(p.name) for p in PASSES)
    for i, p in enumerate(PASSES, start=1):
        typer.echo(f"{i:2d}. {p.name:<{width}}  [{p.owner}] {p.summary}")


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


@app.command()
def new(
    kind: str = typer.Argument(..., metavar="KIND",
                               help="Stage kind or form the starter shows, e.g. copy, gather, "
                                    "pipeline, convert, paged_gather."),
    name: str = typer.Argument(..., metavar="NAME", help="Kernel name: a C identifier."),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="FILE",
                                         help="File to write (default: NAME.tlspec.yaml)."),
    force: bool = typer.Option(False, "--force", help="Overwrite FILE if it exists."),
) -> None:
    """Write a starter spec: a complete, valid kernel using the stage KIND.

    The kernel is called NAME; comments in the file say what to change. The
    first line is a yaml-language-server modeline naming the schema of this
    installation. An existing file is never overwritten without --force.
    Synchronisation and loop kinds share starters that show them in context.
    KIND may also name a form of the language (below: a converting copy, a
    halo with a fill, strided slices, a strided global view, a gather with
    computed indices, derived dims, a rectangular or NCHW im2col).
    Every starter compiles as written.

    \b
    Kinds:
      copy copy_cluster async_copy tma_copy gather scatter transpose im2col
      alloc_barrier barrier_arrive barrier_wait async_commit async_wait
      tma_store_wait sync_threads for pipeline

    \b
    Forms:
      convert halo strided pitched paged_gather derived_dims im2col_rect
      im2col_nchw

    \b
    Examples:
      tlspec new copy copy_tiles
      tlspec new transpose transpose_tiles -o kernels/transpose_tiles.tlspec.yaml
      tlspec new gather embed_lookup --force
      tlspec new paged_gather paged_kv
    """
    from .new import NewError, write

    try:
        path = write(kind, name, output, force=force)
    except NewError as err:
        _usage_error(str(err))
        return
    typer.echo(f"wrote {path}")


cache_app = typer.Typer(help="The compile cache: what `tlspec compile` and tlspec.load reuse.",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info() -> None:
    """Print where the cache is, what it holds and its size limit.

    The folder is $TLSPEC_CACHE_DIR, or the platform's user cache folder
    (~/.cache/tlspec on Linux). The limit is $TLSPEC_CACHE_MAX_BYTES (default
    2G; 0 for none): past it, the entries used least recently are deleted.

    \b
    Example:
      tlspec cache info
    """
    from .cache import KINDS, MAX_BYTES_VARIABLE

    info = _cache().info()
    typer.echo(f"cache: {info['path']}")
    for kind in KINDS:
        typer.echo(f"{kind}: {info[kind]['entries']} ({_size(info[kind]['bytes'])})")
    typer.echo(f"total: {_size(info['bytes'])}")
    limit = "none" if info["limit"] is None else _size(info["limit"])
    typer.echo(f"limit: {limit} (${MAX_BYTES_VARIABLE})")


@cache_app.command("clear")
def cache_clear(
    older_than: Optional[float] = typer.Option(None, "--older-than", metavar="DAYS", min=0,
                                               help="Remove only the entries not used in the "
                                                    "last DAYS days."),
) -> None:
    """Remove everything the cache holds, or what was not used lately.

    \b
    Examples:
      tlspec cache clear
      tlspec cache clear --older-than 30
    """
    cache = _cache()
    removed = cache.clear(None if older_than is None else older_than * 86400)
    typer.echo(f"removed {removed} entr{'ies' if removed != 1 else 'y'} from {cache.root}")


def _cache():
    """The cache, or a usage error when $TLSPEC_CACHE_MAX_BYTES is not a size."""
    from .cache import Cache

    try:
        return Cache()
    except ValueError as err:
        _usage_error(str(err))


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    for unit, scale in (("KB", 1024), ("MB", 1024 ** 2), ("GB", 1024 ** 3)):
        if count < scale * 1024 or unit == "GB":
            return f"{count / scale:.1f} {unit}"
