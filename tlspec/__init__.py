"""tlspec: declarative YAML specs for GPU data-movement kernels."""
__version__ = "0.1.0"
