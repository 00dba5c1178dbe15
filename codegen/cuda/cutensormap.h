// CUtensorMap as cuda.h (CUDA 13) declares it. TMA kernels take a `const __grid_constant__
// CUtensorMap`; tvm's source includes cuda.h only outside NVRTC, which cannot parse cuda.h, so
// tlspec prepends this declaration when it compiles such a kernel.
struct alignas(128) CUtensorMap_st { unsigned long long opaque[16]; };
typedef struct CUtensorMap_st CUtensorMap;
