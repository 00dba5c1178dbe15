"""codegen/_arrays.py's intake_for(n): the intake written out for n arrays gives exactly intake's
(plan key, pointers) for every call (its fast path: all CUDA torch tensors at aligned
addresses), so that a plan or an aligned-variant choice cached under one is found by the other;
every other call goes through intake. No torch: a fake tensor type of module "torch"."""
import pytest

from tlspec.package import load_runtime

rt = load_runtime("tlspec_intake_runtime")
BASE = 0x7F00_0000_0000


class Tensor:
    def __init__(self, shape, ptr=BASE, dtype="torch.float16", device=0, strides=None):
        self.shape, self.dtype, self._ptr, self._device = shape, dtype, ptr, device
        self.is_cuda = device >= 0
        self._strides = strides or (shape[1], 1)

    def data_ptr(self):
        return self._ptr

    def stride(self):
        return self._strides

    def get_device(self):
        return self._device


Tensor.__module__ = "torch"


class Cai:
    def __init__(self, shape, ptr=BASE):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f2", "data": (ptr, False),
                                         "strides": None, "version": 3}


CALLS = {
    "two tensors": lambda: (Tensor((4, 8)), Tensor((4, 8), BASE + 256)),
    "strided": lambda: (Tensor((4, 8), strides=(16, 1)), Tensor((4, 8), BASE + 256)),
    "other device": lambda: (Tensor((4, 8), device=1), Tensor((4, 8), device=1)),
    "omitted output": lambda: (Tensor((4, 8)), None),
    "cuda array interface": lambda: (Cai((4, 8)), Tensor((4, 8))),
    "misaligned": lambda: (Tensor((4, 8), BASE + 2), Tensor((4, 8))),
    "on the CPU": lambda: (Tensor((4, 8), device=-1), Tensor((4, 8))),
    "not an array": lambda: (Tensor((4, 8)), "text"),
}


@pytest.mark.parametrize("name", CALLS)
def test_the_written_out_intake_agrees_with_intake(name):
    values = CALLS[name]()
    fast = rt.intake_for(2)
    assert fast(values) == rt.intake(values)
    assert fast(values) == rt.intake(values)      # again, with the types known


def test_a_torch_tensors_key_holds_its_signature_and_its_pointer_is_apart():
    a, b = Tensor((4, 8)), Tensor((4, 8), BASE + 256)
    key, pointers = rt.intake_for(2)((a, b))
    assert key == ((4, 8), (8, 1), "torch.float16", 0) * 2 and pointers == (BASE, BASE + 256)
    assert rt.intake_for(2)((b, a))[0] == key and rt.intake_for(2) is rt.intake_for(2)


def test_a_wrong_number_of_arrays_goes_through_intake():
    values = (Tensor((4, 8)),) * 3
    assert rt.intake_for(2)(values) == rt.intake(values)
