"""What each compilation target offers: the facts validation checks specs against."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    has_tma: bool              # cp.async.bulk.tensor, mbarrier transaction counts
    has_clusters: bool         # thread block clusters, distributed shared memory
    has_gather4: bool          # TMA tile::gather4 / tile::scatter4
    max_shared_bytes: int      # dynamic shared memory one block may opt in to
    max_cluster_size: int      # portable cluster size
    max_nonportable_cluster_size: int   # with CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED

    @property
    def max_shared_kb(self) -> int:
        return self.max_shared_bytes // 1024


TARGETS = {
    "sm_90a": Target("sm_90a", "Hopper (H100/H200)", True, True, False, 227 * 1024, 8, 16),
    "sm_80": Target("sm_80", "Ampere (A100)", False, False, False, 163 * 1024, 1, 1),
    "sm_100a": Target("sm_100a", "Blackwell (B200)", True, True, True, 227 * 1024, 8, 16),
}
DEFAULT_TARGET = "sm_90a"
COMPILED_TARGETS = ("sm_90a", "sm_80", "sm_100a")   # what `tlspec compile` compiles for
