"""Which image of a compiled kernel the run time loads on the GPU it finds: the cubin when that
GPU can run it, else the PTX when the driver can compile that for the GPU, else none (and an
error naming the kernel, its target and the GPU).

The CUDA rules (CUDA C Programming Guide, "Binary Compatibility" and "PTX Compatibility"):
- a cubin of sm_XY runs on GPUs of compute capability X.Z with Z >= Y: machine code is not
  compatible across major versions (an sm_80 cubin does not run on an H200, 9.0);
- an arch-specific cubin (sm_90a) runs on exactly X.Y;
- PTX of compute_XY is compiled by the driver for any GPU of compute capability X.Y or later
  (compute_80 PTX runs on an H200); arch-specific PTX (compute_90a) only on exactly X.Y.

Plain data and the standard library only: a compiled package carries this file as
_kernel_images.py, and its run time (codegen/runtime.py) imports it.
"""
from __future__ import annotations

from typing import Optional, Tuple

Capability = Tuple[int, int]          # (major, minor)


def _version(arch: str) -> tuple:
    """'sm_80' -> (8, 0, False); 'compute_90a' -> (9, 0, True); 'sm_100a' -> (10, 0, True)."""
    digits = arch.split("_", 1)[1]
    specific = digits.endswith("a")
    digits = digits.rstrip("a")
    return int(digits[:-1]), int(digits[-1]), specific


def cubin_runs_on(arch: str, capability: Capability) -> bool:
    major, minor, specific = _version(arch)
    if specific:
        return tuple(capability) == (major, minor)
    return capability[0] == major and capability[1] >= minor


def ptx_runs_on(ptx_arch: str, capability: Capability) -> bool:
    major, minor, specific = _version(ptx_arch)
    if specific:
        return tuple(capability) == (major, minor)
    return tuple(capability) >= (major, minor)


def choose(arch: str, ptx_arch: Optional[str], capability: Capability) -> Optional[str]:
    """'cubin', 'ptx' or None: what to load on a GPU of `capability`."""
    if cubin_runs_on(arch, capability):
        return "cubin"
    if ptx_arch is not None and ptx_runs_on(ptx_arch, capability):
        return "ptx"
    return None


def _cubin_gpus(arch: str) -> str:
    major, minor, specific = _version(arch)
    if specific:
        return f"compute capability {major}.{minor} only"
    return f"compute capability {major}.{minor} to {major}.9"


def no_image(name: str, arch: str, ptx_arch: Optional[str], capability: Capability,
             device: str) -> str:
    """The error message when choose() finds nothing: the kernel, its target, the GPU, and what
    to do."""
    gpu = f"{device} (compute capability {capability[0]}.{capability[1]})"
    why = f"its cubin is for {arch} ({_cubin_gpus(arch)})"
    if ptx_arch is None:
        why += " and the package carries no PTX"
        fix = ("compile it for this GPU's target, or with tlspec compile --ptx so that the "
               "driver can compile its PTX for later GPUs")
    else:
        major, minor, specific = _version(ptx_arch)
        why += (f" and its PTX for {ptx_arch} runs on compute capability {major}.{minor}"
                + (" only" if specific else " or later"))
        fix = "compile it for this GPU's target"
    return f"{name}(): no image of this kernel runs on {gpu}: {why}; {fix}"
