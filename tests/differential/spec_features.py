"""What a spec uses, read from the spec itself (not from the generator's choices): stage kinds,
copy directions, dtypes, ranks, layouts, options, kinds of dims, loops, slots, odd lengths.
The coverage test checks that a sample of generated specs uses every feature; the batch reports
which features the failing kernels share."""
from __future__ import annotations

import re

from tlspec.dtypes import DTYPE_BYTES

SCOPES = {"global": "global", "shared": "shared", "shared.dyn": "shared", "fragment": "fragment"}
ODD = {1, 3, 5, 7, 13, 33, 63, 100, 1001}
HOPPER_KINDS = ("tma_copy", "alloc_barrier", "barrier_arrive", "barrier_wait", "tma_store_wait")
SYNC_KINDS = HOPPER_KINDS + ("async_copy", "async_commit", "async_wait", "sync_threads")
ASYNC_KINDS = ("pipeline", "tma_copy", "async_copy", "alloc_barrier")   # the asynchronous half


def _value(extent, spec: dict) -> int | None:
    """A constant extent's value (an integer, or a constant dim)."""
    if isinstance(extent, int) or str(extent).isdigit():
        return int(extent)
    value = (spec.get("dims") or {}).get(extent)
    return value if isinstance(value, int) else None


def _buffer(region: str) -> str:
    return region.split("[", 1)[0].strip()


def stages_of(stages: list, depth: int = 0):
    for stage in stages:
        (kind, options), = stage.items()
        yield kind, options or {}, depth
        if kind in ("for", "pipeline"):
            yield from stages_of(options["stages"], depth + 1)


def hopper_only(stages: list) -> bool:
    """Whether stages use what sm_80 lacks: TMA copies, mbarriers, TMA store waits, warp
    specialization."""
    return any(kind in HOPPER_KINDS or kind == "copy_cluster"
               or options.get("prefer_instruction") == "tma"
               or options.get("warp_specialize") is True for kind, options, _ in stages_of(stages))


def _pipeline(options: dict, depth: int) -> set[str]:
    """How a pipeline loop is written: depth, trip count, slots, bodies run as written."""
    found = {f"pipeline:num_stages={options.get('num_stages', 2)}"}
    found |= {"pipeline:warp_specialize"} if options.get("warp_specialize") is True else set()
    found |= {"pipeline:nested"} if depth else set()
    extent = str(options["extent"])
    found |= {"pipeline:extent_floor"} if "//" in extent else set()
    found |= {"pipeline:extent_constant"} if extent.isdigit() else set()
    body = list(stages_of(options["stages"]))
    var = re.escape(options["var"])
    regions = [v for _, o, _ in body for k, v in o.items() if k in ("src", "dst")]
    moduli = [int(m) for r in regions for m in re.findall(rf"\[{var} % (\d+)", r)]
    found |= {"pipeline:slot"} if moduli else set()
    found |= {"pipeline:slots>stages"} if any(m > options.get("num_stages", 2)
                                               for m in moduli) else set()
    found |= {"pipeline:other_slot"} if any(re.search(rf"\[\({var} \+ 1\) %", r)
                                             for r in regions) else set()
    written = [_buffer(o["dst"]) for k, o, _ in body if k == "copy"]
    found |= {"pipeline:overwrite"} if len(written) > len(set(written)) else set()
    found |= {"pipeline:explicit"} if any(k in SYNC_KINDS for k, _, _ in body) else set()
    return found


def _synchronisation(kind: str, options: dict) -> set[str]:
    """The explicit asynchronous stages' variants."""
    found = set()
    if kind == "tma_copy":
        found.add("tma_copy:load" if "barrier" in options else "tma_copy:store")
    if kind in ("tma_copy", "async_copy") and "+ 1)" in options["src"]:
        found.add("prefetch")
    if kind == "alloc_barrier":
        found |= {"barrier:array"} if options.get("count", 1) > 1 else set()
        found |= {"barrier:arrive_count>1"} if options.get("arrive_count", 1) > 1 else set()
    if kind == "barrier_wait" and not str(options["parity"]).isdigit():
        found.add("barrier:parity_loop")
    if kind in ("async_wait", "tma_store_wait") and options.get("pending"):
        found.add(f"{kind}:pending>0")
    return found


def features(spec: dict) -> set[str]:
    found: set[str] = {f"target:{spec.get('target', 'sm_90a')}"}
    if "cluster" in spec["launch"]:
        found.add(f"cluster:{max(spec['launch']['cluster'])}")
    buffers = spec["buffers"]
    if any(not any(c.isdigit() for c in name) for name in buffers):
        found.add("names:awkward")      # spec_builder.AWKWARD_NAMES (its own names hold digits)
    for b in buffers.values():
        found.add(f"dtype:{b['dtype']}")
        if b["scope"] == "global":
            found.add(f"rank:{len(b['shape'])}")
            found |= _pitch(b, spec)
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
        elif isinstance(value, dict) and "expr" in value:
            found.add("dim:derived")
        else:
            found.add("dim:symbolic")
            found |= {f"dim:{key}" for key in value if isinstance(value, dict) and key != "symbolic"}
    counts = list(spec["launch"]["grid"].values()) + [
        o["extent"] for k, o, _ in stages_of(spec["stages"]) if k in ("for", "pipeline")]
    for count in counts:
        for extent, tile in re.findall(r"ceildiv\((\w+), (\d+)\)", str(count)):
            value = _value(extent, spec)
            if value is not None and value % int(tile):
                found.add("tile:partial")
    for kind, options, depth in stages_of(spec["stages"]):
        found.add(f"stage:{kind}")
        found |= {"async"} if kind in ASYNC_KINDS else set()
        found |= _synchronisation(kind, options)
        if kind == "pipeline":
            found |= _pipeline(options, depth)
            if any(k == "copy_cluster" for k, _, _ in stages_of(options["stages"])):
                found.add("pipeline:multicast")
            continue
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
            if kind == "im2col" and isinstance(value, list):
                found.add("im2col:per_axis")
        regions = [v for k, v in options.items() if k in ("src", "dst", "col")]
        if any(re.search(r"\[[^\]]*%", r) for r in regions):
            found.add("slot")
        if any(re.search(r"- \d+ : \+", r) for r in regions):
            found.add("region:halo")
        if "fill" in options:
            found.add("option:fill")
        if kind == "copy_cluster" and "remote_barrier" in options:
            found.add("copy_cluster:remote_barrier")
        if kind in ("copy", "async_copy", "tma_copy", "copy_cluster"):
            src, dst = (SCOPES[buffers[_buffer(options[k])]["scope"]] for k in ("src", "dst"))
            found.add(f"{kind}:{src}->{dst}")
            if len({buffers[_buffer(options[k])]["dtype"] for k in ("src", "dst")}) > 1:
                found.add(f"{kind}:convert")
        if kind in ("gather", "scatter"):
            found |= _indexed(kind, options, buffers)
        if kind == "copy":
            found |= _strided(options, buffers)
        if kind == "im2col":
            found |= {"im2col:nchw"} if options.get("layout") == "nchw" else set()
            found |= {"im2col:fill"} if "fill" in options else set()
    return found


def _pitch(buffer: dict, spec: dict) -> set[str]:
    """A global tensor's declared strides: a pitched view, its row pitch a symbolic dim."""
    strides = buffer.get("strides")
    if strides is None:
        return set()
    dims = spec.get("dims") or {}
    return {"strides:pitched"} | ({"strides:dim"} if isinstance(dims.get(str(strides[-2])), dict)
                                  else set())


def _indexed(kind: str, options: dict, buffers: dict) -> set[str]:
    """A gather or scatter: its index tensor's dtype, or its computed indices' forms."""
    index = options["index"]
    if isinstance(index, str):
        return {f"index:{buffers[_buffer(index)]['dtype']}"}
    table = buffers[_buffer(options["src" if kind == "gather" else "dst"])]
    found = {f"{kind}:computed", f"computed:table_rank={len(table['shape'])}"}
    found |= {"computed:each"} if options.get("each") else {"computed:no_each"}
    found |= {f"computed:each={len(options['each'])}"} if options.get("each") else set()
    found |= {"computed:out_of_range"} if "out_of_range" in options else set()
    found |= {"computed:fill"} if "fill" in options else set()
    reads = [r for expr in index for r in _reads(str(expr), buffers)]
    found |= {"computed:reads"} if reads else {"computed:arithmetic"}
    found |= {f"index:{buffers[r]['dtype']}" for r in reads}
    return found


def _reads(expr: str, buffers: dict) -> list[str]:
    """The global tensors an index expression reads."""
    return [name for name in re.findall(r"(\w+)\[", expr) if name in buffers]


def slices(region: str) -> list[str]:
    """The subscripts of a region, split at the top-level commas."""
    if "[" not in region:
        return []
    inner, parts, depth, part = region.split("[", 1)[1].rsplit("]", 1)[0], [], 0, ""
    for ch in inner:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(part.strip())
            part = ""
        else:
            part += ch
    return parts + [part.strip()]


def _strided(options: dict, buffers: dict) -> set[str]:
    """A copy with a strided global region: load or store, steps on outer or the innermost
    dimension, steps above TMA's 8."""
    found = set()
    for key, direction in (("src", "load"), ("dst", "store")):
        parts = slices(options[key])
        steps = [int(p.rsplit(":", 1)[1]) if p.count(":") == 2 else 0 for p in parts]
        if not any(steps):
            continue
        found |= {f"strided:{direction}"}
        found |= {"strided:inner"} if steps[-1] > 1 else set()
        found |= {"strided:outer"} if any(s > 1 for s in steps[:-1]) else set()
        found |= {"strided:step=1"} if 1 in steps else set()
        found |= {"strided:step>8"} if max(steps) > 8 else set()
        found |= {"strided:fill"} if direction == "load" and "fill" in options else set()
        found |= {"strided:tma"} if options.get("prefer_instruction") == "tma" else set()
    return found


def index_fills(spec: dict) -> dict[str, dict]:
    """How to fill each index tensor: {"table": the table it indexes, "dim": the table's
    dimension its values index (computed indices; 0 when absent), "distinct": for a scatter}
    (cases.call_arrays)."""
    fills = {}
    for kind, options, _ in stages_of(spec["stages"]):
        if kind in ("gather", "scatter"):
            table = _buffer(options["src" if kind == "gather" else "dst"])
            index = options["index"]
            if isinstance(index, str):
                fills[_buffer(index)] = {"table": table, "distinct": kind == "scatter"}
                continue
            for dim, expr in enumerate(index):       # computed: the reads index dimension dim
                for name in _reads(str(expr), spec["buffers"]):
                    fills[name] = {"table": table, "dim": dim, "distinct": kind == "scatter"}
    return fills
