"""The validated model of a kernel: what the rest of tlspec (checks, IR builder) works on.

Built from a schema-valid document by `build.build_kernel`. Every element keeps the JSON pointer
it came from, so that later checks can report at the right line and column.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .expr import Expr
from .region import Region
from .source import SourceDocument
from .targets import Target


@dataclass
class Dim:
    name: str
    pointer: str
    value: int | None                  # None for a symbolic dim (a kernel argument)
    multiple_of: int | None = None
    min: int | None = None
    max: int | None = None
    expr: Expr | None = None           # a derived dim's definition, in the dims it names
    expansion: Expr | None = None      # that of a derived dim of symbolic dims, in non-derived dims

    @property
    def derived(self) -> bool:
        return self.expr is not None

    @property
    def symbolic(self) -> bool:
        return self.value is None


@dataclass
class Tunable:
    """A tunable parameter: a compile-time constant with candidate integers (`tune: {TILE: [64,
    128]}`), or an instruction choice with candidate strings, values of the enum options that
    name it (`tune: {LOAD: [tma, sync]}`, `prefer_instruction: LOAD`)."""

    name: str
    pointer: str
    candidates: list[int] | list[str]

    @property
    def is_choice(self) -> bool:
        return isinstance(self.candidates[0], str)


@dataclass
class Buffer:
    name: str
    pointer: str
    scope: str
    shape: list[Expr]
    dtype: str
    io: str | None = None
    layout: str = "auto"
    doc: str = ""
    complete: bool = True              # False when an extent could not be read (reported)
    derived: list[tuple[int, str]] = field(default_factory=list)  # (axis, derived dim it names)
    strides: list[Expr] | None = None  # a global tensor's declared strides (elements); None: C order

    @property
    def is_global(self) -> bool:
        return self.scope == "global"

    @property
    def is_shared(self) -> bool:
        return self.scope in ("shared", "shared.dyn")


@dataclass
class BlockIndex:
    name: str
    pointer: str
    axis: str                          # "x", "y" or "z"
    extent: Expr | None                # None when it could not be read (reported)


@dataclass
class Launch:
    grid: list[BlockIndex]
    threads: int
    cluster: tuple[int, ...] | None


@dataclass
class RegionRef:
    """A region as written in a stage option, with per-dimension (start, extent) once resolved."""

    pointer: str
    region: Region
    dims: list[tuple[Expr, Expr]] = field(default_factory=list)  # empty when unresolvable
    steps: list[Expr] | None = None    # per dimension, when some slice has a step ('A[::2]')

    @property
    def name(self) -> str:
        return self.region.buffer

    @property
    def extents(self) -> list[Expr]:
        return [extent for _, extent in self.dims]


@dataclass
class Barrier:
    name: str
    pointer: str
    count: int
    arrive_count: int


@dataclass
class EachVar:
    """A row variable of a gather or scatter with computed indices (`each: {t: "bx*16 : +16"}`)."""

    name: str
    pointer: str
    start: Expr | None                 # None when it could not be read (reported)
    extent: Expr | None


@dataclass
class Stage:
    kind: str                          # canonical kind (a deprecated alias is resolved)
    written_kind: str                  # as written in the spec
    pointer: str                       # of the stage's options mapping
    options: dict[str, Any]            # raw option values, as in the document
    regions: dict[str, RegionRef] = field(default_factory=dict)
    barriers: dict[str, RegionRef] = field(default_factory=dict)
    exprs: dict[str, Expr] = field(default_factory=dict)
    body: list["Stage"] = field(default_factory=list)   # loops only
    # a gather's or scatter's computed indices (`index` written as a list), one per indexed
    # dimension of the table, None where unreadable; and its row variables
    indices: list[Expr | None] = field(default_factory=list)
    each: list[EachVar] = field(default_factory=list)


@dataclass
class Kernel:
    document: SourceDocument
    name: str
    doc: str
    target: Target
    dims: dict[str, Dim]
    buffers: dict[str, Buffer]
    launch: Launch
    stages: list[Stage]
    barriers: dict[str, Barrier] = field(default_factory=dict)
    # Derived dims of symbolic dims: expanded into every expression that names them, so they are
    # no kernel arguments and absent from `dims`; kept here (with their expansion) for reports.
    derived: dict[str, Dim] = field(default_factory=dict)
    # The tunable parameters, and the value of each that this kernel was built with (the first
    # candidate, or a tune record's choice): substituted as constants wherever they are named.
    tunables: dict[str, Tunable] = field(default_factory=dict)
    choice: dict[str, int | str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.document.path

    def walk(self, stages: list[Stage] | None = None):
        """Every stage, loops' bodies included, in program order."""
        for stage in self.stages if stages is None else stages:
            yield stage
            yield from self.walk(stage.body)
