"""`tlspec new`: write a starter spec for a stage kind.

Starters are complete, valid kernels kept in tlspec/starters/*.tlspec.yaml (package data). The
kernel name is substituted with string.Template (`$name`); a starter holds no other `$`, so a
stray placeholder fails loudly instead of leaking into the spec. The first line written is a
yaml-language-server modeline naming the schema file of this installation by its file URI.
Besides the stage kinds, `tlspec new` takes the name of a form of the language that a kind's
starter does not show (FORMS: a converting copy, a halo with a fill value, ...). Every starter
compiles as written (tests/test_new.py checks it, for every kind and form).
"""
from __future__ import annotations

import errno
import os
import re
from importlib import resources
from pathlib import Path
from string import Template

from .discover import link_problem
from .names import name_problem
from .schema import schema_path
from .stages import STAGE_KINDS
from .suggest import did_you_mean

# Stage kind -> starter file (without the .tlspec.yaml suffix). The synchronisation and loop
# kinds share the complete kernels that show them in context; sync_threads, which this release
# compiles, has its own, so that it compiles as written.
STARTERS: dict[str, str] = {
    "copy": "copy",
    "copy_cluster": "copy_cluster",
    "async_copy": "cp_async",
    "async_commit": "cp_async",
    "async_wait": "cp_async",
    "sync_threads": "sync_threads",
    "tma_copy": "tma_copy",
    "gather": "gather",
    "scatter": "scatter",
    "transpose": "transpose",
    "im2col": "im2col",
    "alloc_barrier": "tma_barriers",
    "barrier_arrive": "tma_barriers",
    "barrier_wait": "tma_barriers",
    "tma_store_wait": "tma_barriers",
    "pipeline": "pipeline",
    "for": "for",
}

# Form -> (starter file, what it shows). Forms are not stage kinds: each names a way of writing
# a stage (or the dims and buffers) that the kind starters above do not show.
FORMS: dict[str, tuple[str, str]] = {
    "convert": ("convert", "a converting copy, float16 -> float8_e4m3"),
    "halo": ("halo", "a halo read with a fill value: -inf around a tile, a max-pool's padding"),
    "strided": ("strided", "strided slices: the even/odd de-interleave of a matrix's columns"),
    "pitched": ("pitched", "a global view with declared strides: rows LD elements apart"),
    "paged_gather": ("paged_gather",
                     "an N-D gather with computed indices: a paged KV cache read token by token"),
    "derived_dims": ("derived_dims", "derived dims: an im2col's OH and OW computed at each call"),
    "im2col_rect": ("im2col_rect", "a rectangular im2col: kernel, stride, dilation, pad per axis"),
    "im2col_nchw": ("im2col_nchw", "im2col of an NCHW image in F.unfold's column order"),
}

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class NewError(Exception):
    """A usage mistake: unknown kind, bad name, existing output file."""


def kinds() -> list[str]:
    """The stage kinds `tlspec new` accepts: every non-deprecated kind, in registry order."""
    return [name for name, kind in STAGE_KINDS.items() if kind.alias_of is None]


def check_kind(kind: str) -> str:
    """The starter file for a stage kind or a form."""
    if kind in STARTERS:
        return STARTERS[kind]
    if kind in FORMS:
        return FORMS[kind][0]
    alias = STAGE_KINDS.get(kind)
    if alias is not None and alias.alias_of:
        raise NewError(f"'{kind}' is deprecated; use 'tlspec new {alias.alias_of}'")
    raise NewError(f"unknown stage kind '{kind}'{did_you_mean(kind, kinds() + list(FORMS))}\n"
                   f"  hint: stage kinds: {', '.join(kinds())}; forms: {', '.join(FORMS)}")


def check_name(name: str) -> None:
    if not IDENTIFIER.match(name):
        raise NewError(f"'{name}' is not a valid kernel name: names are C identifiers, letters, "
                       "digits and underscores, not starting with a digit")
    problem = name_problem(name)
    if problem is not None:
        raise NewError(f"'{name}' cannot name a kernel: {problem}; pick another name")


def modeline() -> str:
    return f"# yaml-language-server: $schema={schema_path().as_uri()}\n"


def render(kind: str, name: str) -> str:
    """The text of the starter for `kind`, with the kernel called `name`."""
    starter_file = check_kind(kind)
    check_name(name)
    template = (resources.files("tlspec") / "starters" / f"{starter_file}.tlspec.yaml").read_text(
        encoding="utf-8")
    return modeline() + Template(template).substitute(name=name)


def write(kind: str, name: str, output: str | None = None, *, force: bool = False) -> Path:
    """Write the starter; returns the path written."""
    text = render(kind, name)
    path = Path(output) if output else Path(f"{name}.tlspec.yaml")
    if path.is_dir():
        raise NewError(f"{path} is a folder; give a file name with -o")
    if path.exists() and not force:
        raise NewError(f"{path} already exists; use --force to overwrite it")
    if path.parent.exists() and not path.parent.is_dir():
        raise NewError(f"{path.parent} is not a folder; give a file name in a folder with -o")
    if not path.parent.is_dir():
        broken = [p for p in (path.parent, *path.parent.parents) if p.is_symlink()
                  and not p.exists()]
        why = f": {broken[0]} is {link_problem(broken[0])}" if broken else ""
        raise NewError(f"folder {path.parent} does not exist{why}")
    existed = path.exists()
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        if not existed and path.is_file():      # a part written before the failure
            path.unlink()
        if err.errno == errno.ENOENT and path.is_symlink():     # a link into a missing folder
            why = f"it is a symbolic link to {os.readlink(path)}, whose folder does not exist"
        elif err.errno == errno.ENOENT:
            why = "it is on a virtual file system that takes no new files"
        else:
            why = err.strerror or str(err)
        raise NewError(f"cannot write {path}: {why}; give -o a file in a folder you can "
                       "write to") from None
    return path
