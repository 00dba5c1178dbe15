"""Thread block clusters over a generated spec (tiled or pipelined family): the kernel is
repeated along a new grid index `br` grouped into clusters of 2, 4 or 8 blocks, each block
writing its own copy of every output (a new leading dimension indexed by `br`), and some of its
loads (copies from an input into a shared tile) become `copy_cluster` multicasts to the whole
cluster. The inputs do not depend on `br`, so the blocks of a cluster share every multicast's
source, as the compiler requires; inside a `pipeline` a multicast into a slot is issued ahead
through the release ring (InjectSoftwarePipeline).

Every block of the cluster is in the mask: a block outside it would store a tile it never
received, which the interpreter (rightly) calls undefined.

Before that, in most of them, one load becomes a block-to-block exchange (`_exchange`):
a load of an input into a shared tile T, a tile no other stage writes, outside any `pipeline`,
is made per block (the input gets a leading dimension indexed by `br`, so the blocks of a
cluster load different data), and right after it T travels to another block of the cluster,
`copy_cluster {src: T, dst: R, dst_block: (br + s) % size}` into a new tile R of T's shape and
dtype (T's layout or the default), sometimes completing on a `remote_barrier` the receiver
announces and waits for (parity: the copies before this one over the enclosing loops, mod 2).
Most stages that read T read R instead, so each block's outputs hold the tile of the block s
ranks before it: a copy reaching the wrong block or the wrong place, or read before it landed,
shows in the result. In some, T is reloaded right after the copy (from another block's part of
the input), before the receiver's wait: a copy still reading T then would deliver the new tile.
"""
from __future__ import annotations

import copy
from math import prod

from spec_builder import Generated, SpecBuilder
from spec_yaml import to_yaml
from tlspec.dtypes import DTYPE_BYTES
from tlspec.limits import MAX_TX
from tlspec.tensormap_rules import MAX_RANK
from tlspec.validate import validate_text

CHANCE = 0.4               # of the tiled and pipelined specs with a grid index left
SIZES = {2: 3, 4: 2, 8: 1}
REPEAT = "br"
EXCHANGE = 0.7             # of the cluster specs with a load that can become an exchange
REMOTE_BARRIER = 0.5       # of the exchanges
RELOAD = 0.3               # of the exchanges: the source reloaded right after the copy


def clustered(b: SpecBuilder, generated: Generated) -> Generated:
    """`generated`, sometimes made a cluster kernel as above (`b` draws the choices)."""
    spec = generated.spec
    grid = spec["launch"]["grid"]
    if len(grid) >= 3 or not b.chance(CHANCE):
        return generated
    loads = [options for options in _copies(spec["stages"]) if _loadable(spec, options)]
    if not loads:
        return generated
    size = b.pick(SIZES)
    buffers = spec["buffers"]
    outputs = {name for name, buf in buffers.items()
               if buf["scope"] == "global" and buf["io"] != "in"}
    if any(len(buffers[name]["shape"]) >= MAX_RANK for name in outputs):
        return generated            # one more dimension would take TMA stores past theirs
    repeats = size * b.rng.randint(1, 2)
    for name in outputs:
        buffers[name]["shape"] = [repeats] + list(buffers[name]["shape"])
    for options in _copies(spec["stages"]):         # the tiled families write outputs by copy
        for key in ("src", "dst"):
            if _buffer(options[key]) in outputs:
                options[key] = _repeated(options[key], len(buffers[_buffer(options[key])]["shape"]))
    for stage in _stages(spec["stages"]):
        (kind, options), = stage.items()
        if kind == "pipeline":
            options.pop("warp_specialize", None)        # not combined with clusters
    grid[REPEAT] = str(repeats)
    spec["launch"]["cluster"] = [1] * (len(grid) - 1) + [size]
    spec["target"] = "sm_90a"
    spec["doc"] += f" Repeated {repeats} times in clusters of {size}"
    if b.chance(EXCHANGE):
        per_block = _exchange(b, spec, size, repeats)
        loads = [options for options in _copies(spec["stages"]) if _loadable(spec, options)
                 and _buffer(options["src"]) != per_block]
        if not loads:
            spec["doc"] += "."
            return generated
    chosen = [o for o in loads if b.chance(0.7)] or loads[:1]
    stages = [stage for stage in _stages(spec["stages"]) if any(
        stage.get("copy") is options for options in chosen)]
    multicasts = sum(_multicast(spec, stage, size) for stage in stages)
    spec["doc"] += f", {multicasts} of its loads multicast." if multicasts else "."
    return generated


def _multicast(spec: dict, stage: dict, size: int) -> bool:
    """Make the copy `stage` a multicast to the whole cluster where the validator accepts it
    (TMA's constraints: the tile's layout, the tensor's strides); whether it did."""
    options = stage["copy"]
    stage.clear()
    stage["copy_cluster"] = {"src": options["src"], "dst": options["dst"],
                             "cluster_mask": (1 << size) - 1}
    if "eviction_policy" in options:
        stage["copy_cluster"]["eviction_policy"] = options["eviction_policy"]
    if validate_text(to_yaml(spec), f"{spec['name']}.tlspec.yaml").ok:
        return True
    stage.clear()
    stage["copy"] = options
    return False


def _exchange(b: SpecBuilder, spec: dict, size: int, repeats: int) -> str | None:
    """Make one load of `spec` per block and its tile travel to another block of the cluster,
    as the module's docstring says, where the validator accepts it; the input made per block
    (None: nothing changed)."""
    trial = copy.deepcopy(spec)
    buffers = trial["buffers"]
    candidates = [(stages, i, loops) for stages, i, loops in _loads(trial["stages"], [])
                  if _single_writer(trial, _buffer(stages[i]["copy"]["dst"]))]
    if not candidates:
        return None
    stages, i, loops = b.rng.choice(candidates)
    load = stages[i]["copy"]
    tile, source = _buffer(load["dst"]), _buffer(load["src"])
    receiver = _fresh(trial, "X")
    buffers[receiver] = {key: copy.deepcopy(value) for key, value in buffers[tile].items()
                         if key != "layout" or b.chance(0.7)}
    readers = [options for options in _regions(trial["stages"])
               if _buffer(options.get("src", "")) == tile]
    if not readers:
        return None
    moved = [options for options in readers if b.chance(0.8)] or [b.rng.choice(readers)]
    for options in moved:
        options["src"] = receiver + options["src"][len(tile):]
    shift = b.rng.randrange(1, size)
    exchange = {"src": tile, "dst": receiver, "dst_block": f"({REPEAT} + {shift}) % {size}"}
    added = [{"copy_cluster": exchange}]
    nbytes = prod(buffers[tile]["shape"]) * DTYPE_BYTES[buffers[tile]["dtype"]]
    if b.chance(REMOTE_BARRIER) and nbytes <= MAX_TX:
        barrier = exchange["remote_barrier"] = _fresh(trial, "xb")
        added = [{"barrier_arrive": {"barrier": barrier, "expect_tx": nbytes}}, *added,
                 {"barrier_wait": {"barrier": barrier, "parity": f"({_uses(loops)}) % 2"}}]
    reload = None
    if b.chance(RELOAD):        # the source rewritten before the copy is known to have landed
        reload = {"src": load["src"], "dst": tile}
        added.insert(added.index({"copy_cluster": exchange}) + 1, {"copy": reload})
    stages[i + 1:i + 1] = added
    if "remote_barrier" in exchange:
        trial["stages"].insert(0, {"alloc_barrier": {"name": exchange["remote_barrier"]}})
    buffers[source]["shape"] = [repeats] + list(buffers[source]["shape"])
    for options in _regions(trial["stages"]):
        for key in ("src", "dst"):
            if _buffer(options.get(key, "")) == source:
                options[key] = _repeated(options[key], len(buffers[source]["shape"]))
    if reload is not None:      # another block's tile of the input: different data
        reload["src"] = reload["src"].replace(f"[{REPEAT}, ", f"[({REPEAT} + 1) % {repeats}, ", 1)
    if not validate_text(to_yaml(trial), f"{spec['name']}.tlspec.yaml").ok:
        return None
    trial["doc"] += (f"; its tile {tile} goes to {receiver} of rank {exchange['dst_block']}"
                     + (" on a remote barrier" if "remote_barrier" in exchange else ""))
    spec.clear()
    spec.update(trial)
    return source


def _loads(stages: list, loops: list):
    """(the stage list, the index in it, the enclosing loops) of every copy into a whole tile
    outside a `pipeline`."""
    for i, stage in enumerate(stages):
        (kind, options), = stage.items()
        if kind == "for":
            yield from _loads(options["stages"], loops + [options])
        elif kind == "copy" and "[" not in options["dst"] and "fill" not in options:
            yield stages, i, loops


def _single_writer(spec: dict, tile: str) -> bool:
    """Whether `tile` is a shared tile written by one stage only, a copy from an input."""
    buffers = spec["buffers"]
    if not buffers[tile]["scope"].startswith("shared"):
        return False
    writers = [o for o in _regions(spec["stages"]) if _buffer(o.get("dst", "")) == tile]
    source = buffers[_buffer(writers[0]["src"])]
    return len(writers) == 1 and source["scope"] == "global" and source["io"] == "in"


def _regions(stages: list) -> list[dict]:
    """The options of every stage (in loops too) that names regions."""
    return [options for stage in _stages(stages) for kind, options in stage.items()
            if isinstance(options, dict) and ("src" in options or "dst" in options)]


def _uses(loops: list) -> str:
    """The number of iterations of `loops` (outermost first) run before the current one."""
    n = "0"
    for loop in loops:
        index = f"({loop['var']} - {loop['start']})" if loop.get("start") else loop["var"]
        n = index if n == "0" else f"({n}) * ({loop['extent']}) + {index}"
    return n


def _fresh(spec: dict, prefix: str) -> str:
    """A name no buffer, barrier or loop variable of `spec` has."""
    taken = set(spec["buffers"]) | {options.get("name", options.get("var"))
                                    for stage in _stages(spec["stages"])
                                    for options in stage.values() if isinstance(options, dict)}
    return next(f"{prefix}{i}" for i in range(len(taken) + 1) if f"{prefix}{i}" not in taken)


def _stages(stages: list):
    for stage in stages:
        yield stage
        (kind, options), = stage.items()
        if kind in ("for", "pipeline"):
            yield from _stages(options["stages"])


def _copies(stages: list) -> list[dict]:
    return [options for stage in _stages(stages)
            for kind, options in stage.items() if kind == "copy"]


def _buffer(region: str) -> str:
    return region.split("[", 1)[0].strip()


def _repeated(region: str, rank: int) -> str:
    """The region of an output with its new leading dimension indexed by `br`."""
    name, _, rest = region.partition("[")
    return f"{name}[{REPEAT}, {rest}" if rest else f"{name}[{REPEAT}{', :' * (rank - 1)}]"


def _loadable(spec: dict, options: dict) -> bool:
    """Whether a copy may become a multicast: an input region into a shared tile of its dtype,
    with none of the options a multicast lacks (its instruction is always TMA)."""
    buffers = spec["buffers"]
    src, dst = (buffers[_buffer(options[k])] for k in ("src", "dst"))
    return (src["scope"] == "global" and src["io"] == "in"
            and dst["scope"].startswith("shared") and src["dtype"] == dst["dtype"]
            and options.get("prefer_instruction", "tma") == "tma"
            and "fill" not in options and not options.get("disable_tma"))
