"""What `tlspec compile` makes of a tune record (record.py): a kernel without symbolic dims is
compiled with its winner's values; a kernel with symbolic dims is compiled with its first
candidates (the kernel for the size classes the record does not hold) and once more, as
`<kernel>__tuned<k>`, per other winner, and its wrapper picks per call the kernel of the call's
size class (codegen/tuned_choose.py.tmpl). A record of an older version of the spec is warned
about and not used; a recorded choice that no longer validates, or that the compiler refuses
(a record made by another tlspec), is warned about and the first candidates run instead."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Diagnostics
from ..model import Kernel
from .classes import STATIC, size_class
from .record import chosen, read_record, record_path
from .variants import label, with_choice

SEPARATOR = "__tuned"


@dataclass
class Dispatch:
    """A symbolic kernel's tuned variants: the size classes each runs."""
    dims: list[str]                                          # the dims that make a size class
    classes: dict[str, str] = field(default_factory=dict)    # size class -> variant's name


@dataclass
class Applied:
    """The kernels to compile with the records applied; the dispatch of each kernel that has
    tuned variants (by its name); and per kernel compiled with a record's choice (by name) what
    runs if the compiler refuses that choice: the kernel with its first candidates, or None for a
    tuned variant (its size classes then run the kernel itself)."""
    kernels: list[Kernel]
    dispatch: dict[str, Dispatch]
    first: dict[str, Kernel | None]


def apply_records(kernels: list[Kernel], diags: Diagnostics) -> Applied:
    """The kernels to compile, the tune records beside their specs applied."""
    out: list[Kernel] = []
    dispatch: dict[str, Dispatch] = {}
    first: dict[str, Kernel | None] = {}
    for kernel in kernels:
        out.append(kernel)
        if not kernel.tunables:
            continue
        classes = _classes(kernel, diags)
        if not classes:
            continue
        if STATIC in classes:
            out[-1] = _rebuilt(kernel, classes[STATIC], diags) or kernel
            if out[-1] is not kernel:
                first[kernel.name] = kernel
            continue
        names: dict[str, str] = {}        # a winner's label -> its variant's name
        plan = Dispatch([n for n, d in kernel.dims.items() if d.symbolic])
        for size, choice in classes.items():
            if choice == kernel.choice:
                continue                  # the kernel itself runs this class
            if label(choice) not in names:
                name = f"{kernel.name}{SEPARATOR}{len(names) + 1}"
                variant = _rebuilt(kernel, choice, diags, name)
                if variant is None:
                    continue
                names[label(choice)] = name
                out.append(variant)
                first[name] = None
            plan.classes[size] = names[label(choice)]
        if plan.classes:
            dispatch[kernel.name] = plan
    return Applied(out, dispatch, first)


def explained(kernel: Kernel, dims: dict[str, int], diags: Diagnostics) -> tuple[Kernel, str]:
    """For `tlspec explain`: the kernel `tlspec compile` runs for calls binding `dims` (the
    symbolic dims given), the record beside the spec applied, and where its parameters' values
    come from."""
    classes = _classes(kernel, diags)
    if not classes:
        return kernel, "the first candidates: no tune record holds this version of the kernel"
    symbolic = [n for n, d in kernel.dims.items() if d.symbolic]
    if any(n not in dims for n in symbolic):
        return kernel, ("the first candidates: give every symbolic dim (--dim) to see the tune "
                        "record's choice for its size class")
    size = size_class({n: dims[n] for n in symbolic})
    choice = classes.get(size)
    if choice is None:
        return kernel, f"the first candidates: the tune record holds no choice for {size}"
    rebuilt = _rebuilt(kernel, choice, diags) if choice != kernel.choice else kernel
    if rebuilt is None:
        return kernel, f"the first candidates: the tune record's choice for {size} is refused"
    return rebuilt, "the tune record's choice" + ("" if size == STATIC else f" for {size}")


def refused_choice(kernel: Kernel, problems: list, diags: Diagnostics) -> None:
    """Warn that the compiler refused `kernel`, compiled with a record's choice, for `problems`
    (its error diagnostics), and that the first candidates run instead."""
    _warn_refused(kernel, kernel.choice, problems[0].message if problems else "refused", diags)


def drop_variant(dispatch: dict[str, Dispatch], name: str) -> None:
    """Remove the tuned variant `name`: its size classes run their kernel itself."""
    for kernel, plan in list(dispatch.items()):
        plan.classes = {c: n for c, n in plan.classes.items() if n != name}
        if not plan.classes:
            del dispatch[kernel]


def _classes(kernel: Kernel, diags: Diagnostics) -> dict[str, dict[str, int | str]]:
    """The winner per size class of the tune record beside kernel's spec ({} without one, or
    with a record of another version of the spec, which is warned about)."""
    classes, problem = chosen(kernel, read_record(kernel.path)) if kernel.tunables else ({}, None)
    if problem is not None:
        diags.warning(kernel.document.location("/tune", key=True),
                      f"the tune record {record_path(kernel.path)} is of another version of "
                      f"kernel '{kernel.name}' (its spec changed since it was tuned); "
                      f"compiling the first candidates ({label(kernel.choice)})",
                      pointer="/tune", hint=f"run tlspec tune {kernel.path} again, or delete "
                                            "the record's entry for this kernel")
    return classes


def _rebuilt(kernel: Kernel, choice: dict[str, int | str], diags: Diagnostics,
             name: str | None = None) -> Kernel | None:
    """The kernel with the recorded choice; None (warned) where that no longer validates."""
    scratch = Diagnostics()
    rebuilt = with_choice(kernel, choice, scratch, name)
    if rebuilt is None:
        _warn_refused(kernel, choice, scratch.errors[0].message if scratch.errors else "refused",
                      diags)
    return rebuilt


def _warn_refused(kernel: Kernel, choice: dict[str, int | str], reason: str,
                  diags: Diagnostics) -> None:
    spec = kernel.name.split(SEPARATOR)[0]
    diags.warning(kernel.document.location("/tune", key=True),
                  f"the tune record's choice {label(choice)} for kernel '{spec}' does not compile "
                  f"here ({reason}); using the first candidates", pointer="/tune",
                  hint=f"run tlspec tune {kernel.path} again")
