"""What explain reads from a cubin: registers and local memory per thread (`.nv.info`)."""
from tlspec.compiler.cuda_compile import compile_cuda, frame_size, register_count

SOURCE = r"""
extern "C" __global__ void __launch_bounds__(256) local_array(float* a, int i) {
  volatile float buf[64];   // indexed at run time: lives in local memory
  for (int j = 0; j < 64; ++j) buf[(j * i) & 63] = a[j * 7 + threadIdx.x];
  a[threadIdx.x] = buf[i & 63];
}
extern "C" __global__ void registers_only(float* a) { a[threadIdx.x] += 1.0f; }
"""


def test_frame_size_is_the_local_memory_per_thread():
    cubin = compile_cuda(SOURCE, name="local_memory", arch="sm_90a")
    assert frame_size(cubin, "local_array") == 64 * 4
    assert frame_size(cubin, "registers_only") == 0
    assert register_count(cubin, "registers_only") > 0
    assert frame_size(cubin, "no_such_kernel") is None
