"""Argument checks without a GPU: fake device arrays, and the dims a compiled wrapper binds."""
import importlib


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
