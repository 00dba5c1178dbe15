"""tlspec.kernel_images: which of a kernel's cubin and PTX a GPU can run (CUDA's binary and PTX
compatibility rules)."""
import pytest

from tlspec.kernel_images import choose, cubin_runs_on, no_image, ptx_runs_on


@pytest.mark.parametrize("arch, capability, runs", [
    ("sm_80", (8, 0), True), ("sm_80", (8, 6), True), ("sm_80", (8, 9), True),
    ("sm_80", (9, 0), False), ("sm_80", (7, 5), False), ("sm_86", (8, 0), False),
    ("sm_90a", (9, 0), True), ("sm_90a", (10, 0), False), ("sm_100a", (10, 0), True),
    ("sm_100a", (9, 0), False), ("sm_100a", (10, 3), False), ("sm_90a", (8, 0), False),
    ("sm_90", (9, 0), True),
])
def test_a_cubin_runs_on_its_major_version_from_its_minor_on(arch, capability, runs):
    assert cubin_runs_on(arch, capability) is runs


@pytest.mark.parametrize("ptx_arch, capability, runs", [
    ("compute_80", (8, 0), True), ("compute_80", (9, 0), True), ("compute_80", (12, 0), True),
    ("compute_80", (7, 5), False), ("compute_90", (10, 0), True), ("compute_90a", (9, 0), True),
    ("compute_90a", (10, 0), False), ("compute_100", (9, 0), False),
    ("compute_100a", (10, 0), True), ("compute_100a", (9, 0), False),
    ("compute_100a", (12, 0), False),
])
def test_ptx_runs_on_its_version_and_later_unless_arch_specific(ptx_arch, capability, runs):
    assert ptx_runs_on(ptx_arch, capability) is runs


def test_the_cubin_is_preferred_and_the_ptx_is_the_fallback():
    assert choose("sm_80", "compute_80", (8, 0)) == "cubin"
    assert choose("sm_80", "compute_80", (9, 0)) == "ptx"
    assert choose("sm_80", None, (9, 0)) is None
    assert choose("sm_90a", None, (9, 0)) == "cubin"


def test_no_image_names_the_kernel_its_target_and_the_gpu():
    message = no_image("copy_tiles", "sm_90a", "compute_90a", (10, 0), "NVIDIA B200")
    assert message == ("copy_tiles(): no image of this kernel runs on NVIDIA B200 (compute "
                       "capability 10.0): its cubin is for sm_90a (compute capability 9.0 only) "
                       "and its PTX for compute_90a runs on compute capability 9.0 only; compile "
                       "it for this GPU's target")
