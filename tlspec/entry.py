"""The `tlspec` command's entry point (the console script and `python -m tlspec`).

`tlspec compile` of specs already in the cache is a fraction of a second of work; building the
typer app (typer, click, rich, pydantic: over half of it) would cost more than the compile. A
`compile` command line in the plain form that docs/cli.md shows (paths, the command's own
options, each once, values as separate words or --opt=VALUE) therefore runs
tlspec.compile_command directly. Anything else, any other command, --help, a repeated, unknown
or malformed option, goes to the typer app in tlspec.cli, which parses it (and reports its
usage errors) as it always did.
"""
from __future__ import annotations

import sys
from typing import Optional

# the compile command's options: flag -> (its parameter, takes a value)
_COMPILE_OPTIONS = {
    "-o": ("out", True), "--out": ("out", True), "--arch": ("arch", True),
    "--ptx": ("ptx", False), "--nvcc": ("nvcc", True), "--dump-ir": ("dump_ir", True),
    "--format": ("output_format", True), "--keep-going": ("keep_going", False),
    "-j": ("jobs", True), "--jobs": ("jobs", True), "--no-cache": ("no_cache", False),
}


def parse_compile(argv: list) -> Optional[dict]:
    """The keyword arguments of compile_command.run for `compile ARGS...`, or None when typer
    must parse the command line (see the module's doc)."""
    if not argv or argv[0] != "compile":
        return None
    found: dict = {"paths": []}
    words = iter(argv[1:])
    for word in words:
        if not word.startswith("-"):
            found["paths"].append(word)
            continue
        flag, eq, value = word.partition("=")
        option = _COMPILE_OPTIONS.get(flag)
        if option is None or option[0] in found or (eq and (not option[1] or flag == "-o"
                                                          or flag == "-j")):
            return None
        name, takes_value = option
        if takes_value and not eq:
            value = next(words, None)
            if value is None or value.startswith("-"):
                return None
        found[name] = value if takes_value else True
    if not found["paths"] or "out" not in found:
        return None
    if found.get("output_format", "text") not in ("text", "json"):
        return None
    if "jobs" in found:
        if not found["jobs"].isdigit() or int(found["jobs"]) < 1:
            return None
        found["jobs"] = int(found["jobs"])
    return found


def main(argv: Optional[list] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    arguments = parse_compile(argv)
    if arguments is None:
        from .cli import app

        app(args=argv, prog_name="tlspec")
        return
    from .compile_command import run

    try:
        code = run(**arguments)
    except KeyboardInterrupt:                  # as click reports it
        print(file=sys.stderr)
        print("Aborted!", file=sys.stderr)
        code = 1
    sys.exit(code)
