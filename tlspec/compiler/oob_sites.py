"""The fault sites of a compiled kernel's `out_of_range: error` stages (the debug mode).

A gather or scatter in the debug mode never reads or writes out of range (it fills or skips as
`fill` does) and records the first offender in a small device record, which the wrapper reads
after the launch and raises as the interpreter's located error (codegen/_oob.py). A *site* is
one check whose failure the record names by its number, in the interpreter's order:

  * `read`: read `r` of index expression `j` lies outside its index buffer (computed indices);
  * `index`: the value of index expression `j` lies outside dimension `j` of the table;
  * `position`: a value of an index region lies outside the table's rows (the region form).

Sites are numbered in program order (stages, then each stage's expressions, each expression's
reads before its value); tileir codes the numbers into the kernel and the launch manifest
lists the sites (`manifest_sites`) with what the message needs, so the run time needs no spec.

The record is RECORD_WORDS int64 words (codegen/cuda/oob.cuh writes it, codegen/_oob.py reads
it): a flag (0 until the first fault), the site, blockIdx x, y, z, the row variables' values
(ROWS), the site's values (VALUES: an index's value, a position and its value, or a read's
coordinates) and the enclosing loops' variables (LOOPS).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..expr import to_source
from ..index_expr import loads
from ..model import Kernel, Stage
from ..source import pointer_join

RECORD_NAME = "_tlspec_oob"      # the hidden kernel parameter (names with `_` are tlspec's)
ROWS, VALUES, LOOPS = 3, 8, 8    # words of each part of the record
RECORD_WORDS = 5 + ROWS + VALUES + LOOPS


@dataclass(frozen=True)
class Site:
    kind: str                    # "read", "index" or "position"
    stage: Stage
    loops: tuple[str, ...]       # the enclosing loops' variables, outermost first
    component: int | None = None     # the index expression (read, index)
    read: int | None = None          # the read of that expression (read)

    @property
    def pointer(self) -> str:
        """Where the error points: the index expression, or the index region."""
        index = pointer_join(self.stage.pointer, "index")
        return index if self.component is None else pointer_join(index, self.component)


def debug_mode(stage: Stage) -> bool:
    return stage.kind in ("gather", "scatter") and stage.options.get("out_of_range") == "error"


def sites(kernel: Kernel) -> list[Site]:
    """Every fault site of the kernel, numbered by position."""
    found: list[Site] = []

    def walk(stages: list[Stage], loops: tuple[str, ...]) -> None:
        for stage in stages:
            if stage.body:
                walk(stage.body, loops + (stage.options["var"],))
            if not debug_mode(stage):
                continue
            if not stage.indices:
                found.append(Site("position", stage, loops))
            for j, expr in enumerate(stage.indices):
                found.extend(Site("read", stage, loops, j, r) for r in range(len(loads(expr))))
                found.append(Site("index", stage, loops, j))

    walk(kernel.stages, ())
    if any(len(site.loops) > LOOPS for site in found):
        raise ValueError(f"out_of_range: error records at most {LOOPS} enclosing loops")
    return found


def site_number(all_sites: list[Site], stage: Stage, component: int | None = None,
                read: int | None = None) -> int:
    return next(i for i, s in enumerate(all_sites) if s.stage is stage
                and s.component == component and s.read == read)


def manifest_sites(kernel: Kernel) -> dict | None:
    """The manifest's `out_of_range` entry: the record's size, the grid's index names and each
    site as the run time words its message; None for a kernel without the debug mode."""
    found = sites(kernel)
    if not found:
        return None
    arguments = [b.name for b in kernel.buffers.values() if b.is_global]
    out = []
    for site in found:
        stage = site.stage
        table = stage.regions["src" if stage.kind == "gather" else "dst"].name
        entry = {"kind": site.kind, "stage": stage.written_kind, "pointer": site.pointer,
                 "where": str(kernel.document.location(site.pointer)),
                 "table": arguments.index(table), "loops": list(site.loops)}
        if site.kind == "position":
            entry["index"] = stage.regions["index"].region.text
        else:
            expr = stage.indices[site.component]
            entry.update(component=site.component, expr=to_source(expr),
                         rows=[v.name for v in stage.each])
            if site.kind == "read":          # the read's own text, as the interpreter names it
                read = loads(expr)[site.read]
                entry.update(expr=read.name, buffer=arguments.index(read.buffer))
        out.append(entry)
    return {"record_words": RECORD_WORDS,
            "grid": [index.name for index in kernel.launch.grid], "sites": out}


def locate_sites(manifest: dict, kernel: Kernel) -> None:
    """Write each site's `where` for the kernel's document as read now: a manifest from the
    compile cache was made from a file that may have had another name or layout (the cache's
    key holds neither), and the error must name this one."""
    for site in manifest.get("out_of_range", {}).get("sites", []):
        site["where"] = str(kernel.document.location(site["pointer"]))
