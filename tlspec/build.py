"""From a schema-valid document to the kernel model: parse expressions and regions, resolve names.

Structure is already guaranteed by the schema here; this step reports what the schema cannot
see: malformed expressions, names defined twice or used where they are not defined, and regions
that do not match their buffer's rank. Problems are collected; the model is built regardless
(with unresolved parts left empty) so that later checks can still report on the rest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from .diagnostics import Diagnostics, Location
from .derived_dims import define_derived
from .expr import Const, Expr, ExprError, Var, free_vars, parse_expr, substitute, to_source
from .expr_algebra import bounds, simplify
from .index_expr import loads, map_loads, parse_index_expr, parse_range, substitute_all
from .model import (Barrier, BlockIndex, Buffer, Dim, EachVar, Kernel, Launch, RegionRef, Stage,
                    Tunable)
from .names import name_problem
from .region import parse_region, resolve, steps
from .source import SourceDocument, pointer_join
from .stages import STAGE_KINDS
from .suggest import did_you_mean
from .targets import DEFAULT_TARGET, TARGETS
from .tune.params import (CHOICE_OPTIONS, ENUM_OPTIONS, INTEGER_OPTIONS, check_candidate,
                          check_choices, define_tunables, option_values)

AXES = ("x", "y", "z")
# the option holding the rows of a gather or scatter: where its row variables (`each`) are used
ROWS = {"gather": "dst", "scatter": "src"}


@dataclass
class _Definition:
    kind: str       # "dim", "buffer", "block index", "loop variable", "barrier"
    pointer: str
    named_by_key: bool


class _Builder:
    def __init__(self, doc: SourceDocument, diags: Diagnostics):
        self.doc = doc
        self.diags = diags
        self.names: dict[str, _Definition] = {}
        self.barriers: dict[str, Barrier] = {}
        self.buffers: dict[str, Buffer] = {}
        self.derived: dict[str, Expr] = {}   # derived dims of symbolic dims -> their expansion
        self.tunables: dict[str, Tunable] = {}
        self.chosen: dict[str, int | str] = {}   # tunable parameters -> their chosen value
        self.tuned: dict[str, Expr] = {}     # those of integers -> their chosen value
        self.choices: dict[str, dict[str, str]] = {}  # instruction choices -> option -> first use
        self.used: set[str] = set()          # names an expression or option used
        self.misspelt = False                # some name was unknown (a parameter's, maybe)

    @property
    def numbers(self) -> list[str]:
        """The tunable parameters of integers: those expressions and integer options may name."""
        return [name for name, tunable in self.tunables.items() if not tunable.is_choice]

    @property
    def constants(self) -> dict[str, Expr]:
        """What replaces a name once checked: tunable parameters and derived dims' expansions."""
        return {**self.tuned, **self.derived}

    # -- reporting --------------------------------------------------------------------------

    def at(self, pointer: str, offset: int = 0, *, key: bool = False) -> Location:
        return self.doc.location(pointer, key=key, offset=offset)

    def error(self, pointer: str, message: str, hint: str | None = None, *, offset: int = 0,
              key: bool = False) -> None:
        self.diags.error(self.at(pointer, offset, key=key), message, pointer=pointer, hint=hint)

    # -- names ------------------------------------------------------------------------------

    def define(self, name: str, kind: str, pointer: str, *, named_by_key: bool = True) -> bool:
        """Define `name`; False (and reported) when it is reserved or already defined.
        `named_by_key`: the name is the key at `pointer` (dims, buffers), else its value."""
        problem = name_problem(name)
        if problem is not None:
            self.error(pointer, f"'{name}' cannot name a {kind}: {problem}", _rename(name),
                       key=named_by_key)
            return False
        previous = self.names.get(name)
        if previous is not None:
            first = self.at(previous.pointer, key=previous.named_by_key)
            self.error(pointer, f"'{name}' is already defined as a {previous.kind} at line "
                                f"{first.line}, column {first.column}",
                       "dims, tunable parameters, buffers, block indices, loop variables and "
                       "barriers share one namespace; rename one of them", key=named_by_key)
            return False
        self.names[name] = _Definition(kind, pointer, named_by_key)
        return True

    def expression(self, value: Any, pointer: str, visible: Iterable[str], what: str, *,
                   expand: bool = True) -> Expr | None:
        """Parse an expression option and check that it only uses the names in `visible`; the
        derived dims of symbolic dims in it are expanded unless `expand` is False."""
        try:
            expr = parse_expr(value)
        except ExprError as err:
            self.error(pointer, f"invalid expression in {what}: {err.message}", err.hint,
                       offset=err.offset)
            return None
        if not self.check_names(expr, pointer, visible, what):
            return None
        if not expand:
            return substitute(expr, self.tuned) if self.tuned else expr
        return substitute(expr, self.constants) if self.constants else expr

    def check_names(self, expr: Expr, pointer: str, visible: Iterable[str], what: str,
                    base: int = 0) -> bool:
        visible = list(visible)
        ok = True
        for var in free_vars(expr):
            if var.name in visible:
                self.used.add(var.name)
                continue
            ok = False
            known = self.names.get(var.name)
            tunable = self.tunables.get(var.name)
            if tunable is not None and tunable.is_choice:
                message = (f"tunable parameter '{var.name}' is an instruction choice "
                           f"({_listed(tunable.candidates)}); it cannot be used in {what}")
                hint = ("expressions take integers: name a parameter of integer candidates here; "
                        f"'{var.name}' stands for a value of {' or '.join(CHOICE_OPTIONS)}")
            elif known is not None and known.kind == "tunable parameter":
                message = f"tunable parameter '{var.name}' cannot be used in {what}"
                hint = ("tunable parameters set tiles, the grid, threads and stage options, not "
                        "dims or the shapes of global buffers: every variant of a kernel takes "
                        "the same arguments")
            elif known is not None:
                message = f"{known.kind} '{var.name}' cannot be used in {what}"
                hint = "usable here: " + (", ".join(visible) or "integers only")
            else:
                self.misspelt = True
                message = f"unknown name '{var.name}' in {what}{did_you_mean(var.name, visible)}"
                hint = "defined here: " + (", ".join(visible) or "no names; use integers")
            self.error(pointer, message, hint, offset=base + var.offset)
        return ok

    # -- declarations -----------------------------------------------------------------------

    def dims(self, data: dict) -> dict[str, Dim]:
        dims = {}
        for name, value in data.items():
            pointer = pointer_join("/dims", name)
            self.define(name, "dim", pointer)
            if isinstance(value, int):
                dims[name] = Dim(name, pointer, value)
            elif value == "symbolic":
                dims[name] = Dim(name, pointer, None)
            elif "expr" in value:
                dims[name] = Dim(name, pointer, None, expr=Var(name))  # defined below
            else:
                dims[name] = Dim(name, pointer, None, value.get("multiple_of"), value.get("min"),
                                 value.get("max"))
        written = {}
        for dim in dims.values():
            if dim.derived:
                expr = self.expression(data[dim.name]["expr"], dim.pointer + "/expr", list(dims),
                                       f"the definition of dim '{dim.name}'")
                if expr is not None:
                    written[dim.name] = expr
        for dim, expr in define_derived(dims, written, self.error).items():
            self.derived[dim] = expr
        return dims

    def buffer(self, name: str, data: dict, dims: dict[str, Dim]) -> Buffer:
        pointer = pointer_join("/buffers", name)
        self.define(name, "buffer", pointer)
        # a global tensor is an argument: every variant of a tuned kernel takes the same ones
        names = list(dims) + ([] if data["scope"] == "global" else self.numbers)
        constants = {d.name: (d.value, d.value) for d in dims.values() if not d.symbolic}
        shape: list[Expr] = []
        derived: list[tuple[int, str]] = []
        complete = True
        for i, extent in enumerate(data["shape"]):
            extent_pointer = pointer_join(pointer + "/shape", i)
            expr = self.expression(extent, extent_pointer, names, f"the shape of buffer '{name}'",
                                   expand=False)
            if expr is not None:
                derived += [(i, v.name) for v in free_vars(expr) if v.name in self.derived]
                expr = substitute(expr, self.derived)
            value = bounds(expr, constants) if expr is not None else None
            if value is not None and value[1] < 1:
                self.error(extent_pointer, f"dimension {i} of buffer '{name}' has extent "
                                           f"{value[1]}; extents must be positive",
                           "give every dimension at least 1 element")
                expr = None
            complete &= expr is not None
            shape.append(simplify(expr) if expr is not None else Const(1))
        strides = None
        if "strides" in data:
            strides = []
            for i, stride in enumerate(data["strides"]):
                expr = self.expression(stride, pointer_join(pointer + "/strides", i), names,
                                       f"the strides of buffer '{name}'")
                complete &= expr is not None
                strides.append(simplify(expr) if expr is not None else Const(1))
        layout = data.get("layout", "auto")
        if layout not in option_values(pointer + "/layout"):        # names a tunable choice
            layout = self.enum(layout, pointer + "/layout") or "auto"
        return Buffer(name, pointer, data["scope"], shape, data["dtype"], data.get("io"),
                      layout, data.get("doc", ""), complete, list(dict.fromkeys(derived)),
                      strides)

    def launch(self, data: dict, dims: list[str]) -> Launch:
        grid = []
        for axis, (name, extent) in zip(AXES, data["grid"].items()):
            pointer = pointer_join("/launch/grid", name)
            self.define(name, "block index", pointer)
            expr = self.expression(extent, pointer, dims + self.numbers,
                                   f"the grid extent of '{name}'")
            grid.append(BlockIndex(name, pointer, axis, simplify(expr) if expr else None))
        cluster = tuple(self.integer(extent, pointer_join("/launch/cluster", i))
                        for i, extent in enumerate(data["cluster"])) if "cluster" in data else None
        return Launch(grid, self.integer(data["threads"], "/launch/threads"), cluster)

    def integer(self, value: int | str, pointer: str) -> int:
        """An integer option that may name a tunable parameter: its value (the chosen
        candidate, checked against the option's bounds); 1 when the name is unknown (reported)."""
        if isinstance(value, int):
            return value
        if value not in self.tunables:
            self.misspelt = True
            self.error(pointer, f"unknown tunable parameter '{value}'"
                       + did_you_mean(value, self.numbers),
                       "declare it in `tune:` with its candidate values, e.g. "
                       f"`tune: {{{value}: [128, 256]}}`, or write an integer")
            return 1
        self.used.add(value)
        if self.tunables[value].is_choice:
            option = pointer.rsplit("/", 1)[-1]
            self.error(pointer, f"tunable parameter '{value}' is an instruction choice "
                                f"({_listed(self.tunables[value].candidates)}); {option} takes "
                                "an integer", "name a parameter of integer candidates, e.g. "
                                              "`tune: {T: [128, 256]}`, or write an integer")
            return 1
        chosen = self.chosen[value]
        problem = check_candidate(pointer, chosen)
        if problem is not None:
            self.error(pointer, f"tunable parameter '{value}' = {chosen} here: {problem}",
                       f"change the candidates of '{value}' in `tune:`")
        return chosen

    def enum(self, value: str, pointer: str) -> str | None:
        """An enum option that may name an instruction choice: its value (the chosen
        candidate); None when it names no such parameter (reported)."""
        values = option_values(pointer)
        if value in values:
            return value
        option = pointer.rsplit("/", 1)[-1]
        tunable = self.tunables.get(value)
        if tunable is None:
            self.misspelt = True
            choices = [n for n, t in self.tunables.items() if t.is_choice]
            self.error(pointer, f"unknown tunable parameter '{value}'"
                       + did_you_mean(value, choices + values),
                       f"write one of {', '.join(values)}, or declare '{value}' in `tune:` with "
                       f"candidate values, e.g. `tune: {{{value}: [{values[0]}, {values[-1]}]}}`")
            return None
        self.used.add(value)
        if not tunable.is_choice:
            self.error(pointer, f"tunable parameter '{value}' has integer candidates; {option} "
                                f"takes {', '.join(values)}",
                       f"name a parameter of {option} values, e.g. `tune: {{LOAD: [{values[0]}, "
                       f"{values[-1]}]}}`, or write a value")
            return None
        self.choices.setdefault(value, {}).setdefault(option, pointer)
        chosen = self.chosen[value]
        return chosen if chosen in values else None     # else reported by check_choices

    # -- stages -----------------------------------------------------------------------------

    def region(self, text: str, pointer: str, visible: list[str], what: str,
               table: dict[str, Any], kind: str) -> RegionRef | None:
        try:
            region = parse_region(text)
        except ExprError as err:
            self.error(pointer, f"invalid region in {what}: {err.message}", err.hint,
                       offset=err.offset)
            return None
        if region.buffer not in table:
            known = self.names.get(region.buffer)
            if known is not None:
                message = f"{what} must name a {kind}, but '{region.buffer}' is a {known.kind}"
            else:
                message = f"unknown {kind} '{region.buffer}' in {what}" + did_you_mean(
                    region.buffer, table)
            defined = ", ".join(table) or "none"
            hint = (f"allocate barriers with alloc_barrier before the stages that use them; "
                    f"allocated so far: {defined}" if kind == "barrier" else f"buffers: {defined}")
            self.error(pointer, message, hint, offset=region.buffer_offset)
            return None
        ref = RegionRef(pointer, region)
        # A 'start : stop' slice also carries its derived extent (stop - start): check as written.
        written = [e for s in region.slices or ()
                   for e in (s.start, s.stop if s.stop is not None else s.extent, s.step)
                   if e is not None]
        ok = all([self.check_names(expr, pointer, visible, what) for expr in written])
        if not ok or (kind == "buffer" and not table[region.buffer].complete):
            return ref  # unresolved: its names or its buffer's shape were already reported
        shape = table[region.buffer].shape if kind == "buffer" else [
            Const(table[region.buffer].count)]
        try:
            ref.dims = [(simplify(substitute(start, self.constants)),
                         simplify(substitute(extent, self.constants)))
                        for start, extent in resolve(region, shape)]
            ref.steps = [simplify(substitute(step, self.constants)) for step in steps(region)] \
                if steps(region) else None
        except ValueError as err:
            self.error(pointer, str(err), f"'{region.buffer}' has shape "
                       f"[{', '.join(to_source(e) for e in shape)}]")
        return ref

    def stages(self, items: list, pointer: str, visible: list[str], depth: int) -> list[Stage]:
        out = []
        for i, item in enumerate(items):
            (written, options), = item.items()
            kind = STAGE_KINDS[written]
            stage_pointer = pointer_join(pointer_join(pointer, i), written)
            options = dict(options or {})
            for option in INTEGER_OPTIONS:
                if isinstance(options.get(option), str):
                    options[option] = self.integer(options[option],
                                                   pointer_join(stage_pointer, option))
            for option in ENUM_OPTIONS:
                if isinstance(options.get(option), str):
                    value = self.enum(options[option], pointer_join(stage_pointer, option))
                    if value is None:
                        del options[option]
                    else:
                        options[option] = value
            stage = Stage(kind.alias_of or written, written, stage_pointer, options)
            if kind.alias_of:
                self.diags.warning(self.at(stage_pointer, key=True),
                                   f"'{written}' is deprecated; use '{kind.alias_of}' (same options)",
                                   pointer=stage_pointer, hint=f"rename the stage to '{kind.alias_of}'")
            rows_visible = visible + self.each(stage, options.get("each", {}), visible)
            for names, table, what, into in ((kind.regions, self.buffers, "buffer", stage.regions),
                                             (kind.barriers, self.barriers, "barrier",
                                              stage.barriers)):
                for option in names:
                    if option == "index" and isinstance(options.get(option), list):
                        stage.indices = [self.index_expression(
                            text, pointer_join(pointer_join(stage_pointer, option), i),
                            rows_visible, _option_label(option, written))
                            for i, text in enumerate(options[option])]
                    elif option in options:
                        ref = self.region(options[option], pointer_join(stage_pointer, option),
                                          rows_visible if option == ROWS.get(written) else visible,
                                          _option_label(option, written), table, what)
                        if ref:
                            into[option] = ref
            for var in stage.each:
                self.names.pop(var.name, None)   # visible in the stage's rows and indices only
            for option in kind.exprs:
                if option in options:
                    expr = self.expression(options[option], pointer_join(stage_pointer, option),
                                           visible, _option_label(option, written))
                    if expr is not None:
                        stage.exprs[option] = simplify(expr)
            if written == "alloc_barrier":
                self.alloc_barrier(options, stage_pointer, depth)
            if kind.loop:
                var = options["var"]
                defined = self.define(var, "loop variable", pointer_join(stage_pointer, "var"),
                                      named_by_key=False)
                stage.body = self.stages(options["stages"], pointer_join(stage_pointer, "stages"),
                                         visible + [var], depth + 1)
                if defined:
                    del self.names[var]  # the loop variable is visible in the body only
            out.append(stage)
        return out

    def each(self, stage: Stage, ranges: dict, visible: list[str]) -> list[str]:
        """Define the row variables of a gather's or scatter's `each`; their names."""
        for name, text in ranges.items():
            pointer = pointer_join(pointer_join(stage.pointer, "each"), name)
            if not self.define(name, "row variable", pointer):
                continue
            try:
                start, extent = parse_range(text)
            except ExprError as err:
                self.error(pointer, f"invalid row range of '{name}': {err.message}", err.hint,
                           offset=err.offset)
                stage.each.append(EachVar(name, pointer, None, None))
                continue
            ok = all([self.check_names(e, pointer, visible, f"the row range of '{name}'")
                      for e in (start, extent)])
            expanded = [simplify(substitute(e, self.constants)) for e in (start, extent)]
            stage.each.append(EachVar(name, pointer, *(expanded if ok else (None, None))))
        return [var.name for var in stage.each]

    def index_expression(self, value: Any, pointer: str, visible: list[str],
                         what: str) -> Expr | None:
        """A computed index: an expression that may read index buffers (`index_expr`)."""
        try:
            expr = parse_index_expr(value)
        except ExprError as err:
            self.error(pointer, f"invalid index expression in {what}: {err.message}", err.hint,
                       offset=err.offset)
            return None
        ok = self.check_names(map_loads(expr, lambda _: Const(0)), pointer, visible, what)
        for read in loads(expr):
            if read.buffer not in self.buffers:
                self.error(pointer, f"unknown buffer '{read.buffer}' read in {what}"
                           + did_you_mean(read.buffer, self.buffers),
                           f"buffers: {', '.join(self.buffers) or 'none'}", offset=read.offset)
                ok = False
            ok &= all([self.check_names(s, pointer, visible, what) for s in read.subscripts])
        return simplify(substitute_all(expr, self.constants)) if ok else None

    def alloc_barrier(self, options: dict, pointer: str, depth: int) -> None:
        name = options["name"]
        if depth:
            self.error(pointer, f"barrier '{name}' is allocated inside a loop",
                       "allocate barriers with alloc_barrier at the top level of 'stages', before "
                       "the loops that use them", key=True)
        defined = self.define(name, "barrier", pointer_join(pointer, "name"), named_by_key=False)
        if defined or name not in self.barriers:  # a second allocation keeps the first
            self.barriers[name] = Barrier(name, pointer, options.get("count", 1),
                                          options.get("arrive_count", 1))


def _rename(name: str) -> str:
    plain = name.strip("_")
    return f"pick another name, e.g. '{plain}'" if plain and not name_problem(plain) else \
        "pick another name"


def _listed(candidates: list) -> str:
    return ", ".join(str(c) for c in candidates)


def _option_label(option: str, kind: str) -> str:
    return f"'{option}' of the {kind} stage"


def build_kernel(doc: SourceDocument, data: dict, diags: Diagnostics,
                 choice: dict[str, int | str] | None = None) -> Kernel:
    """The kernel model of `data`, the schema-valid content of `doc` (whose locations are used),
    its tunable parameters set to `choice` (the first candidates where it names none); problems
    found on the way go to `diags`."""
    builder = _Builder(doc, diags)
    builder.tunables = define_tunables(data.get("tune", {}), builder.define, builder.error)
    chosen = {name: (choice or {}).get(name, t.candidates[0]) for name, t in builder.tunables.items()}
    builder.chosen = chosen
    builder.tuned = {name: Const(chosen[name]) for name in builder.numbers}
    name = data["name"]
    problem = name_problem(name)
    if problem is not None:
        builder.error("/name", f"'{name}' cannot name a kernel: {problem}", _rename(name))
    dims = builder.dims(data.get("dims", {}))
    dim_names = list(dims)
    for buffer_name, buffer_data in data["buffers"].items():
        builder.buffers[buffer_name] = builder.buffer(buffer_name, buffer_data, dims)
    launch = builder.launch(data["launch"], dim_names)
    visible = dim_names + builder.numbers + [b.name for b in launch.grid]
    stages = builder.stages(data["stages"], "/stages", visible, 0)
    check_choices(builder.tunables, builder.choices, builder.error, builder.at)
    derived = {n: d for n, d in dims.items() if d.derived and d.symbolic}
    for tunable in builder.tunables.values():
        if tunable.name not in builder.used and not builder.misspelt:
            builder.diags.warning(builder.at(tunable.pointer, key=True),
                                  f"tunable parameter '{tunable.name}' is never used",
                                  pointer=tunable.pointer,
                                  hint="use it in an expression or an integer option (a "
                                       "parameter of strings: in prefer_instruction or "
                                       "eviction_policy), or remove it")
    return Kernel(doc, name, data.get("doc", ""), TARGETS[data.get("target", DEFAULT_TARGET)],
                  {n: d for n, d in dims.items() if n not in derived}, builder.buffers, launch,
                  stages, builder.barriers, derived, builder.tunables, chosen)
