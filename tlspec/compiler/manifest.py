"""The launch manifest (docs/artifacts.md, format 1) of a compiled kernel.

Arguments, dims and checks come from the spec; the device parameter order, grid, block, dynamic
shared memory and TMA descriptors are read from the lowered host code: its `call_ffi_kernel`
(kernel name, one argument per device parameter, then the launch values) and its
`tensormap_encode_tiled` calls. Host-side integer bindings (`cse_v1 = N * 2`) are substituted
back, so every value is an expression of the kernel's symbolic dims.
"""
from __future__ import annotations

import tvm
import tvm_ffi
from tvm import tirx

from ..dim_binding import dim_sources
from ..dtypes import DTYPE_BYTES
from ..expr import BinOp, Call, Const, Expr, Neg, Var, evaluate, free_vars, to_source
from ..expr_algebra import simplify
from ..im2col import column_matrix, nhwc, output_extent, windows
from ..model import Kernel
from ..rules.declarations import MAX_GRID
from ..tensormap_rules import TensorMap, violations
from .oob_sites import RECORD_NAME, manifest_sites

FORMAT = 1
INT32_MAX = 2**31 - 1
SWIZZLE = {0: "none", 1: "32B", 2: "64B", 3: "128B"}
INTERLEAVE = {0: "none", 1: "16B", 2: "32B"}
L2_PROMOTION = {0: "none", 1: "64B", 2: "128B", 3: "256B"}
OOB_FILL = {0: "none", 1: "nan"}
# tvm's Div and Mod (C's, toward zero) are what it makes of // and % whose operands it proved
# not negative: the manifest keeps them as they are
_BINARY = {tirx.Add: "+", tirx.Sub: "-", tirx.Mul: "*", tirx.FloorDiv: "//", tirx.FloorMod: "%",
           tirx.Div: "truncdiv", tirx.Mod: "truncmod", tirx.Min: "min", tirx.Max: "max"}


class ManifestError(Exception):
    pass


def spec_expr(e: Expr, kernel: Kernel):
    """A spec expression as a manifest EXPR (constant dims and subexpressions folded in)."""
    constants = {name: dim.value for name, dim in kernel.dims.items() if not dim.symbolic}

    def convert(e: Expr):
        if all(v.name in constants for v in free_vars(e)):
            return evaluate(e, constants)
        if isinstance(e, Var):                 # not constant: a symbolic dim
            return {"dim": e.name}
        if isinstance(e, Neg):
            return {"op": "neg", "args": [convert(e.operand)]}
        if isinstance(e, BinOp):
            return {"op": e.op, "args": [convert(e.lhs), convert(e.rhs)]}
        if isinstance(e, Call):
            return {"op": e.func, "args": [convert(a) for a in e.args]}
        raise ManifestError(f"not an expression: {e!r}")

    return convert(e)


def prim_expr(e, dims: set[str]):
    """A lowered integer PrimExpr (of the symbolic dims) as a manifest EXPR."""
    if isinstance(e, int):
        return e
    if isinstance(e, tirx.IntImm):
        return int(e.value)
    if isinstance(e, tirx.Var) and e.name in dims:
        return {"dim": e.name}
    if isinstance(e, tirx.Cast):
        return prim_expr(e.value, dims)
    for node, op in _BINARY.items():
        if isinstance(e, node):
            return {"op": op, "args": [prim_expr(e.a, dims), prim_expr(e.b, dims)]}
    raise ManifestError(f"cannot express {e} ({type(e).__name__}) in the launch manifest")


def _substitute(e, env):
    if not tvm.ir.is_prim_expr(e) or not env:
        return e
    return tvm_ffi.structural_map(e, (tirx.Var, lambda v: env.get(v, v)), order="post")


def _host_bindings(func) -> dict:
    """Integer Binds of the host function that are index arithmetic (not argument unpacking)."""
    resolved = {}

    def on_bind(b):
        if not str(getattr(b.value.ty, "dtype", "")).startswith(("int", "uint")):
            return
        value = _substitute(b.value, resolved)
        if "tvm_struct_get" in str(value) or "stack_alloca" in str(value):
            return
        resolved[b.var] = value

    tvm_ffi.structural_walk(func.body, (tirx.Bind, on_bind), order="pre")
    return resolved


def _data_of(expr) -> str | None:
    """The tensor whose data pointer `expr` is (`tirx.buffer_data`), by its variable's name:
    tvm's printing renames a tensor named like a TVMScript alias (T, I)."""
    if isinstance(expr, tvm.ir.Call) and isinstance(expr.op, tvm.ir.Op) and \
            expr.op.name == "tirx.buffer_data":
        return str(expr.args[0].name)
    return None


def _tensor_start(base) -> str | None:
    """The tensor a TMA descriptor's base address is the first element of, or None."""
    if isinstance(base, tvm.ir.Call) and isinstance(base.op, tvm.ir.Op) and \
            base.op.name == "tirx.handle_add_byte_offset":
        offset = base.args[1]
        return _data_of(base.args[0]) if isinstance(offset, tirx.IntImm) and \
            int(offset.value) == 0 else None
    return _data_of(base)


def launch_facts(host: tvm.IRModule, device: tvm.IRModule, dims: set[str]) -> dict:
    params = {gv.name_hint: [str(p.name) for p in f.params] for gv, f in device.functions.items()}
    facts = {"launch": None, "tensormaps": []}
    for func in host.functions.values():
        env = _host_bindings(func)
        analyzer = tvm.sym.Analyzer()

        def value(e):
            e = _substitute(e, env)
            if tvm.ir.is_prim_expr(e) and not isinstance(e, tirx.IntImm):
                e = analyzer.simplify(e)
            return prim_expr(e, dims)

        def on_call(call):
            if not isinstance(call.op, tvm.ir.Op):
                return
            if call.op.name == "tirx.call_ffi_kernel":
                name = call.args[0].value
                count = len(params[name])
                tags = [str(t) for t in call.attrs.launch_params]
                values = list(call.args[1 + count:])
                launch, i = {}, 0
                for tag in tags:
                    if tag == "tirx.use_dyn_shared_memory":
                        continue
                    launch[tag] = value(values[i])
                    i += 1
                dynamic = value(values[i]) if "tirx.use_dyn_shared_memory" in tags else 0
                facts["launch"] = {
                    "entry": name, "host_args": list(call.args[1:1 + count]),
                    "grid": [launch.get(f"blockIdx.{c}", 1) for c in "xyz"],
                    "block": [launch.get(f"threadIdx.{c}", 1) for c in "xyz"],
                    "dynamic_shared_bytes": dynamic}
            elif call.op.name == "tirx.tensormap_encode_tiled":
                a = call.attrs
                rank = int(a.rank)
                args = list(call.args)
                facts["tensormaps"].append({
                    "map": args[0], "base": args[1], "rank": rank,
                    "dims": [value(x) for x in args[2:2 + rank]],
                    "strides": [value(x) for x in args[2 + rank:2 * rank + 1]],
                    "box": [value(x) for x in args[2 * rank + 1:3 * rank + 1]],
                    "element_strides": [value(x) for x in args[3 * rank + 1:4 * rank + 1]],
                    "interleave": INTERLEAVE[int(a.interleave)], "swizzle": SWIZZLE[int(a.swizzle)],
                    "l2_promotion": L2_PROMOTION[int(a.l2_promotion)],
                    "oob_fill": OOB_FILL[int(a.oob_fill)]})

        tvm_ffi.structural_walk(func.body, (tvm.ir.Call, on_call), order="pre")
    if facts["launch"] is None:
        raise ManifestError("no kernel launch found in the lowered host code")
    return facts


def _dims(kernel: Kernel, globals_: list) -> dict:
    """The symbolic dims; one that no extent holds alone gets `bind`, the affine extent it is
    solved from at a call (tlspec.dim_binding)."""
    sources = dim_sources(kernel)
    dims = {}
    for d in kernel.dims.values():
        if not d.symbolic:
            continue
        dims[d.name] = {"value": None, "multiple_of": d.multiple_of, "min": d.min, "max": d.max}
        source = sources[d.name]
        if (source.scale, source.offset) != (1, 0):
            dims[d.name]["bind"] = {"argument": globals_[source.argument].name,
                                    "axis": source.axis, "scale": source.scale,
                                    "offset": source.offset}
    for d in kernel.derived.values():
        dims[d.name] = {"value": None, "derived": {"expr": to_source(d.expr),
                                                   "value": spec_expr(d.expansion, kernel)}}
    return dims


def _column_matrix_checks(kernel: Kernel) -> list[dict]:
    """An im2col's output height and width are at least 1, and a global `col` is the whole
    (N*OH*OW, KH*KW*C) column matrix: validation checks constant extents, these the symbolic ones
    at the call."""
    checks = []
    for stage in kernel.walk():
        if stage.kind != "im2col":
            continue
        image, col = (kernel.buffers[stage.regions[r].name] for r in ("img", "col"))
        for axis, size, window in zip(("height", "width"), nhwc(image.shape, stage.options)[1:3],
                                      windows(stage.options)):
            extent = spec_expr(output_extent(size, window), kernel)
            check = {"expr": extent, "op": ">=", "bound": 1,
                     "message": f"im2col over {image.name}: its output {axis} must be at least 1 "
                                "(the padded image must hold the dilated kernel)"}
            if not isinstance(extent, int) and check not in checks:
                checks.append(check)
        if not col.is_global:
            continue
        for axis, have, want in zip(("rows", "columns"), col.shape,
                                    column_matrix(image.shape, stage.options)):
            check = {"expr": spec_expr(have, kernel), "op": "==", "bound": spec_expr(want, kernel),
                     "message": f"{col.name} is the column matrix of im2col over {image.name}: "
                                f"its {axis} must be {'N*OH*OW' if axis == 'rows' else 'KH*KW*C'}"}
            if simplify(have) != simplify(want) and check not in checks:
                checks.append(check)
    return checks


def _loop_checks(kernel: Kernel) -> list[dict]:
    """A loop whose end depends on symbolic dims only is checked at the call: its counter is a
    32-bit integer (a constant end was checked at compile time, int32_limits)."""
    symbolic = {d.name for d in kernel.dims.values() if d.symbolic}
    checks = []
    for stage in kernel.walk():
        if not stage.body or "extent" not in stage.exprs:
            continue
        end = BinOp("+", stage.exprs.get("start", Const(0)), stage.exprs["extent"])
        names = {v.name for v in free_vars(end)}
        if names and names <= symbolic:
            checks.append({"expr": spec_expr(end, kernel), "op": "<=", "bound": INT32_MAX,
                           "message": f"the loop over '{stage.options['var']}' counts with a "
                                      "32-bit integer: its end must stay below 2**31"})
    return checks


def _grid_checks(kernel: Kernel) -> list[dict]:
    """A grid extent that depends on symbolic dims is checked at the call against its axis's
    limit and, in a cluster launch, to be made of whole clusters (a constant one was checked by
    validation)."""
    checks = []
    for index in kernel.launch.grid:
        extent = spec_expr(index.extent, kernel)
        if isinstance(extent, int):
            continue
        limit = MAX_GRID[index.axis]
        checks.append({"expr": extent, "op": "<=", "bound": limit,
                       "message": f"grid index '{index.name}' (blockIdx.{index.axis}) would have "
                                  f"more than the {limit} blocks CUDA allows on that axis"})
        size = (kernel.launch.cluster or ())[kernel.launch.grid.index(index):][:1]
        if size and size[0] > 1:
            checks.append({"expr": {"op": "%", "args": [extent, size[0]]}, "op": "==", "bound": 0,
                           "message": f"grid index '{index.name}' (blockIdx.{index.axis}) must "
                                      f"have a multiple of {size[0]} blocks, the cluster's "
                                      "extent on that axis"})
    return checks


def _check_tensormap(index: int, t: dict) -> None:
    """A tensor map whose constant parts the driver would refuse is a compiler bug (the
    compiler chooses TMA only for descriptors that keep the driver's rules): caught here,
    rather than as CUDA_ERROR_INVALID_VALUE on every call. The parts that depend on sizes given
    at a call are checked by the run time."""
    def known(values):
        return [v if isinstance(v, int) else None for v in values]

    problems = violations(TensorMap(
        DTYPE_BYTES[t["dtype"]], known(t["dims"]), known(t["strides"]), known(t["box"]),
        known(t["element_strides"]), t["interleave"], t["swizzle"], t["l2_promotion"],
        t["oob_fill"]))
    if problems:
        raise ManifestError(f"TMA descriptor {index} (of '{t['argument']}') breaks a rule of "
                            f"cuTensorMapEncodeTiled: {problems[0]}")


def build_manifest(kernel: Kernel, host: tvm.IRModule, device: tvm.IRModule, arch: str,
                   ptx_arch: str | None = None) -> dict:
    """The launch manifest (docs/artifacts.md); ptx_arch: the virtual architecture of the PTX
    shipped beside the cubin, None when there is none."""
    symbolic = {d.name for d in kernel.dims.values() if d.symbolic}
    facts = launch_facts(host, device, symbolic)
    globals_ = [b for b in kernel.buffers.values() if b.is_global]
    maps = facts["tensormaps"]
    # A descriptor is its variable, not its name: the variables of two descriptors of one
    # tensor (different boxes, say) share a name, and the parameter of each must get its own.
    tensormaps, map_index = [], {}
    for i, m in enumerate(maps):
        argument = _tensor_start(m["base"])
        if argument is None:
            raise ManifestError(f"TMA descriptor {m['map']} does not start at a tensor's first element")
        map_index[m["map"]] = i
        # the argument's own dtype: tirx's descriptor may describe it by another name of the
        # same size (float8_e4m3fn, uint16 for int16); the run time picks the driver's type
        tensormaps.append({"argument": argument, "dtype": kernel.buffers[argument].dtype,
                           "rank": m["rank"], "dims": m["dims"], "strides": m["strides"],
                           "box": m["box"], "element_strides": m["element_strides"],
                           "interleave": m["interleave"],
                           "swizzle": m["swizzle"], "l2_promotion": m["l2_promotion"],
                           "oob_fill": m["oob_fill"]})
    for i, t in enumerate(tensormaps):
        _check_tensormap(i, t)
    params = []
    names = {b.name for b in globals_}
    for arg in facts["launch"]["host_args"]:
        host_arg = arg.name if isinstance(arg, tirx.Var) else \
            f"{_data_of(arg)}.data" if _data_of(arg) else str(arg)
        if host_arg.endswith(".data") and host_arg[:-5] in names:
            params.append({"kind": "pointer", "argument": host_arg[:-5]})
        elif host_arg == f"{RECORD_NAME}.data":      # the debug mode's record (oob_sites)
            params.append({"kind": "fault_record"})
        elif isinstance(arg, tirx.Var) and arg in map_index:
            params.append({"kind": "tensormap", "map": map_index[arg]})
        elif host_arg in symbolic:
            params.append({"kind": "dim", "dim": host_arg, "ctype": "int32"})
        else:
            raise ManifestError(f"kernel parameter '{host_arg}' is not an argument, a dim or a "
                                "TMA descriptor")
    checks = []
    for b in globals_:
        if b.strides is not None:      # the pitched view it is addressed through (lower.pitched)
            span = spec_expr(BinOp("*", b.strides[0], b.shape[0]), kernel)
            if not isinstance(span, int):
                checks.append({"expr": span, "op": "<=", "bound": INT32_MAX,
                               "message": f"{b.name} is indexed with int32: stride 0 times "
                                          "extent 0 must stay below 2**31"})
        shape = [spec_expr(e, kernel) for e in b.shape]
        if all(isinstance(s, int) for s in shape):
            continue
        checks.append({"expr": {"op": "*", "args": shape} if len(shape) > 1 else shape[0],
                       "op": "<=", "bound": INT32_MAX,
                       "message": f"{b.name} is indexed with int32: its element count must stay "
                                  "below 2**31"})
    checks += [{"expr": spec_expr(d.expansion, kernel), "op": ">=", "bound": 1,
                "message": f"dim {d.name} = {to_source(d.expr)} must be at least 1"}
               for d in kernel.derived.values()]
    checks += _column_matrix_checks(kernel)
    checks += _grid_checks(kernel)
    checks += _loop_checks(kernel)
    return {
        "format": FORMAT, "name": kernel.name, "doc": kernel.doc.strip(),
        "entry": facts["launch"]["entry"], "cubin": f"{kernel.name}.cubin",
        "source": f"{kernel.name}.cu", "arch": arch,
        "ptx": f"{kernel.name}.ptx" if ptx_arch else None, "ptx_arch": ptx_arch,
        "arguments": [{"name": b.name, "dtype": b.dtype,
                       "shape": [spec_expr(e, kernel) for e in b.shape],
                       "io": b.io or "inout", "doc": b.doc,
                       **({"derived": [list(a) for a in b.derived]} if b.derived else {}),
                       **({"strides": [spec_expr(e, kernel) for e in b.strides]}
                          if b.strides is not None else {})}
                      for b in globals_],
        "dims": _dims(kernel, globals_),
        "params": params,
        "grid": facts["launch"]["grid"], "block": facts["launch"]["block"],
        **({"cluster": _cluster(kernel)} if kernel.launch.cluster else {}),
        "dynamic_shared_bytes": facts["launch"]["dynamic_shared_bytes"],
        "tensormaps": tensormaps, "checks": checks,
        **({"out_of_range": faults} if (faults := manifest_sites(kernel)) else {}),
    }


def _cluster(kernel: Kernel) -> list[int]:
    """The cluster's extents along x, y and z."""
    cluster = list(kernel.launch.cluster)
    return cluster + [1] * (3 - len(cluster))
