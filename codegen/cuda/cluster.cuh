// tlspec's distributed-shared-memory helpers (prepended to a kernel that copies between the
// blocks of a cluster; tlspec/compiler/lower/cluster.py emits the calls).
// A shared::cta address of this block -> the same place in the block of rank `rank`.
__device__ __forceinline__ unsigned tlspec_cluster_map_shared(unsigned address, unsigned rank) {
  unsigned mapped;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(mapped) : "r"(address), "r"(rank));
  return mapped;
}
// A generic pointer into this block's shared memory -> a generic pointer to the same place in
// the block of rank `rank` (ordinary loads and stores then reach that block's shared memory).
__device__ __forceinline__ void* tlspec_cluster_map(void* pointer, unsigned rank) {
  unsigned long long mapped;
  asm volatile("mapa.u64 %0, %1, %2;" : "=l"(mapped) : "l"(pointer), "r"(rank));
  return reinterpret_cast<void*>(mapped);
}
// One bulk copy from this block's shared memory into another block's, completing its bytes on
// that block's mbarrier (both addresses from tlspec_cluster_map_shared).
__device__ __forceinline__ void tlspec_cluster_bulk_copy(unsigned dst, unsigned src, unsigned bytes,
                                                         unsigned mbarrier) {
  asm volatile("cp.async.bulk.shared::cluster.shared::cta.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
               :: "r"(dst), "r"(src), "r"(bytes), "r"(mbarrier) : "memory");
}
// Complete `bytes` of the current phase's transactions on another block's mbarrier.
__device__ __forceinline__ void tlspec_cluster_complete_tx(unsigned mbarrier, unsigned bytes) {
  asm volatile("mbarrier.complete_tx.relaxed.cluster.shared::cluster.b64 [%0], %1;"
               :: "r"(mbarrier), "r"(bytes) : "memory");
}
// One arrival on another block's mbarrier (a release: this block's reads before it are done).
__device__ __forceinline__ void tlspec_cluster_arrive(unsigned mbarrier) {
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];"
               :: "r"(mbarrier) : "memory");
}
