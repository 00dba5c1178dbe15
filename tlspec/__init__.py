"""tlspec: declarative YAML specs for GPU data-movement kernels.

The Python API (docs/python.md): tlspec.load, tlspec.compile, tlspec.validate, tlspec.SpecError.
They are imported on first use, so that `import tlspec` stays cheap (no tvm, no validator).
"""
__version__ = "0.1.0"

_API = ("load", "compile", "validate", "SpecError", "SpecWarning")
__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'tlspec' has no attribute {name!r}")
