"""What a spec uses, read from the spec itself (not from the generator's choices): stage kinds,
copy directions, dtypes, ranks, layouts, options, kinds of dims, loops, slots, odd lengths.
The coverage test checks that a sample of generated specs uses every feature; the batch reports
which features the failing kernels share."""
from __future__ import annotations

import re

from tlspec.dtypes import DTYPE_BYTES

SCOPES = {"global": "global", "shared": "shared", "shared.dyn": "shared", "fragment": "fragment"}
ODD = {1, 3, 5, 7, 13, 33, 63, 100, 1001}


def _value(extent, spec: dict) -> int | None:
    """A constant extent's value (an integer, or a constant dim)."""
    if isinstance(extent, int) or str(extent).isdigit():
        return int(extent)
    value = (spec.get("dims") or {}).get(extent)
    return value if isinstance(value, int) else None


def _buffer(region: str) -> str:
    return region.split("[", 1)[0].strip()


def _stages(stages: list, depth: int = 0):
    for stage in stages:
        (kind, options), = stage.items()
        yield kind, options or {}, depth
        if kind == "for":
            yield from _stages(options["stages"], depth + 1)


def features(spec: dict) -> set[str]:
    found: set[str] = set()
    buffers = spec["buffers"]
    for b in buffers.values():
        found.add(f"dtype:{b['dtype']}")
        if b["scope"] == "global":
            found.add(f"rank:{len(b['shape'])}")
            found |= {"extent:odd" for e in b["shape"] if isinstance(e, int) and e in ODD - {1}}
            last = _value(b["shape"][-1], spec)
            if last is not None and last * DTYPE_BYTES[b["dtype"]] % 16:
                found.add("row:not_16B")
            found |= {"extent:expression" for e in b["shape"] if isinstance(e, str) and " " in e}
        else:
            found.add(f"scope:{b['scope']}")
        if b["scope"].startswith("shared"):
            found.add(f"layout:{b.get('layout', 'auto')}")
    for value in (spec.get("dims") or {}).values():
        if isinstance(value, int):
            found.add("dim:constant")
        else:
            found.add("dim:symbolic")
            found |= {f"dim:{key}" for key in value if isinstance(value, dict) and key != "symbolic"}
    counts = list(spec["launch"]["grid"].values()) + [
        o["extent"] for k, o, _ in _stages(spec["stages"]) if k == "for"]
    for count in counts:
        for extent, tile in re.findall(r"ceildiv\((\w+), (\d+)\)", str(count)):
            value = _value(extent, spec)
            if value is not None and value % int(tile):
                found.add("tile:partial")
    for kind, options, depth in _stages(spec["stages"]):
        found.add(f"stage:{kind}")
        if kind == "for":
            found |= {"for:nested"} if depth else set()
            found |= {"for:start"} if options.get("start") else set()
            found |= {"for:one_stage"} if len(options["stages"]) == 1 else set()
            continue
        for key, value in options.items():
            if key in ("prefer_instruction", "eviction_policy"):
                found.add(f"option:{key}={value}")
            elif key in ("coalesced_width", "disable_tma", "loop_layout", "stride", "dilation",
                         "pad"):
                found.add(f"option:{key}")
        regions = [v for k, v in options.items() if k in ("src", "dst", "col")]
        if any(re.search(r"\[[^\]]*%", r) for r in regions):
            found.add("slot")
        if kind == "copy":
            src, dst = (SCOPES[buffers[_buffer(options[k])]["scope"]] for k in ("src", "dst"))
            found.add(f"copy:{src}->{dst}")
        if kind in ("gather", "scatter"):
            found.add(f"index:{buffers[_buffer(options['index'])]['dtype']}")
    return found


def index_fills(spec: dict) -> dict[str, dict]:
    """How to fill each index tensor: {"table": the table it indexes, "distinct": for a scatter}
    (cases.call_arrays)."""
    fills = {}
    for kind, options, _ in _stages(spec["stages"]):
        if kind in ("gather", "scatter"):
            table = _buffer(options["src" if kind == "gather" else "dst"])
            fills[_buffer(options["index"])] = {"table": table, "distinct": kind == "scatter"}
    return fills
