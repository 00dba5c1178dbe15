"""The text of `tlspec explain`: the reports of report.explain_kernel, for people."""
from __future__ import annotations

LOOPS = ("for", "pipeline")


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 ** 2:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024 ** 2:.1f} MiB" if count < 1024 ** 3 else f"{count / 1024 ** 3:.2f} GiB"


def _instruction(stage: dict) -> str:
    if stage["instruction"] is None:
        return "loop" if stage["kind"] in LOOPS else "synchronisation, moves no data"
    text = stage["instruction"]
    if stage["vector"] is not None:
        text += f", {stage['vector']} element{'s' * (stage['vector'] != 1)} per access"
    if stage["threads"]:
        text += f", threads {' x '.join(str(t) for t in stage['threads'])}"
    return text


def _stages(report: dict) -> list[str]:
    lines = ["stages:"]
    for stage in report["stages"]:
        lines.append(f"  {stage['where']}: {stage['kind']}: {_instruction(stage)}")
        if stage["spec"]:
            lines.append(f"    spec: {stage['spec']}")
        if stage["why"]:
            lines.append(f"    why:  {stage['why']}")
        if "pipeline" in stage:
            loads = ", ".join(str(i) for i in stage["pipeline"]["loads"]) or "none"
            lines.append(f"    pipeline: loads issued ahead: {loads}; {stage['pipeline']['why']}")
    for warning in report["warnings"]:
        lines.append(f"  warning: {warning['path']}:{warning['line']}:{warning['column']}: "
                     f"{warning['message']}")
    return lines


def _shared(report: dict) -> list[str]:
    shared = report["shared_memory"]
    lines = [f"shared memory: {shared['bytes']} bytes (dynamic)"]
    for tile in shared["tiles"]:
        swizzle = f", {tile['swizzle_bytes']}-byte swizzle" if tile["swizzle_bytes"] else ""
        lines.append(f"  {tile['name']} {'x'.join(str(n) for n in tile['shape'])}: "
                     f"{tile['layout']}{swizzle}, {tile['bytes']} bytes at offset {tile['offset']}")
    if shared["mbarriers"]:
        bars = shared["mbarriers"]
        lines.append(f"  mbarriers: {bars['count']} x 8 bytes at offset {bars['offset']}")
    return lines


def _resources(report: dict) -> list[str]:
    fit = report["occupancy"]
    registers = report["registers"] if report["registers"] is not None else "unknown"
    limits = ", ".join(f"{name} {n if n is not None else 'unknown'}"
                       for name, n in fit["limits"].items())
    local = report["local_memory_bytes"]
    if local == 0:
        spills = "no local memory, so no spills"
    else:
        spills = (f"{local if local is not None else 'unknown'} bytes of local memory per thread "
                  "(spills or arrays indexed at run time: the cubin does not say which)")
    return [f"threads: {report['threads']} per block; registers: {registers} per thread; "
            + spills,
            f"occupancy: {fit['blocks_per_sm']} blocks per SM ({fit['warps_per_sm']} of "
            f"{fit['max_warps_per_sm']} warps), limited by {' and '.join(fit['limited_by'])} "
            f"(blocks per SM allowed: {limits})"]


def _launch(report: dict) -> list[str]:
    launch = report["launch"]
    dims = ", ".join(f"{n}={v}{' (example)' if n in launch['example_dims'] else ''}"
                     for n, v in launch["dims"].items())
    lines = [f"launch{' (' + dims + ')' if dims else ''}: {launch['blocks']} blocks, "
             f"{launch['bytes']} bytes moved ({_size(launch['bytes'])})"]
    for tensor in launch["tensors"]:
        part = "" if tensor["whole"] else " (at most: only the indexed rows are touched)"
        lines.append(f"  {tensor['name']} [{', '.join(str(n) for n in tensor['shape'])}] "
                     f"{tensor['io']}: {tensor['bytes']} bytes{part}")
    lines.append("roofline (bytes / memory bandwidth):")
    for row in launch["roofline"]:
        measured = (f" ({row['measured_microseconds']:.3f} us at the {row['measured_gb_per_s']} "
                    "GB/s a copy measures)" if row["measured_gb_per_s"] else "")
        lines.append(f"  {row['gpu']} {row['gb_per_s']} GB/s: {row['microseconds']:.3f} us"
                     + measured)
    return lines


def render_text(reports: list[dict]) -> str:
    blocks = []
    for report in reports:
        lines = [f"kernel {report['kernel']} ({report['target']}) at {report['where']}"]
        if "tune" in report:
            values = ", ".join(f"{n}={v}" for n, v in report["tune"]["choice"].items())
            lines.append(f"tuned: {values} ({report['tune']['from']})")
        for part in (_stages, _shared, _resources, _launch):
            lines += part(report)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
