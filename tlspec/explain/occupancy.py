"""How many blocks of a kernel one SM holds at once, and what limits it: the arithmetic of the
CUDA occupancy calculator for each target's SM (threads, blocks, registers, shared memory)."""
from __future__ import annotations

from dataclasses import dataclass

WARP = 32


@dataclass(frozen=True)
class SM:
    max_threads: int = 2048
    max_blocks: int = 32
    registers: int = 64 * 1024
    register_unit: int = 256            # registers are given to a warp in units of this many
    shared_bytes: int = 228 * 1024      # shared memory of one SM (carved out of L1)
    reserved_shared: int = 1024         # per block, before its dynamic shared memory
    shared_unit: int = 128              # a block's shared memory is rounded up to this


SMS = {"sm_90a": SM(), "sm_100a": SM(), "sm_80": SM(shared_bytes=164 * 1024)}


@dataclass(frozen=True)
class Occupancy:
    blocks_per_sm: int
    limiters: list[str]                 # what allows no more: threads, blocks, registers, shared memory
    limits: dict[str, int | None]       # blocks per SM each resource allows (None: unknown)
    warps_per_sm: int
    max_warps_per_sm: int


def _round_up(value: int, unit: int) -> int:
    return -(-value // unit) * unit


def occupancy(arch: str, threads: int, registers: int | None, shared_bytes: int) -> Occupancy:
    """Blocks per SM of a kernel of `threads` threads per block, `registers` per thread (None
    when the cubin does not say: that limit is then unknown and left out) and `shared_bytes` of
    dynamic shared memory per block."""
    sm = SMS[arch]
    warps = -(-threads // WARP)
    limits: dict[str, int | None] = {
        "threads": sm.max_threads // (warps * WARP),
        "blocks": sm.max_blocks,
        "registers": None,
        "shared memory": sm.shared_bytes // _round_up(shared_bytes + sm.reserved_shared,
                                                        sm.shared_unit),
    }
    if registers is not None:
        per_warp = _round_up(max(registers, 1) * WARP, sm.register_unit)
        limits["registers"] = (sm.registers // per_warp) // warps
    known = {name: n for name, n in limits.items() if n is not None}
    blocks = min(known.values())
    return Occupancy(blocks, [name for name, n in known.items() if n == blocks], limits,
                     blocks * warps, sm.max_threads // WARP)
