"""The bytes one launch moves through global memory for given sizes, and the time that takes at
the memory bandwidth of the GPUs tlspec targets (the roofline of a data-movement kernel).

Each global tensor counts once, whole: read (io: in), written (out) or both (inout). That is the
traffic of a kernel that touches every element once, which is what a copy, transpose or im2col
does; the table of a gather (read) or scatter (written) is touched only at the rows its indices
name, so its bytes are an upper bound (`whole: false`)."""
from __future__ import annotations

from dataclasses import dataclass

from ..dtypes import DTYPE_BYTES
from ..expr import evaluate, free_vars
from ..model import Buffer, Kernel

EXAMPLE_SIZE = 1024          # a symbolic dim not given: the first legal value from this up
INT32_MAX = 2**31 - 1        # the most elements a tensor may have at a call

@dataclass(frozen=True)
class GPU:
    name: str
    gb_per_s: int                # the memory bandwidth of its data sheet
    measured_gb_per_s: int | None = None   # what a device-to-device copy reaches, where measured


# H200: the copy ceiling bench/RESULTS.md measured (torch copy_ of 512 MiB)
GPUS = [GPU("H100", 3350), GPU("H200", 4800, 4157), GPU("B200", 8000)]


@dataclass
class TensorBytes:
    name: str
    shape: list[int]
    io: str
    bytes: int                   # read and written: both counted
    whole: bool                  # False: a gather's or scatter's table, touched in part


@dataclass
class Traffic:
    dims: dict[str, int]         # every dim's value, constant, given or example
    examples: list[str]          # the symbolic dims given their example value
    tensors: list[TensorBytes]
    blocks: int                  # blocks per launch
    bytes: int

    def microseconds(self, gb_per_s: int) -> float:
        """The time to move `bytes` at that bandwidth."""
        return self.bytes / (gb_per_s * 1e3)


def example_value(dim, size: int = EXAMPLE_SIZE) -> int:
    """The first value from `size` (or the dim's min) up that its multiple_of and max allow;
    the largest legal one below a max under that."""
    step = dim.multiple_of or 1
    value = -(-max(size, dim.min or 0, 1) // step) * step
    if dim.max is not None and value > dim.max:
        value = dim.max // step * step
    return value


def dim_values(kernel: Kernel, given: dict[str, int]) -> tuple[dict[str, int], list[str]]:
    """Every dim's value: constants, `given` symbolic dims and example values for the others
    (derived dims of symbolic dims are expanded in the expressions that name them). Examples
    that make a global tensor larger than the wrapper takes (2**31 - 1 elements: a dim of a
    large `multiple_of`) are halved, the largest first, while their dims allow."""
    values, examples = {}, []
    for dim in kernel.dims.values():
        if dim.symbolic and dim.name not in given:
            examples.append(dim.name)
        values[dim.name] = dim.value if not dim.symbolic else given.get(dim.name,
                                                                         example_value(dim))
    while (largest := _largest_tensor(kernel, values))[0] > INT32_MAX:
        names = {v.name for extent in largest[1].shape for v in free_vars(extent)}
        smaller = {name: example_value(kernel.dims[name], values[name] // 2)
                   for name in examples if name in names}
        shrinkable = [name for name in smaller if smaller[name] < values[name]]
        if not shrinkable:
            break
        name = max(shrinkable, key=lambda n: values[n])
        values[name] = smaller[name]
    return values, examples


def _largest_tensor(kernel: Kernel, values: dict[str, int]) -> tuple[int, Buffer | None]:
    """The elements of the largest global tensor at `values`, and that tensor."""
    largest = (0, None)
    for buffer in kernel.buffers.values():
        if buffer.is_global:
            elements = 1
            for extent in buffer.shape:
                elements *= evaluate(extent, values)
            largest = max(largest, (elements, buffer), key=lambda pair: pair[0])
    return largest


def _tables(kernel: Kernel) -> set[str]:
    """The global tensors a gather reads or a scatter writes by index."""
    found = set()
    for stage in kernel.walk():
        option = {"gather": "src", "scatter": "dst"}.get(stage.kind)
        if option and option in stage.regions:
            found.add(stage.regions[option].name)
    return found


def traffic(kernel: Kernel, given: dict[str, int]) -> Traffic:
    values, examples = dim_values(kernel, given)
    tables = _tables(kernel)
    tensors = []
    for buffer in kernel.buffers.values():
        if not buffer.is_global:
            continue
        shape = [evaluate(e, values) for e in buffer.shape]
        size = DTYPE_BYTES[buffer.dtype]
        for n in shape:
            size *= n
        times = 2 if buffer.io == "inout" else 1
        tensors.append(TensorBytes(buffer.name, shape, buffer.io or "in", size * times,
                                   buffer.name not in tables))
    blocks = 1
    for index in kernel.launch.grid:
        blocks *= evaluate(index.extent, values)
    return Traffic(values, examples, tensors, blocks, sum(t.bytes for t in tensors))
