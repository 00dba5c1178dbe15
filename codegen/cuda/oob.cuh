// tlspec's fault record of the debug mode (out_of_range: error; prepended to a kernel that
// records; tlspec/compiler/lower/oob_record.py emits the calls, tlspec/compiler/oob_sites.py
// documents the layout, codegen/_oob.py reads it). The first fault of a launch claims the record
// by its flag (word 0, 0 -> 1) and writes the rest; the wrapper reads it after the launch.
__device__ __noinline__ void tlspec_oob_record(
    void* record, long long site, long long r0, long long r1, long long r2,
    long long v0, long long v1, long long v2, long long v3, long long v4, long long v5,
    long long v6, long long v7, long long l0, long long l1, long long l2, long long l3,
    long long l4, long long l5, long long l6, long long l7) {
  unsigned long long* words_out = static_cast<unsigned long long*>(record);
  if (atomicCAS(words_out, 0ull, 1ull) != 0ull) return;
  const long long words[23] = {site, (long long)blockIdx.x, (long long)blockIdx.y,
                               (long long)blockIdx.z, r0, r1, r2, v0, v1, v2, v3, v4, v5, v6,
                               v7, l0, l1, l2, l3, l4, l5, l6, l7};
  for (int i = 0; i < 23; ++i) words_out[1 + i] = static_cast<unsigned long long>(words[i]);
}
