"""Blocks per SM: the occupancy calculator's arithmetic, and the limiter named."""
from tlspec.explain.occupancy import occupancy


def test_threads_limit_a_light_kernel():
    fit = occupancy("sm_90a", threads=256, registers=16, shared_bytes=0)
    assert fit.limits == {"threads": 8, "blocks": 32, "registers": 16, "shared memory": 228}
    assert (fit.blocks_per_sm, fit.limiters) == (8, ["threads"])
    assert (fit.warps_per_sm, fit.max_warps_per_sm) == (64, 64)


def test_registers_are_given_per_warp_in_units_of_256():
    # 33 registers x 32 threads = 1056 -> 1280 per warp; 65536 // 1280 = 51 warps; 8 per block
    fit = occupancy("sm_90a", threads=256, registers=33, shared_bytes=0)
    assert fit.limits["registers"] == 6
    assert (fit.blocks_per_sm, fit.limiters) == (6, ["registers"])


def test_shared_memory_counts_the_reserved_kilobyte_and_rounds_to_128_bytes():
    # 16400 + 1024 reserved = 17424 -> 17536; 228 KiB // 17536 = 13
    fit = occupancy("sm_90a", threads=128, registers=6, shared_bytes=16400)
    assert fit.limits["shared memory"] == 13
    assert (fit.blocks_per_sm, fit.limiters, fit.warps_per_sm) == (13, ["shared memory"], 52)


def test_sm80_has_less_shared_memory_per_sm():
    assert occupancy("sm_80", 256, 32, 32768).limits["shared memory"] == 4
    assert occupancy("sm_90a", 256, 32, 32768).limits["shared memory"] == 6


def test_ties_name_every_limiter():
    fit = occupancy("sm_90a", threads=256, registers=32, shared_bytes=0)
    assert (fit.blocks_per_sm, fit.limiters) == (8, ["threads", "registers"])


def test_unknown_registers_leave_that_limit_out():
    fit = occupancy("sm_100a", threads=1024, registers=None, shared_bytes=0)
    assert fit.limits["registers"] is None
    assert (fit.blocks_per_sm, fit.limiters) == (2, ["threads"])


def test_a_block_of_odd_threads_takes_whole_warps():
    fit = occupancy("sm_90a", threads=100, registers=8, shared_bytes=0)
    assert fit.limits["threads"] == 2048 // 128
    assert fit.warps_per_sm == 16 * 4
