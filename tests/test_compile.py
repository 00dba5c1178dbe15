"""`tlspec compile` on a machine without a GPU: every example compiles to a cubin and an
importable package whose wrappers check their arguments; later-release features and impossible
requests are located errors; a failed compile leaves OUT alone; `tlspec passes` lists the
pipeline.

The wrappers' argument checks are exercised for every kernel of specs/ (the list comes from the
specs, and the compiled package must hold exactly those kernels), with cases generated from each
kernel's manifest and wrapper: fake device arrays (`__cuda_array_interface__` v3 and DLPack
capsules over no memory), no torch, and CUDA stubbed out so that a check that fails to fire shows
up as "reached the launch" instead of a launch. The same suite also runs on the specs with their
global buffers in reverse order, so that dims are bound by later arguments and outputs come first.
"""
import ast
import ctypes
import importlib
import inspect
import json
import math
import re
import subprocess
import sys
import types

import pytest
import yaml

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from conftest import (ROOT, assert_cubin, assert_tensormaps_keep_the_rules, compile_and_import,
                      forget, tlspec)

from tlspec import expr as spec_expr
from tlspec.package import load_runtime
from tlspec.validate import validate_text

SPEC_FILES = sorted((ROOT / "specs").glob("*.tlspec.yaml"))


def reverse_global_buffers(text):
    """The spec (every kernel of the file) with its global buffers (the wrapper's arguments) in
    reverse order."""
    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        buffers = doc["buffers"]
        glob = [n for n, b in buffers.items() if b.get("scope") == "global"]
        doc["buffers"] = {**{n: buffers[n] for n in reversed(glob)},
                          **{n: b for n, b in buffers.items() if n not in glob}}
    return yaml.safe_dump_all(docs, sort_keys=False)


# variant -> {spec file name: text}: specs/ as written, and with the arguments reversed
VARIANTS = {"specs": {p.name: p.read_text() for p in SPEC_FILES}}
VARIANTS["reversed"] = {n: reverse_global_buffers(t) for n, t in VARIANTS["specs"].items()}


def spec_kernels(texts):
    """kernel name -> validated spec model."""
    out = {}
    for name, text in texts.items():
        result = validate_text(text, name)
        assert result.ok and result.kernels, f"{name} does not validate"
        out.update({k.name: k for k in result.kernels})
    return out


SPECS = {variant: spec_kernels(texts) for variant, texts in VARIANTS.items()}
NAMES = sorted(SPECS["specs"])


def global_buffers(spec):
    return [b for b in spec.buffers.values() if b.is_global]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("compiled") / "kernels"
    yield compile_and_import(out, ROOT / "specs"), out
    forget(out.name)


@pytest.fixture(scope="module")
def packages(package, tmp_path_factory):
    """variant -> (package, its folder): specs/ compiled once, and its reversed variant."""
    src = tmp_path_factory.mktemp("reversed_specs")
    for name, text in VARIANTS["reversed"].items():
        (src / name).write_text(text)
    out = tmp_path_factory.mktemp("compiled_reversed") / "kernels_reversed"
    yield {"specs": package, "reversed": (compile_and_import(out, src), out)}
    forget(out.name)


@pytest.mark.parametrize("name", NAMES)
def test_every_example_compiles_to_a_cubin(package, name):
    assert_cubin(package[1], name)


@pytest.mark.parametrize("name", NAMES)
def test_every_tensor_map_keeps_the_drivers_rules(package, name):
    assert_tensormaps_keep_the_rules(package[1], name)


class Fake:
    """A device array seen through __cuda_array_interface__ v3 (no memory behind it); strides
    in bytes, None for C-contiguous."""

    def __init__(self, shape, typestr="<f2", ptr=0x7F0000000000, strides=None):
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": typestr,
                                         "data": (ptr, False), "strides": strides, "stream": 1,
                                         "version": 3}


def error(fn, *args):
    try:
        fn(*args)
    except (TypeError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def test_wrappers_check_their_arguments(package):
    kernels, _ = package
    assert "dtype" in error(kernels.copy_tiles, Fake((16384, 16384), "<f4"), Fake((16384, 16384)))
    assert "shape" in error(kernels.copy_tiles, Fake((16384, 128)), Fake((16384, 16384)))
    assert "multiple of 128" in error(kernels.copy_symbolic, Fake((64, 100)), Fake((64, 100)))
    assert "int32" in error(kernels.gather_rows, Fake((262144, 1024)), Fake((65536,), "<i8"),
                            Fake((65536, 1024)))


def test_what_this_release_does_not_compile_is_a_located_error(tmp_path):
    """A buffer of scope local validates but is not compiled: refused at its scope."""
    spec = tmp_path / "local.tlspec.yaml"
    spec.write_text((ROOT / "specs" / "copy_tiles.tlspec.yaml").read_text().replace(
        "buffers:\n", "buffers:\n  R: {scope: local, shape: [8], dtype: float16}\n"))
    out = tmp_path / "kernels"
    result = tlspec("compile", str(spec), "-o", str(out))
    assert result.returncode == 1
    assert "error: buffer 'R' of scope local is not compiled by this release of tlspec" \
        in result.stdout, result.stdout
    assert "at: /buffers/R/scope" in result.stdout
    assert not out.exists()


def test_unprovable_vector_width_is_an_error_at_the_option(tmp_path):
    spec = tmp_path / "bad.tlspec.yaml"
    spec.write_text((ROOT / "specs" / "copy_symbolic.tlspec.yaml").read_text().replace(
        "multiple_of: 128, min: 128", "multiple_of: 4, min: 128"))
    out = tmp_path / "kernels"
    out.mkdir()
    (out / "_tlspec_package.json").write_text("{}")
    result = tlspec("compile", str(spec), "-o", str(out))
    assert result.returncode == 1
    assert "bad.tlspec.yaml:24:24: error: cannot move 8 elements per access" in result.stdout, \
        result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["_tlspec_package.json"]   # left unchanged


def test_dump_ir_writes_every_pass(tmp_path):
    result = tlspec("compile", str(ROOT / "specs" / "gather_rows.tlspec.yaml"), "-o",
                    str(tmp_path / "kernels"), "--dump-ir", str(tmp_path / "ir"))
    assert result.returncode == 0, result.stdout
    from tlspec.compiler.pipeline import PASSES

    dumps = sorted(p.name for p in (tmp_path / "ir" / "gather_rows").iterdir())
    assert dumps == ["00_TileIR.py"] + [f"{i:02d}_{info.name}.py"
                                        for i, info in enumerate(PASSES, start=1)]
    assert "tlspec_gather" in (tmp_path / "ir" / "gather_rows" / "00_TileIR.py").read_text()


def test_passes_lists_the_pipeline():
    result = tlspec("passes")
    assert result.returncode == 0
    names = [line.split()[1] for line in result.stdout.splitlines()]
    for name in ("InstructionAnnotation", "LayoutInference", "LowerTileOp", "LegalizeNegativeIndex",
                 "LegalizeSafeMemoryAccess", "LowerHopperIntrin", "InjectFenceProxy", "ThreadSync",
                 "VectorizeLoop", "MergeSharedMemoryAllocations", "SplitHostDevice",
                 "ProducerConsumerWarpSpecialized", "AnnotateWarpGroupRegAlloc"):
        assert name in names


# ============================================================================================
# Every wrapper's argument checks, cases generated from its manifest and signature
# ============================================================================================
BASE = 0x7F00_0000_0000          # the data pointer of the first argument; 16-byte aligned
SPACING = 0x1_0000_0000          # between the arguments' pointers
TYPESTR = {"float16": "<f2", "float32": "<f4", "float64": "<f8", "int8": "|i1", "int16": "<i2",
           "int32": "<i4", "int64": "<i8", "uint8": "|u1", "uint16": "<u2", "uint32": "<u4",
           "uint64": "<u8"}
# DLPack (type code, bits) of every manifest dtype (dlpack.h DLDataTypeCode)
DLPACK_TYPE = {"int8": (0, 8), "int16": (0, 16), "int32": (0, 32), "int64": (0, 64),
               "uint8": (1, 8), "uint16": (1, 16), "uint32": (1, 32), "uint64": (1, 64),
               "float16": (2, 16), "float32": (2, 32), "float64": (2, 64), "bfloat16": (4, 16),
               "float8_e4m3": (10, 8), "float8_e5m2": (12, 8)}
ITEMSIZE = {d: bits // 8 for d, (_, bits) in DLPACK_TYPE.items()}
TORCH_NAME = {"float8_e4m3": "float8_e4m3fn"}        # torch's name where it differs


_DLManagedTensor = load_runtime("tlspec_test_runtime")._DLManagedTensor  # builds the fakes


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class DLFake:
    """A DLPack array (an unversioned "dltensor" capsule) over no memory; strides in elements,
    device (DLDeviceType, id): (2, n) CUDA, (1, 0) CPU, (3, 0) pinned host memory."""

    def __init__(self, shape, dtype="float16", ptr=BASE, strides=None, device=(2, 0),
                 byte_offset=0):
        self.device = device
        rank = len(shape)
        self._shape = (ctypes.c_int64 * max(rank, 1))(*shape)
        self._managed = _DLManagedTensor()
        t = self._managed.dl_tensor
        t.data, t.byte_offset, t.ndim, t.shape = ptr, byte_offset, rank, self._shape
        if strides is not None:
            self._strides = (ctypes.c_int64 * max(rank, 1))(*strides)
            t.strides = self._strides
        t.device.device_type, t.device.device_id = device
        (t.dtype.code, t.dtype.bits), t.dtype.lanes = DLPACK_TYPE[dtype], 1

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None, **kwargs):
        return _capsule_new(ctypes.addressof(self._managed), b"dltensor", None)


def make(dtype, shape, ptr=BASE, strides=None, proto="cai", device=(2, 0), byte_offset=0):
    """A fake array; strides in elements. proto "cai" falls back to DLPack for the dtypes that
    have no array-interface typestr (bfloat16, float8)."""
    if proto == "cai" and dtype in TYPESTR and device == (2, 0):
        nbytes = None if strides is None else tuple(s * ITEMSIZE[dtype] for s in strides)
        return Fake(shape, TYPESTR[dtype], ptr + byte_offset, nbytes)
    return DLFake(shape, dtype, ptr, strides, device, byte_offset)


def c_strides(shape):
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return tuple(reversed(out))


def fmt(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


_OPS = {"+": sum, "*": math.prod, "min": min, "max": max, "neg": lambda a: -a[0],
        "-": lambda a: a[0] - a[1], "//": lambda a: a[0] // a[1], "%": lambda a: a[0] % a[1],
        "ceildiv": lambda a: -(-a[0] // a[1])}
_CMP = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def ev(e, env):
    """A manifest EXPR's value (the test's own reading of the format, not the runtime's)."""
    if isinstance(e, int):
        return e
    if "dim" in e:
        return env[e["dim"]]
    return _OPS[e["op"]]([ev(a, env) for a in e["args"]])


def dims_of(e):
    if isinstance(e, int):
        return set()
    if "dim" in e:
        return {e["dim"]}
    return set().union(*(dims_of(a) for a in e["args"]))


def valid_value(c, at_least=2):
    """The smallest value >= at_least that a dim with constraints c accepts (2 or more, so that
    every extent is above 1 and a strided layout is never contiguous by accident)."""
    step = c.get("multiple_of") or 1
    value = -(-max(c.get("min") or 0, at_least) // step) * step
    assert c.get("max") is None or value <= c["max"], c
    return value


class ReachedCuda(Exception):
    pass


def reached_cuda():
    raise ReachedCuda


def outcome(fn, *args, **kwargs):
    """'TypeError: message', 'ValueError: message', or how the call got past the checks."""
    try:
        fn(*args, **kwargs)
    except (TypeError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    except ReachedCuda:
        return "no error: the checks passed and the launch called CUDA"
    return "no error"


class Compiled:
    """One compiled kernel under test: wrapper, manifest, runtime, stub and spec."""

    def __init__(self, variant, name, module, out):
        self.variant, self.name = variant, name
        self.fn = getattr(module, name)
        self.rt = module._runtime
        self.kernel = self.fn.__globals__["_KERNEL"]
        self.manifest = json.loads((out / f"{name}.json").read_text())
        self.stub = out / f"{name}.pyi"
        self.spec = SPECS[variant][name]
        self.args = self.manifest["arguments"]
        self.index = {a["name"]: i for i, a in enumerate(self.args)}
        self.symbolic = {d: c for d, c in self.manifest["dims"].items() if c.get("value") is None}
        self.env = {d: c["value"] for d, c in self.manifest["dims"].items()
                    if c.get("value") is not None}
        self.env.update({d: valid_value(c) for d, c in self.symbolic.items()})
        self.binding = {}     # dim -> (argument, axis) where it first appears as a whole extent
        for a in self.args:
            for axis, e in enumerate(a["shape"]):
                if isinstance(e, dict) and "dim" in e:
                    self.binding.setdefault(e["dim"], (a["name"], axis))
        self.doc = inspect.getdoc(self.fn)

    def shape(self, arg, env=None):
        return tuple(ev(e, self.env if env is None else env) for e in arg["shape"])

    def array(self, i, env=None, shape=None, dtype=None, **kw):
        a = self.args[i]
        return make(dtype or a["dtype"], self.shape(a, env) if shape is None else shape,
                    ptr=BASE + i * SPACING, **kw)

    def arrays(self, env=None, contiguous_strides=False, **kw):
        return [self.array(i, env, strides=c_strides(self.shape(a, env))
                           if contiguous_strides else None, **kw)
                for i, a in enumerate(self.args)]

    def expected(self, arg):
        """The argument's shape as its docstring line gives it: "(M, N)", "(65536,)"."""
        line = re.search(rf"^\s+{re.escape(arg['name'])}: {arg['dtype']} (\(.*\)), {arg['io']}\b",
                         self.doc, re.MULTILINE)
        assert line, f"{self.name}: no docstring line for {arg['name']}"
        return line.group(1)

    def outputs(self, values):
        """What the wrapper returns for these argument values."""
        outs = [v for v, a in zip(values, self.args) if a["io"] in ("out", "inout")]
        return None if not outs else outs[0] if len(outs) == 1 else tuple(outs)


class Cases:
    """Collects a kernel's cases so that every failing one is reported, not just the first."""

    def __init__(self, k):
        self.k, self.count, self.failures = k, 0, []

    def expect(self, label, got, exc, *fragments, prefix=True):
        self.count += 1
        start = f"{exc}: {self.k.name}(): " if prefix else f"{exc}: "
        missing = [f for f in fragments if f not in got]
        if not got.startswith(start) or missing:
            self.failures.append(f"{label}:\n    got      {got}\n    expected {start}... with "
                                 + " and ".join(repr(f) for f in fragments))

    def verify(self, at_least=1):
        assert self.count >= at_least, f"{self.k.name}: only {self.count} cases"
        if self.failures:
            pytest.fail(f"{self.k.name} ({self.k.variant}): {len(self.failures)} of {self.count} "
                        f"cases failed:\n" + "\n".join(self.failures), pytrace=False)


KERNELS = [(variant, name) for variant in VARIANTS for name in sorted(SPECS[variant])]


def kernels_where(predicate):
    return [(v, n) for v, n in KERNELS if predicate(SPECS[v][n])]


def _symbolic(spec):
    return {n for n, d in spec.dims.items() if d.symbolic}


def _shares_a_dim(spec):
    holders = [{v.name for e in b.shape for v in spec_expr.free_vars(e)} & _symbolic(spec)
               for b in global_buffers(spec)]
    return any(sum(d in h for h in holders) > 1 for d in _symbolic(spec))


def _sized_by_inputs(spec):
    """Whether the inputs' shapes give every symbolic dim (so the outputs can be allocated):
    paged_kv_gather's token count T is the output's alone."""
    given = {v.name for b in global_buffers(spec) if b.io != "out" for e in b.shape
             for v in spec_expr.free_vars(e)}
    return _symbolic(spec) <= given


SYMBOLIC_KERNELS = kernels_where(lambda s: bool(_symbolic(s)))
SHARED_DIM_KERNELS = kernels_where(_shares_a_dim)
OUTPUT_KERNELS = kernels_where(lambda s: any(b.io == "out" for b in global_buffers(s))
                               and _sized_by_inputs(s))
MULTI_ARGUMENT_KERNELS = kernels_where(lambda s: len(global_buffers(s)) > 1)


@pytest.fixture(params=KERNELS, ids=lambda p: f"{p[1]}-{p[0]}")
def kernel(request, packages, monkeypatch):
    """A compiled kernel on a machine without torch, and without a GPU: CUDA is stubbed out, so
    a call that gets past the checks fails with ReachedCuda and never launches anything."""
    variant, name = request.param
    module, out = packages[variant]
    k = Compiled(variant, name, module, out)
    monkeypatch.setitem(sys.modules, "torch", None)          # `import torch` fails
    monkeypatch.setattr(k.rt, "_cuda", reached_cuda)
    return k


def by_kernel(params):
    return pytest.mark.parametrize("kernel", params, indirect=True,
                                   ids=[f"{n}-{v}" for v, n in params])


def test_the_package_holds_every_spec_kernel(packages):
    assert len(NAMES) >= 7, NAMES
    for variant, (module, out) in packages.items():
        marker = json.loads((out / "_tlspec_package.json").read_text())
        assert sorted(marker["kernels"]) == sorted(SPECS[variant]), variant
        assert module.__all__ == marker["kernels"]
        for name in marker["kernels"]:
            for suffix in (".py", ".pyi", ".json", ".cubin", ".cu"):
                assert (out / f"{name}{suffix}").is_file(), f"{name}{suffix}"
        assert (out / "py.typed").is_file()
        stub = ast.parse((out / "__init__.pyi").read_text())
        exported = [(n.module, a.name, a.asname) for n in stub.body
                    if isinstance(n, ast.ImportFrom) for a in n.names]
        assert exported == [(name, name, name) for name in marker["kernels"]]


def test_wrappers_import_and_check_without_cuda_or_torch(package):
    """In a fresh interpreter with no torch: importing the package and calling every wrapper
    with something that is not an array raises TypeError, and nothing imports CUDA."""
    _, out = package
    code = (
        "import inspect, sys\n"
        "sys.modules['torch'] = None\n"
        f"import {out.name} as kernels\n"
        "for name in kernels.__all__:\n"
        "    fn = getattr(kernels, name)\n"
        "    params = [p for p in inspect.signature(fn).parameters.values()\n"
        "              if p.kind is p.POSITIONAL_OR_KEYWORD]\n"
        "    try:\n"
        "        fn(*[object()] * len(params))\n"
        "    except TypeError as e:\n"
        "        want = f'{name}(): argument {params[0].name!r}: a builtins.object is not a GPU'\n"
        "        assert str(e).startswith(want), e\n"
        "    else:\n"
        "        raise AssertionError(name + ' accepted object()')\n"
        "assert not [m for m in sys.modules if m == 'cuda' or m.startswith('cuda.')]\n"
        "print(len(kernels.__all__))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=out.parent, check=False)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(NAMES)


def test_signature_docstring_and_stub(kernel):
    k = kernel
    buffers = global_buffers(k.spec)
    sig = inspect.signature(k.fn)
    assert list(sig.parameters) == [b.name for b in buffers] + ["stream"]   # spec order
    *params, stream = sig.parameters.values()
    assert stream.kind is inspect.Parameter.KEYWORD_ONLY and stream.default is None
    defaulted = False
    for p, b in zip(params, buffers):
        defaulted = defaulted or b.io == "out"       # an output, and every argument after one
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert p.default is (None if defaulted else inspect.Parameter.empty), p

    (stub,) = [n for n in ast.parse(k.stub.read_text()).body if isinstance(n, ast.FunctionDef)]
    assert stub.name == k.name
    assert [a.arg for a in stub.args.args] == [b.name for b in buffers]
    assert [a.arg for a in stub.args.kwonlyargs] == ["stream"]
    assert len(stub.args.defaults) == sum(p.default is None for p in params)
    outputs = [b.name for b in buffers if b.io in ("out", "inout")]
    assert ast.unparse(stub.returns) == ("None" if not outputs else "Any" if len(outputs) == 1
                                         else f"Tuple[{', '.join(['Any'] * len(outputs))}]")

    doc = k.doc
    assert doc.startswith(k.spec.doc.strip().splitlines()[0])
    for a, b in zip(k.args, buffers):
        line = re.search(rf"^\s+{b.name}: {b.dtype} (\(.*\)), {b.io}\b(.*)$", doc, re.MULTILINE)
        assert line, f"no line for {b.name} in\n{doc}"
        parts = [p.strip() for p in re.split(r",(?![^(]*\))", line.group(1)[1:-1]) if p.strip()]
        assert len(parts) == len(b.shape), line.group(0)
        for part, e in zip(parts, a["shape"]):
            if isinstance(e, int):
                assert part == str(e), line.group(0)
            for d in dims_of(e):
                assert re.search(rf"\b{d}\b", part), line.group(0)
        assert (b.io == "out") == ("(allocated when omitted)" in line.group(2))
        assert b.doc.strip() in line.group(2)
    if k.symbolic:
        dims = doc[doc.index("Dimensions:"):doc.index("Returns:")]
        for d, c in k.symbolic.items():
            (line,) = re.findall(rf"^\s+{d}: (.*)$", dims, re.MULTILINE)
            if (c.get("multiple_of") or 1) > 1:
                assert f"a multiple of {c['multiple_of']}" in line
            for key, op in (("min", ">="), ("max", "<=")):
                if c.get(key) is not None:
                    assert f"{op} {c[key]}" in line
    returns = doc[doc.index("Returns:"):doc.index("Raises:")]
    assert all(re.search(rf"\b{o}\b", returns) for o in outputs) and (outputs or "None" in returns)
    for word in ("TypeError", "ValueError", "RuntimeError"):
        assert word in doc[doc.index("Raises:"):]


def test_manifest_matches_the_spec(kernel):
    """The wrapper checks the manifest's shapes: they must be the spec's."""
    k = kernel
    buffers = global_buffers(k.spec)
    assert [(a["name"], a["dtype"], a["io"]) for a in k.args] == [
        (b.name, b.dtype, b.io) for b in buffers]
    norm = lambda m: None if m in (None, 1) else m
    assert {d: (norm(c.get("multiple_of")), c.get("min"), c.get("max"))
            for d, c in k.symbolic.items()} == {
        n: (norm(d.multiple_of), d.min, d.max) for n, d in k.spec.dims.items() if d.symbolic}
    fixed = {n: d.value for n, d in k.spec.dims.items() if not d.symbolic}
    for scale in (1, 2, 3):
        env = {d: k.env[d] * scale if d in k.symbolic else v for d, v in k.env.items()}
        spec_env = {**fixed, **{d: env[d] for d in k.symbolic}}
        assert [k.shape(a, env) for a in k.args] == [
            tuple(spec_expr.evaluate(e, spec_env) for e in b.shape) for b in buffers]


def test_valid_arguments_pass_every_check(kernel, monkeypatch):
    """The positive control: the arrays the other tests spoil are accepted as they are."""
    k = kernel
    for kw in ({"proto": "cai"}, {"proto": "dlpack"}, {"contiguous_strides": True},
               {"proto": "dlpack", "contiguous_strides": True}):
        views, env = k.rt.check_arguments(k.kernel, k.arrays(**kw))
        assert env == k.env, kw
        assert [v.shape for v in views] == [k.shape(a) for a in k.args], kw
    values = k.arrays()
    assert outcome(k.fn, *values) == "no error: the checks passed and the launch called CUDA"
    launched = []
    monkeypatch.setattr(k.kernel, "_launch", lambda views, plan, stream: launched.append(plan))
    result, expected = k.fn(*values), k.outputs(values)
    assert result is expected if not isinstance(expected, tuple) else (
        len(result) == len(expected) and all(r is e for r, e in zip(result, expected)))
    (plan,) = launched
    assert plan.grid == tuple(ev(e, k.env) for e in k.manifest["grid"])


def test_wrong_dtype_is_a_type_error_naming_the_argument(kernel):
    k, cases = kernel, Cases(kernel)
    for i, a in enumerate(k.args):
        for proto, others in (("cai", ("float32", "float16")), ("dlpack", ("bfloat16", "int8"))):
            other = next(d for d in others if d != a["dtype"])
            values = k.arrays(proto=proto)
            values[i] = k.array(i, dtype=other, proto=proto)
            cases.expect(f"{a['name']} as {other} ({proto})", outcome(k.fn, *values),
                         "TypeError", f"argument {a['name']!r} has dtype {other}; "
                                      f"expected {a['dtype']}")
    cases.verify(2 * len(k.args))


def test_wrong_shape_is_a_value_error_naming_the_expected_shape(kernel):
    """Every argument with a dimension too many or too few, and each extent that does not bind
    a dim one too large (an extent that binds a dim: test_dim_constraints_are_checked and
    test_symbolic_dims_must_agree_between_arguments)."""
    k, cases = kernel, Cases(kernel)
    for i, a in enumerate(k.args):
        good = k.shape(a)
        bad = [good + (1,), good[:-1]]
        bad += [good[:axis] + (good[axis] + 1,) + good[axis + 1:]
                for axis, e in enumerate(a["shape"])
                if not (isinstance(e, dict) and k.binding.get(e.get("dim")) == (a["name"], axis))]
        for shape in bad:
            values = k.arrays()
            values[i] = k.array(i, shape=shape)
            cases.expect(f"{a['name']} of shape {fmt(shape)}", outcome(k.fn, *values),
                         "ValueError", f"argument {a['name']!r} has shape {fmt(shape)}",
                         f"expected {k.expected(a)}")
    cases.verify(2 * len(k.args))


def test_non_contiguous_arrays_are_refused(kernel):
    k, cases = kernel, Cases(kernel)
    for i, a in enumerate(k.args):
        shape = k.shape(a)
        assert any(n > 1 for n in shape)
        layouts = {"every other element": tuple(2 * s for s in c_strides(shape))}
        if len(shape) >= 2 and shape[-1] > 1 and shape[-2] > 1:
            layouts["column-major"] = tuple(reversed(c_strides(tuple(reversed(shape)))))
        for what, strides in layouts.items():
            for proto in ("cai", "dlpack"):
                values = k.arrays()
                values[i] = k.array(i, strides=strides, proto=proto)
                cases.expect(f"{a['name']} {what} ({proto})", outcome(k.fn, *values),
                             "ValueError", f"argument {a['name']!r} is not C-contiguous")
        item = ITEMSIZE[a["dtype"]]
        if item > 1 and a["dtype"] in TYPESTR:     # byte strides that split an element
            values = k.arrays()
            strides = tuple(s * item for s in c_strides(shape))[:-1] + (item + 1,)
            values[i] = Fake(shape, TYPESTR[a["dtype"]], BASE + i * SPACING, strides)
            cases.expect(f"{a['name']} byte strides {strides}", outcome(k.fn, *values),
                         "ValueError", f"argument {a['name']!r}: strides {strides} are not "
                                       f"multiples of the item size")
    cases.verify(2 * len(k.args))


def test_misaligned_pointers_are_refused(kernel, monkeypatch):
    """Every argument 8 bytes and one element past 16-byte alignment, before and after a launch
    plan for the same shapes is cached."""
    k, cases = kernel, Cases(kernel)
    launched = []
    monkeypatch.setattr(k.kernel, "_launch", lambda views, plan, stream: launched.append(plan))
    monkeypatch.setattr(k.kernel, "_plans", {})
    for cached in (False, True):
        if cached:
            k.fn(*k.arrays())
            assert len(k.kernel._plans) == 1
        for i, a in enumerate(k.args):
            for offset in sorted({ITEMSIZE[a["dtype"]], 8}):
                for proto in ("cai", "dlpack"):
                    values = k.arrays()
                    values[i] = k.array(i, proto=proto, byte_offset=offset)
                    ptr = BASE + i * SPACING + offset
                    cases.expect(f"{a['name']} at {ptr:#x} ({proto}, plan cached: {cached})",
                                 outcome(k.fn, *values), "ValueError",
                                 f"argument {a['name']!r} has data pointer {ptr:#x}, not "
                                 f"16-byte aligned")
    assert len(launched) == 1
    cases.verify(4 * len(k.args))


def test_host_memory_and_non_arrays_are_refused(kernel):
    k, cases = kernel, Cases(kernel)
    for i, a in enumerate(k.args):
        for device, where in (((1, 0), "cpu"), ((3, 0), "cuda_host")):
            values = k.arrays()
            values[i] = k.array(i, proto="dlpack", device=device)
            cases.expect(f"{a['name']} in {where} memory", outcome(k.fn, *values), "ValueError",
                         f"argument {a['name']!r} is on the {where} device; expected a CUDA "
                         f"device array")
        for junk in ([[0.0]], b"\0" * 16, 3.0):
            values = k.arrays()
            values[i] = junk
            cases.expect(f"{a['name']} = {junk!r}", outcome(k.fn, *values), "TypeError",
                         f"argument {a['name']!r}: a builtins.{type(junk).__name__} is not a "
                         f"GPU array")
    cases.verify(5 * len(k.args))


@by_kernel(MULTI_ARGUMENT_KERNELS)
def test_arrays_on_different_gpus_are_refused(kernel):
    k, cases = kernel, Cases(kernel)
    for first in (0, 1):
        values = [k.array(i, proto="dlpack", device=(2, (first + i) % 2))
                  for i in range(len(k.args))]
        cases.expect(f"devices from {first}", outcome(k.fn, *values), "ValueError",
                     "the arguments are on different devices [0, 1]")
    cases.verify(2)


def test_missing_arguments(kernel):
    """An omitted output without torch, an input given as None, an input left out."""
    k, cases = kernel, Cases(kernel)
    sig = inspect.signature(k.fn)
    for i, a in enumerate(k.args):
        values = k.arrays()
        values[i] = None
        keywords = {b["name"]: v for b, v in zip(k.args, k.arrays()) if b is not a}
        if a["io"] == "out":
            unbound = [d for d in sorted(dims_of({"op": "+", "args": a["shape"]}) & set(k.symbolic))
                       if all(d not in dims_of({"op": "+", "args": b["shape"]})
                              for b in k.args if b is not a)]
            exc, want = (("ValueError", f"dimension {unbound[0]} is not determined") if unbound
                         else ("TypeError", (f"argument {a['name']!r} was not given and torch "
                                             f"is not available")))
            cases.expect(f"{a['name']} = None", outcome(k.fn, *values), exc, want)
            cases.expect(f"{a['name']} left out", outcome(k.fn, **keywords), exc, want)
        else:
            cases.expect(f"{a['name']} = None", outcome(k.fn, *values), "TypeError",
                         f"missing required argument {a['name']!r}")
            if sig.parameters[a["name"]].default is inspect.Parameter.empty:
                cases.expect(f"{a['name']} left out", outcome(k.fn, **keywords), "TypeError",
                             f"{k.name}() missing 1 required positional argument: "
                             f"'{a['name']}'", prefix=False)
            else:
                cases.expect(f"{a['name']} left out", outcome(k.fn, **keywords), "TypeError",
                             f"missing required argument {a['name']!r}")
    cases.verify(2 * len(k.args))


class FakeTorch(types.ModuleType):
    """Just enough of torch for a wrapper to allocate its outputs: dtypes and empty()."""

    def __init__(self):
        super().__init__("torch")
        self.allocated = []

    def __getattr__(self, name):               # torch.float16 and the like
        if name.startswith("__"):
            raise AttributeError(name)
        return f"torch.{name}"

    def empty(self, shape, dtype, device):
        spec_dtype = {v: k for k, v in TORCH_NAME.items()}.get(dtype[6:], dtype[6:])
        x = DLFake(tuple(shape), spec_dtype, ptr=0x7E00_0000_0000 + len(self.allocated) * SPACING,
                   device=(2, device if isinstance(device, int) else 0))
        self.allocated.append((tuple(shape), dtype, device, x))
        return x


@by_kernel(OUTPUT_KERNELS)
def test_omitted_outputs_are_allocated_when_torch_is_present(kernel, monkeypatch):
    k = kernel
    torch = FakeTorch()
    monkeypatch.setitem(sys.modules, "torch", torch)
    launched = []
    monkeypatch.setattr(k.kernel, "_launch",
                        lambda pointers, plan, stream: launched.append(pointers))
    outs = [i for i, a in enumerate(k.args) if a["io"] == "out"]
    for kw, device in (({}, "cuda"), ({"proto": "dlpack", "device": (2, 1)}, 1)):
        torch.allocated.clear()
        values = k.arrays(**kw)
        for i in outs:
            values[i] = None
        result = k.fn(*values)
        assert [(shape, dtype, dev) for shape, dtype, dev, _ in torch.allocated] == [
            (k.shape(k.args[i]), "torch." + TORCH_NAME.get(k.args[i]["dtype"],
                                                           k.args[i]["dtype"]), device)
            for i in outs]
        for i, (*_, x) in zip(outs, torch.allocated):
            values[i] = x
            assert launched[-1][i] == x._managed.dl_tensor.data
        expected = k.outputs(values)
        assert result is expected if not isinstance(expected, tuple) else (
            all(r is e for r, e in zip(result, expected)))


@by_kernel(SYMBOLIC_KERNELS)
def test_dim_constraints_are_checked(kernel):
    """Each constraint of each symbolic dim violated in turn, all arguments agreeing on the
    value: the argument that binds the dim is named with the rule and the value; then the
    manifest's checks (int32 indexing) with the dims grown until one fails."""
    k, cases = kernel, Cases(kernel)
    for d, c in k.symbolic.items():
        step = c.get("multiple_of") or 1
        name, _ = k.binding[d]
        a = k.args[k.index[name]]
        bad = []
        if step > 1:
            bad.append((k.env[d] + 1, f"{d} a multiple of {step}"))
        if c.get("min") is not None and (c["min"] - 1) // step * step >= 0:
            bad.append(((c["min"] - 1) // step * step, f"{d} >= {c['min']}"))
        if c.get("max") is not None:
            bad.append(((c["max"] // step + 1) * step, f"{d} <= {c['max']}"))
        for value, rule in bad:
            env = dict(k.env, **{d: value})
            cases.expect(f"{d} = {value}", outcome(k.fn, *k.arrays(env)), "ValueError",
                         f"argument {name!r} has shape {fmt(k.shape(a, env))}; "
                         f"expected {k.expected(a)}", rule, f"(got {d} = {value})")
    for check in k.manifest["checks"]:
        grow = dims_of(check["expr"]) & set(k.symbolic)
        if not grow or check["op"] not in ("<=", "<"):
            continue
        env = dict(k.env)
        while _CMP[check["op"]](ev(check["expr"], env), ev(check["bound"], env)):
            env.update({d: env[d] * 2 for d in grow})
        if any(k.symbolic[d].get("max") is not None and env[d] > k.symbolic[d]["max"]
               for d in grow):
            continue
        first = next(c for c in k.manifest["checks"]
                     if not _CMP[c["op"]](ev(c["expr"], env), ev(c["bound"], env)))
        cases.expect(f"check {check['message']!r} with {env}", outcome(k.fn, *k.arrays(env)),
                     "ValueError", first["message"],
                     f" = {ev(first['expr'], env)}, expected {first['op']} "
                     f"{ev(first['bound'], env)})")
    cases.verify()


@by_kernel(SHARED_DIM_KERNELS)
def test_symbolic_dims_must_agree_between_arguments(kernel):
    """A dim held by several arguments, one of them given another (valid) value: that one is
    named, with the value the dim took and the argument it took it from."""
    k, cases = kernel, Cases(kernel)
    for d, c in k.symbolic.items():
        binder, _ = k.binding[d]
        other = dict(k.env, **{d: k.env[d] + (c.get("multiple_of") or 1)})
        holders = [a for a in k.args
                   if d in dims_of({"op": "+", "args": a["shape"]}) and k.shape(a, other)
                   != k.shape(a)]
        for a in holders:
            if a["name"] == binder:
                continue
            values = k.arrays()
            values[k.index[a["name"]]] = k.array(k.index[a["name"]], env=other)
            cases.expect(f"{a['name']} with {d} = {other[d]}", outcome(k.fn, *values),
                         "ValueError",
                         f"argument {a['name']!r} has shape {fmt(k.shape(a, other))}; "
                         f"expected {k.expected(a)}",
                         f"{d} = {k.env[d]} from argument {binder!r}")
        # the other way round: the binder disagrees with everyone else, who is named
        rest = [a for a in holders if a["name"] != binder]
        if rest:
            after = [a for a in rest if k.index[a["name"]] > k.index[binder]]
            named = (after or rest)[0]
            values = k.arrays()
            values[k.index[binder]] = k.array(k.index[binder], env=other)
            cases.expect(f"{binder} with {d} = {other[d]}", outcome(k.fn, *values),
                         "ValueError", f"argument {named['name']!r} has shape "
                         f"{fmt(k.shape(named))}", f"{d} = {other[d]} from argument {binder!r}")
    cases.verify()
