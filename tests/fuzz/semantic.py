"""Mutations that keep a spec's structure but change its meaning: names, regions, expressions
(division by zero, huge or negative values), extents, dtypes, scopes, layouts, targets, options
of another stage kind, loops, symbolic dims, hostile doc text. Many of the mutants are valid
specs of another kernel: those are what the compile slice of the fuzzer compiles."""
from __future__ import annotations

import random
import re

from tlspec.stages import STAGE_KINDS

from .tree import kernels, on_tree, pick, stage_options, stages

INTS = [0, 1, -1, 2, 3, 4, 7, 8, 16, 31, 64, 100, 128, 1000, 1001, 65535, 65536, 2**31 - 1,
        2**31, 2**32, 2**62, 2**62 + 1, 2**63 - 1, 2**63, -(2**63), 10**30]
SIZES = [1, 2, 3, 5, 7, 8, 16, 63, 64, 65, 100, 127, 128, 129, 1000, 1001, 1023, 4096, 4100,
         16384, 65535, 65536, 2**31]
DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64", "float8_e4m3", "float8_e5m2", "fp16", "half"]
SCOPES = ["global", "shared", "shared.dyn", "local", "fragment", "register"]
LAYOUTS = ["auto", "row_major", "padded", "swizzle_32B", "swizzle_64B", "swizzle_128B", "tiled"]
TARGETS = ["sm_90a", "sm_80", "sm_100a", "sm_89"]
HOSTILE_NAMES = ["_runtime", "__init__", "class", "stream", "ceildiv", "threadIdx", "lambda",
                 "A", "M", "bx", "k", "x" * 300, "B_flat", "A_s_flat", "kernels", "json", "os"]
HOSTILE_TEXT = ["a\x00b", 'say """hi"""', "back\\slash \\n", "caf\u00e9 \u2028 \ud800",
                "cr\rlf", "\t tab", "x" * 5000, "", "   "]
INT_OPTIONS = {"threads", "coalesced_width", "kernel", "stride", "dilation", "pad", "count",
               "arrive_count", "pending", "num_stages", "rows", "vector", "leader_scope_threads",
               "cluster_mask", "multiple_of", "min", "max"}
REGION_OPTIONS = {o for kind in STAGE_KINDS.values() for o in kind.regions}
EXPR_OPTIONS = {o for kind in STAGE_KINDS.values() for o in kind.exprs}
NAME = re.compile(r"[A-Za-z_]\w*")


def _kernel(rng, docs):
    found = kernels(docs)
    return rng.choice(found) if found else None


def _expr_slots(kernel: dict) -> list:
    """Places holding an expression: shapes, grid extents, stage expression options."""
    found = []
    for buffer in (kernel.get("buffers") or {}).values():
        if isinstance(buffer, dict) and isinstance(buffer.get("shape"), list):
            found += [(buffer["shape"], i) for i in range(len(buffer["shape"]))]
    grid = (kernel.get("launch") or {}).get("grid") if isinstance(kernel.get("launch"), dict) else None
    if isinstance(grid, dict):
        found += [(grid, k) for k in grid]
    found += [(o, k) for o in stage_options(kernel) for k in o if k in EXPR_OPTIONS]
    return found


def _region_slots(kernel: dict) -> list:
    return [(o, k) for o in stage_options(kernel) for k in o
            if k in REGION_OPTIONS and isinstance(o[k], str)]


def _names(kernel: dict) -> list[str]:
    """The names a kernel defines: dims, buffers, block indices, loop variables."""
    names = [str(k) for key in ("dims", "buffers") if isinstance(kernel.get(key), dict)
             for k in kernel[key]]
    launch = kernel.get("launch")
    if isinstance(launch, dict) and isinstance(launch.get("grid"), dict):
        names += [str(k) for k in launch["grid"]]
    names += [str(o["var"]) for o in stage_options(kernel) if "var" in o]
    return names


def _choose(rng, slots):
    return rng.choice(slots) if slots else None


def _set(rng, slot, values) -> bool:
    if slot is None:
        return False
    slot[0][slot[1]] = rng.choice(values)
    return True


def division_by_zero(rng, docs):
    kernel = _kernel(rng, docs)
    slot = _choose(rng, _expr_slots(kernel)) if kernel else None
    if slot is None:
        return False
    e = slot[0][slot[1]]
    names = _names(kernel) or ["1"]
    n = rng.choice(names)
    slot[0][slot[1]] = rng.choice([f"({e}) // 0", f"({e}) % ({n} - {n})", f"ceildiv({e}, 0)",
                                   f"({e}) // {n}", f"({e}) // ({n} - 1)", f"{e} % (0)"])
    return True


def expression_value(rng, docs):
    kernel = _kernel(rng, docs)
    if kernel is None:
        return False
    names = _names(kernel) or ["1"]
    n = rng.choice(names)
    return _set(rng, _choose(rng, _expr_slots(kernel)),
                INTS + [f"{n} * {n} * {n} * {n} * {n}", f"-{n}", f"{n} - {n}", f"{n} + 1",
                        f"min({n}, 0)", f"max({n}, 4611686018427387904)", n])


def int_option(rng, docs):
    slot = pick(rng, docs, lambda s: s[1] in INT_OPTIONS or (isinstance(s[0], list) and
                                                              isinstance(s[0][s[1]], int)))
    return _set(rng, slot, INTS)


def dim_value(rng, docs):
    kernel = _kernel(rng, docs)
    dims = kernel.get("dims") if kernel else None
    if not isinstance(dims, dict) or not dims:
        return False
    name = rng.choice(list(dims))
    dims[name] = rng.choice(SIZES + ["symbolic", {"symbolic": True, "min": 1},
                                     {"symbolic": True, "multiple_of": rng.choice([1, 8, 64])},
                                     {"symbolic": True, "min": 64, "max": 32},
                                     {"symbolic": True, "max": 1}])
    return True


def _buffer_field(rng, docs, key, values, every=False):
    kernel = _kernel(rng, docs)
    buffers = kernel.get("buffers") if kernel else None
    if not isinstance(buffers, dict) or not buffers:
        return False
    chosen = [b for b in buffers.values() if isinstance(b, dict)]
    if not chosen:
        return False
    value = rng.choice(values)
    for buffer in chosen if every else [rng.choice(chosen)]:
        buffer[key] = value
    return True


def dtype(rng, docs):
    return _buffer_field(rng, docs, "dtype", DTYPES)


def dtype_everywhere(rng, docs):
    return _buffer_field(rng, docs, "dtype", DTYPES[:14], every=True)


def scope(rng, docs):
    return _buffer_field(rng, docs, "scope", SCOPES)


def layout(rng, docs):
    return _buffer_field(rng, docs, "layout", LAYOUTS)


def io(rng, docs):
    return _buffer_field(rng, docs, "io", ["in", "out", "inout", None, "IN"])


def buffer_doc(rng, docs):
    return _buffer_field(rng, docs, "doc", HOSTILE_TEXT)


def shape_rank(rng, docs):
    kernel = _kernel(rng, docs)
    shapes = [b["shape"] for b in (kernel.get("buffers") or {}).values()
              if isinstance(b, dict) and isinstance(b.get("shape"), list)] if kernel else []
    if not shapes:
        return False
    shape = rng.choice(shapes)
    if rng.random() < 0.5 and len(shape) > 1:
        shape.pop(rng.randrange(len(shape)))
    else:
        shape.insert(rng.randrange(len(shape) + 1), rng.choice(SIZES[:8]))
    return True


def kernel_text(rng, docs):
    kernel = _kernel(rng, docs)
    if kernel is None:
        return False
    key, values = rng.choice([("doc", HOSTILE_TEXT), ("target", TARGETS),
                              ("name", HOSTILE_NAMES), ("tlspec", [2, "1", 1.0])])
    kernel[key] = rng.choice(values)
    return True


def rename(rng, docs):
    """A name defined by the kernel renamed everywhere it is used (or, sometimes, only where it
    is defined): hostile names, collisions, the '_flat' suffix of the compiler's tile views."""
    kernel = _kernel(rng, docs)
    names = _names(kernel) if kernel else []
    if not names:
        return False
    old, new = rng.choice(names), rng.choice(HOSTILE_NAMES + [n + "_flat" for n in names])
    everywhere = rng.random() < 0.8

    def renamed(value):
        if isinstance(value, str):
            return NAME.sub(lambda m: new if m.group() == old else m.group(), value) \
                if everywhere else (new if value == old else value)
        if isinstance(value, list):
            return [renamed(v) for v in value]
        if isinstance(value, dict):
            return {renamed(k) if isinstance(k, str) else k: renamed(v) for k, v in value.items()}
        return value

    for key in ("dims", "buffers", "launch", "stages"):
        if key in kernel:
            kernel[key] = renamed(kernel[key])
    return True


def _region(rng, docs):
    """(kernel, place of a region option, its buffer name) or None."""
    kernel = _kernel(rng, docs)
    slot = _choose(rng, _region_slots(kernel)) if kernel else None
    word = NAME.match(slot[0][slot[1]].strip()) if slot else None
    return (kernel, slot, word.group()) if word else None


def reference(rng, docs):
    """A region naming another buffer, a dim, a block index, a barrier or nothing known."""
    found = _region(rng, docs)
    if found is None:
        return False
    kernel, (options, key), name = found
    other = rng.choice(_names(kernel) + HOSTILE_NAMES[:4] + ["nowhere"])
    options[key] = options[key].replace(name, other, 1)
    return True


def region(rng, docs):
    found = _region(rng, docs)
    if found is None:
        return False
    kernel, (options, key), name = found
    n = rng.choice(_names(kernel) or ["0"])
    edits = [
        lambda t: name,                                                     # whole buffer
        lambda t: re.sub(r"\+\s*\d+", lambda m: "+" + str(rng.choice(SIZES + [0, -4])), t),
        lambda t: re.sub(r"\[", f"[{n} : +1, ", t, count=1),                # one more dim
        lambda t: re.sub(r",[^,\]]*\]", "]", t, count=1),                   # one dim less
        lambda t: re.sub(r"\[([^:\],]*)", lambda m: f"[{m.group(1)} + {rng.choice(INTS)}", t,
                         count=1),
        lambda t: re.sub(r"\[([^:\],]*)", lambda m: f"[({m.group(1)}) // {n}", t, count=1),
        lambda t: t.replace(":", "", 1),                                    # an index, not a slice
        lambda t: f"{name}[{n}]",
    ]
    options[key] = rng.choice(edits)(options[key])
    return True


def _other_kind_values(option):
    return {"src": "A", "dst": "B", "index": "idx[0 : 64]", "img": "img", "col": "C_s",
            "kernel": 3, "stride": 2, "pad": 1, "dilation": 2, "nhw_step": "bx", "c_step": 0,
            "var": "kk", "extent": 4, "start": 0, "stages": [], "num_stages": 2,
            "barrier": "bar", "expect_tx": 128, "parity": 0, "rows": 4, "count": 2,
            "cluster_mask": 3, "dst_block": 1, "prefer_instruction": "tma",
            "coalesced_width": 8, "eviction_policy": "evict_first", "disable_tma": True,
            "loop_layout": {"threads": [16, 16]}, "leader_scope_threads": 32, "pending": 0,
            "name": "bar", "arrive_count": 1, "remote_barrier": "bar"}.get(option, 1)


def stage_option(rng, docs):
    """An option of any kind (often another kind's), with a plausible value."""
    kernel = _kernel(rng, docs)
    options = stage_options(kernel) if kernel else []
    if not options:
        return False
    option = rng.choice(sorted({o for k in STAGE_KINDS.values() for o in k.options}))
    rng.choice(options)[option] = _other_kind_values(option)
    return True


def copy_choices(rng, docs):
    """The compile choices of a copy-like stage: instruction, vector width, hints, layout."""
    kernel = _kernel(rng, docs)
    options = [o for s in (stages(kernel) if kernel else []) for kind, o in s.items()
               if kind in ("copy", "gather", "scatter", "im2col") and isinstance(o, dict)]
    if not options:
        return False
    option, values = rng.choice([
        ("prefer_instruction", ["tma", "cp_async", "sync", "auto", "simt"]),
        ("coalesced_width", [1, 2, 4, 8, 16, 3, 64]),
        ("eviction_policy", ["evict_first", "evict_last", "evict_normal", "no_allocate"]),
        ("disable_tma", [True, False]),
        ("loop_layout", [{"threads": [16, 16]}, {"threads": [32, 8], "vector": 4},
                         {"threads": [256]}, {"threads": [8, 8, 4], "vector": 8}])])
    rng.choice(options)[option] = rng.choice(values)
    return True


def stage_kind(rng, docs):
    kernel = _kernel(rng, docs)
    found = list(stages(kernel)) if kernel else []
    if not found:
        return False
    stage = rng.choice(found)
    (kind, options), = list(stage.items())[:1] or [(None, None)]
    if kind is None:
        return False
    del stage[kind]
    stage[rng.choice(sorted(STAGE_KINDS))] = options
    return True


def stage_list(rng, docs):
    kernel = _kernel(rng, docs)
    lists = [kernel["stages"]] if kernel and isinstance(kernel.get("stages"), list) else []
    lists += [o["stages"] for o in stage_options(kernel) if isinstance(o.get("stages"), list)] \
        if kernel else []
    lists = [s for s in lists if s]
    if not lists:
        return False
    items = rng.choice(lists)
    i = rng.randrange(len(items))
    edit = rng.choice(["delete", "duplicate", "swap", "sync", "reverse", "clear"])
    if edit == "delete":
        items.pop(i)
    elif edit == "duplicate":
        items.insert(i, items[i])
    elif edit == "swap":
        j = rng.randrange(len(items))
        items[i], items[j] = items[j], items[i]
    elif edit == "sync":
        items.insert(i, {"sync_threads": {}})
    elif edit == "reverse":
        items.reverse()
    else:
        items.clear()
    return True


def loop(rng, docs):
    """A run of stages wrapped in a `for`: one stage or several, fresh or clashing variables,
    extents of 0, 1, a dim or an expression, sometimes a start."""
    kernel = _kernel(rng, docs)
    items = kernel.get("stages") if kernel else None
    if not isinstance(items, list) or not items:
        return False
    i = rng.randrange(len(items))
    j = min(len(items), i + rng.choice([1, 1, 2, 3]))
    names = _names(kernel)
    options = {"var": rng.choice(["kk", "kk", "j"] + names[:3]),
               "extent": rng.choice([1, 2, 4, 0, 3, 1000] + names[:2] + ["ceildiv(N, 64)"]),
               "stages": items[i:j]}
    if rng.random() < 0.3:
        options["start"] = rng.choice([0, 1, -1, 2**62, "bx"])
    items[i:j] = [{"for": options}]
    return True


def loop_edit(rng, docs):
    kernel = _kernel(rng, docs)
    loops = [o for o in stage_options(kernel) if "var" in o] if kernel else []
    if not loops:
        return False
    options = rng.choice(loops)
    key = rng.choice(["extent", "start", "var", "num_stages"])
    options[key] = rng.choice(INTS[:12] + _names(kernel) + ["k * 2", "ceildiv(N, 0)"])
    return True


def launch(rng, docs):
    kernel = _kernel(rng, docs)
    launch_ = kernel.get("launch") if kernel else None
    if not isinstance(launch_, dict):
        return False
    grid = launch_.get("grid")
    edit = rng.choice(["cluster", "threads", "grid_add", "grid_drop", "grid_reverse"])
    if edit == "cluster":
        launch_["cluster"] = rng.choice([[2], [2, 1], [1, 2, 1], [4], [16], [2**63], [3]])
    elif edit == "threads":
        launch_["threads"] = rng.choice([32, 64, 96, 128, 256, 512, 1024, 2048, 0, 100])
    elif isinstance(grid, dict) and grid:
        items = list(grid.items())
        if edit == "grid_add":
            items.append((rng.choice(["bz", "bq", "bx"]), rng.choice([1, 2, 65536, "M"])))
        elif edit == "grid_drop":
            items.pop(rng.randrange(len(items)))
        else:
            items.reverse()
        launch_["grid"] = dict(items)
    else:
        return False
    return True


MUTATORS = {fn.__name__: on_tree(fn) for fn in (
    division_by_zero, expression_value, int_option, dim_value, dtype, dtype_everywhere, scope,
    layout, io, buffer_doc, shape_rank, kernel_text, rename, reference, region, stage_option,
    copy_choices, stage_kind, stage_list, loop, loop_edit, launch)}
