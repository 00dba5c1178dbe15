"""Thread block clusters over a generated spec (tiled or pipelined family): the kernel is
repeated along a new grid index `br` grouped into clusters of 2, 4 or 8 blocks, each block
writing its own copy of every output (a new leading dimension indexed by `br`), and some of its
loads (copies from an input into a shared tile) become `copy_cluster` multicasts to the whole
cluster. The inputs do not depend on `br`, so the blocks of a cluster share every multicast's
source, as the compiler requires; inside a `pipeline` a multicast into a slot is issued ahead
through the release ring (InjectSoftwarePipeline).

Every block of the cluster is in the mask: a block outside it would store a tile it never
received, which the interpreter (rightly) calls undefined.
"""
from __future__ import annotations

from spec_builder import Generated, SpecBuilder
from spec_yaml import to_yaml
from tlspec.tensormap_rules import MAX_RANK
from tlspec.validate import validate_text

CHANCE = 0.3               # of the tiled and pipelined specs with a grid index left
SIZES = {2: 3, 4: 2, 8: 1}
REPEAT = "br"


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
