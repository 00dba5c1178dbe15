"""Compile CUDA C++ source (tvm-generated kernels) to a cubin, and to PTX, with NVRTC or nvcc.

NVRTC is the default: it needs no CUDA toolkit, only pip wheels (nvidia-cuda-nvrtc,
nvidia-cuda-runtime, nvidia-cuda-cccl) found through cuda.pathfinder. They are pinned to CUDA
13.0 (NVRTC 13.0.88) because a cubin must load on the GPU machine's driver 580 (CUDA 13.0);
output of a newer NVRTC or nvcc is not guaranteed to load there.

Two adjustments make tvm 0.27 sources compile unchanged:
- TMA kernels take `const __grid_constant__ CUtensorMap`, a type declared in cuda.h, which tvm's
  source includes only outside NVRTC (NVRTC cannot parse cuda.h); we prepend the CUDA 13
  declaration (codegen/cuda/cutensormap.h) for NVRTC, and for nvcc when the source does not
  include cuda.h.
- Under NVRTC tvm's source includes the CCCL umbrella <cuda/std/type_traits> for eight names;
  parsing it is ~90% of the compile time, so an in-memory header of the same name
  (codegen/cuda/type_traits) includes only the CCCL headers defining those names (identical
  SASS, ~0.37 s -> ~0.03 s per kernel).
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import struct
import subprocess
import tempfile
from typing import Any

from ..package import codegen_dir

@functools.cache
def _header(name: str) -> str:
    """One of the CUDA headers shipped in codegen/cuda/ (see the module docstring)."""
    return (codegen_dir() / "cuda" / name).read_text(encoding="utf-8")


_WHEELS = {
    "nvrtc": "nvidia-cuda-nvrtc==13.0.88",
    "cudart": "nvidia-cuda-runtime==13.0.88",
    "cccl": "nvidia-cuda-cccl==13.0.85",
}


class CudaCompileError(Exception):
    """message: one line saying what failed; hint: how to fix it (or None); log: the compiler's
    full output (may be empty)."""

    def __init__(self, message: str, log: str = "", hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.log = log
        self.hint = hint


NVRTC_INSTEAD = "drop --nvcc to compile with NVRTC (the default, which needs no CUDA toolkit)"


def compile_cuda(source: str, *, name: str, arch: str = "sm_90a", nvcc: str | None = None) -> bytes:
    """CUDA C++ source -> cubin bytes for `arch` (sm_90a, sm_80, sm_100a...).

    With nvcc=None use NVRTC through cuda-python (cuda.bindings.nvrtc); with nvcc='nvcc' or a
    path, run that compiler. `name` names the kernel in error messages.
    """
    return _compile(source, name, arch, nvcc, ptx=False)


# Targets whose PTX stays arch-specific: on sm_100 tirx writes every TMA load with
# `.cta_group::1`, and the gather4 / scatter4 forms are sm_100a's, which only compute_100a PTX
# may hold (the driver's compiler refuses them in compute_100 PTX).
ARCH_SPECIFIC_PTX = ("sm_100a",)
# Instructions only arch-specific PTX may hold, wherever they appear (setmaxnreg: sm_90a's
# register reallocation of warp-specialized kernels)
ARCH_SPECIFIC_INSTRUCTIONS = ("setmaxnreg",)


def ptx_arch(arch: str, source: str = "") -> str:
    """The virtual architecture of the PTX shipped beside an `arch` cubin: compute_80 for sm_80,
    for sm_90a compute_90, not compute_90a: PTX of an arch-specific ('a') target loads only on
    that very GPU, while compute_90 PTX is compiled by the driver for any later one; for sm_100a
    compute_100a (ARCH_SPECIFIC_PTX), and for a `source` that uses an arch-specific instruction
    the arch-specific one. NVRTC does not check the inline PTX of the source: what the driver's
    compiler accepts is the arch's instructions (ptxas on the cubin)."""
    virtual = "compute_" + arch.removeprefix("sm_")
    specific = arch in ARCH_SPECIFIC_PTX or any(i in source for i in ARCH_SPECIFIC_INSTRUCTIONS)
    return virtual if specific else virtual.rstrip("a")


def compile_ptx(source: str, *, name: str, arch: str = "sm_90a", nvcc: str | None = None) -> str:
    """CUDA C++ source -> the PTX text (`ptx_arch(arch, source)`) the driver can compile for the
    GPU it finds at run time. Compilers and errors as compile_cuda's."""
    return _compile(source, name, ptx_arch(arch, source), nvcc, ptx=True).decode().rstrip("\0")


def _compile(source: str, name: str, arch: str, nvcc: str | None, ptx: bool) -> bytes:
    if "CUtensorMap" in source and (nvcc is None or "#include <cuda.h>" not in source):
        source = _header("cutensormap.h") + source
    if nvcc is None:
        return _compile_nvrtc(source, name, arch, ptx)
    return _compile_nvcc(source, name, arch, nvcc, ptx)


def _first_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    # NVRTC writes some errors capitalized ("Error: Formal parameter space overflowed")
    errors = (line for line in lines if re.search(r"\b(error|fatal)\s*:", line, re.IGNORECASE))
    return next(errors, lines[0] if lines else "no compiler output")


def find_nvcc(nvcc: str) -> str:
    """The executable `--nvcc` names: a path, or a name looked up on PATH. Raises
    CudaCompileError saying which, and how to fix it, when there is none."""
    exe = shutil.which(nvcc)
    if exe is not None:
        return exe
    if os.sep in nvcc or (os.altsep and os.altsep in nvcc):
        what = f"nvcc not found: there is no executable file at {nvcc!r}"
    else:
        what = f"nvcc not found: no executable {nvcc!r} on PATH"
    fixes = [NVRTC_INSTEAD]
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    candidate = shutil.which("nvcc", path=os.path.join(home, "bin")) if home else None
    if candidate:
        fixes.append(f"or use the nvcc of CUDA_HOME: --nvcc {candidate}")
    else:
        fixes.append("or install the CUDA toolkit and put its bin folder on PATH "
                     "(export PATH=$CUDA_HOME/bin:$PATH), or give nvcc's full path "
                     "(--nvcc /usr/local/cuda/bin/nvcc)")
    raise CudaCompileError(what, hint=", ".join(fixes))


def _compile_nvcc(source: str, name: str, arch: str, nvcc: str, ptx: bool) -> bytes:
    """A cubin for arch sm_XX, or with ptx=True the PTX for arch compute_XX."""
    exe = find_nvcc(nvcc)
    compute = arch.replace("sm_", "compute_", 1)
    kind = "ptx" if ptx else "cubin"
    with tempfile.TemporaryDirectory(prefix="tlspec-nvcc-") as tmp:
        stem = re.sub(r"[^\w.-]", "_", name)
        src, out = os.path.join(tmp, f"{stem}.cu"), os.path.join(tmp, f"{stem}.{kind}")
        with open(src, "w") as f:
            f.write(source)
        cmd = [exe, f"-gencode=arch={compute},code={arch}", f"-{kind}", "-O3", "-std=c++17", "-o", out, src]
        command = " ".join(shlex.quote(c) for c in cmd)
        hint = (f"the command was: {command}\n{NVRTC_INSTEAD}, or fix this nvcc (it must be able "
                f"to compile for {arch}; CUDA 12.0 or later)")
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as e:
            raise CudaCompileError(f"nvcc could not be run for kernel {name!r}: {e.strerror or e}",
                                   hint=hint) from e
        log = result.stdout + result.stderr
        if result.returncode != 0:
            detail = (_first_error(log) if log.strip() else
                      f"it exited with status {result.returncode} and printed nothing")
            raise CudaCompileError(f"nvcc failed to compile kernel {name!r}: {detail}", log, hint)
        if not os.path.isfile(out):
            raise CudaCompileError(f"nvcc wrote no {kind} for kernel {name!r} (it exited with "
                                   f"status 0)", log, hint)
        with open(out, "rb") as f:
            return f.read()


def _include_dirs() -> list[str]:
    from cuda import pathfinder

    dirs = []
    for lib in ("cudart", "cccl"):
        found = pathfinder.find_nvidia_header_directory(lib)
        if found is None:
            raise CudaCompileError(f"CUDA {lib} headers not found; pip install {_WHEELS[lib]}")
        dirs.append(found)
    return dirs


def _compile_nvrtc(source: str, name: str, arch: str, ptx: bool) -> bytes:
    """A cubin for arch sm_XX, or with ptx=True the PTX for arch compute_XX."""
    from cuda import pathfinder
    from cuda.bindings import nvrtc

    try:  # the same lookup cuda.bindings.nvrtc does on first use, to name the missing wheel
        pathfinder.load_nvidia_dynamic_lib("nvrtc")
    except pathfinder.DynamicLibNotFoundError as e:
        raise CudaCompileError(f"NVRTC library not found; pip install {_WHEELS['nvrtc']}", str(e)) from e
    options = [f"--gpu-architecture={arch}", "-std=c++17", *(f"-I{d}" for d in _include_dirs())]

    def check(result: tuple[Any, ...], what: str, prog: Any = None) -> tuple[Any, ...]:
        if result[0] != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            log = _program_log(prog) if prog is not None else ""
            detail = _first_error(log) if log else nvrtc.nvrtcGetErrorString(result[0])[1].decode()
            raise CudaCompileError(f"NVRTC {what} failed for kernel {name!r}: {detail}", log)
        return result[1:]

    (prog,) = check(
        nvrtc.nvrtcCreateProgram(
            source.encode(), f"{name}.cu".encode(), 1, [_header("type_traits").encode()], [b"cuda/std/type_traits"]
        ),
        "program creation",
    )
    try:
        check(nvrtc.nvrtcCompileProgram(prog, len(options), [o.encode() for o in options]), "compilation", prog)
        kind, get_size, get = (("PTX", nvrtc.nvrtcGetPTXSize, nvrtc.nvrtcGetPTX) if ptx else
                               ("cubin", nvrtc.nvrtcGetCUBINSize, nvrtc.nvrtcGetCUBIN))
        (size,) = check(get_size(prog), f"{kind} size query", prog)
        image = b" " * size
        check(get(prog, image), f"{kind} retrieval", prog)
        return image
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _sections(cubin: bytes) -> dict[str, tuple[int, int]]:
    """The cubin's ELF sections: name -> (file offset, size). Read from the section headers,
    so that no CUDA toolkit is needed."""
    if cubin[:4] != b"\x7fELF" or cubin[4] != 2 or cubin[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF cubin")
    shoff, = struct.unpack_from("<Q", cubin, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", cubin, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", cubin, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    return {_c_string(cubin, strtab + name): (offset, size)
            for name, _, _, _, offset, size in headers}


def _c_string(data: bytes, at: int) -> str:
    return data[at:data.index(b"\0", at)].decode()


def dynamic_shared_offset(cubin: bytes, entry: str) -> int:
    """Where the dynamic shared memory of kernel `entry` starts in its block's shared memory:
    the size of the cubin's `.nv.shared.<entry>` section (the block's reserved 1 KB on sm_90 and
    any static `__shared__` data, padded by ptxas to the dynamic array's declared alignment), 0
    when there is none."""
    return _sections(cubin).get(f".nv.shared.{entry}", (0, 0))[1]


EIATTR_FRAME_SIZE = 0x11        # .nv.info attributes: (symbol index, value); local memory
EIATTR_REGCOUNT = 0x2F          # per thread in bytes (spills, local arrays), registers per thread


def register_count(cubin: bytes, entry: str) -> int | None:
    """The registers per thread kernel `entry` starts with (its `.nv.info` REGCOUNT), or None."""
    return _info_value(cubin, entry, EIATTR_REGCOUNT)


def frame_size(cubin: bytes, entry: str) -> int | None:
    """The bytes of local memory per thread of kernel `entry` (its `.nv.info` FRAME_SIZE: 0 when
    nothing spills and no array lives in local memory), or None."""
    return _info_value(cubin, entry, EIATTR_FRAME_SIZE)


def _info_value(cubin: bytes, entry: str, wanted: int) -> int | None:
    """The value of attribute `wanted` of kernel `entry` in the cubin's `.nv.info`, or None."""
    sections = _sections(cubin)
    symtab, strtab = sections.get(".symtab"), sections.get(".strtab")
    info = sections.get(".nv.info")
    if symtab is None or strtab is None or info is None:
        return None
    index = next((i for i in range(symtab[1] // 24)
                  if _c_string(cubin, strtab[0] + struct.unpack_from(
                      "<I", cubin, symtab[0] + 24 * i)[0]) == entry), None)
    at, end = info[0], info[0] + info[1]
    while at + 4 <= end:            # records: format, attribute, then a value or a sized payload
        fmt, attribute = cubin[at], cubin[at + 1]
        size = struct.unpack_from("<H", cubin, at + 2)[0] if fmt == 0x04 else 0
        if fmt == 0x04 and attribute == wanted and size == 8:
            symbol, value = struct.unpack_from("<II", cubin, at + 4)
            if symbol == index:
                return value
        at += 4 + size
    return None


def _program_log(prog: Any) -> str:
    from cuda.bindings import nvrtc

    _, size = nvrtc.nvrtcGetProgramLogSize(prog)
    log = b" " * size
    nvrtc.nvrtcGetProgramLog(prog, log)
    return log.rstrip(b"\0 ").decode(errors="replace")
