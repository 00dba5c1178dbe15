"""Argument checks without a GPU: fake device arrays, and the dims a compiled wrapper binds."""
import copy
import importlib
import sys
import uuid

from tlspec.package import KernelArtifact, write_package


class FakeArray:
    """A device array seen through __cuda_array_interface__ v3 (no memory behind it)."""

    def __init__(self, *shape, typestr="<f2"):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "strides": None,
                                         "data": (0x7F0000000000, False), "version": 3}


def bound_dims(package, kernel: str, *arrays) -> dict:
    """The dims the wrapper of `kernel` in the imported `package` binds for `arrays` (None: an
    omitted output); raises what its checks raise."""
    module = importlib.import_module(f"{package.__name__}.{kernel}")
    return module._runtime.check_arguments(module._KERNEL, arrays)[1]


def manifest_package(directory, manifest: dict):
    """The package of one kernel of a hand-written `manifest` (no compiler, no cubin), written
    under `directory` and imported."""
    name = f"manifest_{uuid.uuid4().hex[:8]}"
    out = write_package(directory / name, [KernelArtifact(
        manifest["name"], copy.deepcopy(manifest), "// source\n", b"\x7fELF")])
    sys.path.insert(0, str(out.parent))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(out.parent))
