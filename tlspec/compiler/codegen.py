"""Run the pipeline on a kernel's tile IR and generate its CUDA source.

Does what `tvm.compile` does up to code generation, by hand, so that the host part stays readable
for the launch manifest: BindTarget, tlspec's pipeline pass by pass (writing the IR after each
one to `dump_dir` when asked), the host/device split into modules, tvm's device finalization,
and CUDA source generation (`target.build.cuda`).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import tvm
from tvm import tirx
from tvm.tirx.build import codegen_build, split_host_device_mods
from tvm.tirx.compilation_pipeline import finalize_device_passes

from . import pipeline


@dataclass
class Lowered:
    source: str                  # CUDA C++
    host: tvm.IRModule           # the host part, before host finalization
    device: tvm.IRModule         # the device kernel(s)
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (pointer, warning, hint)


def target_for(arch: str) -> tvm.target.Target:
    return tvm.target.Target({"kind": "cuda", "arch": arch})


class DumpError(Exception):
    """The IR could not be written where --dump-ir asks (a problem of the place, not the spec)."""


def _dump(dump_dir: str | None, index: int, name: str, mod: tvm.IRModule) -> None:
    if dump_dir is None:
        return
    path = os.path.join(dump_dir, f"{index:02d}_{name}.py")
    try:
        os.makedirs(dump_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(mod.script())
    except OSError as e:
        raise DumpError(f"cannot write {path}: {e.strerror or e}") from None


def lower(mod: tvm.IRModule, arch: str, dump_dir: str | None = None,
          observe: Callable[[str, tvm.IRModule], None] | None = None) -> Lowered:
    """`observe(pass name, module)`, when given, sees the module after each pass (tlspec explain
    reads the passes' decisions there)."""
    target = target_for(arch)
    with tvm.transform.PassContext(opt_level=3), target:
        mod = tirx.transform.BindTarget(target.with_host(tvm.target.Target("llvm")))(mod)
        _dump(dump_dir, 0, "TileIR", mod)
        notes = []
        for index, info in enumerate(pipeline.PASSES, start=1):
            mod = info.make()(mod)
            _dump(dump_dir, index, info.name, mod)
            if observe is not None:
                observe(info.name, mod)
            notes += _new_notes(mod, notes)
        host, devices = split_host_device_mods(mod)
        devices = {t: finalize_device_passes()(m) for t, m in devices.items()}
        device = next(iter(devices.values()))
        source = "".join(codegen_build(m, t).inspect_source() for t, m in devices.items())
    return Lowered(_with_helpers(source), host, device, notes)


# the prefix of tlspec's own device helpers -> the file in codegen/cuda that defines them
HELPERS = {"tlspec_cluster_": "cluster.cuh", "tlspec_oob_": "oob.cuh"}


def _with_helpers(source: str) -> str:
    """The source with tlspec's own device helpers (HELPERS) where it calls them, before tvm's
    code."""
    from ..package import codegen_dir

    return "".join((codegen_dir() / "cuda" / header).read_text(encoding="utf-8")
                   for prefix, header in HELPERS.items() if prefix in source) + source


def _new_notes(mod: tvm.IRModule, known: list) -> list[tuple[str, str, str]]:
    """The passes' notes (`tlspec.notes` on a function) not collected yet."""
    found = []
    for func in mod.functions.values():
        for note in (func.attrs or {}).get("tlspec.notes", []):
            note = tuple(str(part) for part in note)
            if note not in known + found:
                found.append(note)
    return found
