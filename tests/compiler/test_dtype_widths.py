"""Every dtype at every vector width the language allows (1, 2, 4, 8 and 16 bytes per access)
compiles, each vector one access, in every SIMT stage: copies through shared memory, registers
and a partial tile (the zero fill), transpose, gather, scatter, im2col, eviction-hinted copies
(2 bytes and more) and cp.async (4 bytes and more). 8-lane vectors of 16-bit integers and
float8 vectors of more than 4 lanes used to fail in tvm's CUDA code generation."""
import pytest

pytest.importorskip("tvm", reason="tlspec compile needs apache-tvm")
from tlspec.compiler.driver import compile_kernel
from tlspec.dtypes import DTYPE_BYTES
from tlspec.validate import validate_text

WIDTHS = [(dtype, nbytes // size) for dtype, size in DTYPE_BYTES.items()
          for nbytes in (1, 2, 4, 8, 16) if nbytes >= size]


def name(dtype: str, width: int) -> str:
    return f"w_{dtype}_{width}"


def spec(dtype: str, width: int) -> str:
    nbytes = width * DTYPE_BYTES[dtype]
    cw = f"coalesced_width: {width}"
    hinted = (f'  - copy: {{src: t, dst: "b[bx*64 : +64, :]", {cw}, prefer_instruction: sync, '
              "eviction_policy: evict_first}\n") if nbytes >= 2 else ""
    cp_async = (f'  - copy: {{src: "a[bx*64 : +64, :]", dst: s, {cw}, '
                "prefer_instruction: cp_async}\n") if nbytes >= 4 else ""
    return f"""tlspec: 1
name: {name(dtype, width)}
target: sm_90a
dims: {{M: 1000, C: 64}}
buffers:
  a:   {{scope: global, shape: [M, 64], dtype: {dtype}, io: in}}
  b:   {{scope: global, shape: [M, 64], dtype: {dtype}, io: out}}
  idx: {{scope: global, shape: [M], dtype: int32, io: in}}
  img: {{scope: global, shape: [2, 9, 9, C], dtype: {dtype}, io: in}}
  s:   {{scope: shared.dyn, shape: [64, 64], dtype: {dtype}}}
  t:   {{scope: shared.dyn, shape: [64, 64], dtype: {dtype}}}
  f:   {{scope: fragment, shape: [64, 64], dtype: {dtype}}}
launch:
  grid: {{bx: "ceildiv(M, 64)"}}
  threads: 128
stages:
  - copy: {{src: "a[bx*64 : +64, :]", dst: s, {cw}, prefer_instruction: sync}}
  - copy: {{src: s, dst: f, {cw}}}
  - copy: {{src: f, dst: "b[bx*64 : +64, :]", {cw}}}
  - transpose: {{src: s, dst: t}}
  - gather: {{src: a, dst: s, index: "idx[bx*64 : +64]", {cw}}}
  - scatter: {{src: s, dst: b, index: "idx[bx*64 : +64]", {cw}}}
  - im2col: {{img: img, col: t, nhw_step: bx, c_step: 0, kernel: 3, pad: 1}}
{hinted}{cp_async}"""


@pytest.mark.parametrize("dtype, width", WIDTHS)
def test_every_dtype_compiles_at_every_width(dtype, width):
    validation = validate_text(spec(dtype, width))
    assert validation.ok, [str(d) for d in validation.diagnostics]
    compile_kernel(validation.kernels[0])        # raises what the driver would report
