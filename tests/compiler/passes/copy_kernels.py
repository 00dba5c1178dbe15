"""Small copy kernels for the pass tests: A -> shared tiles -> B, A and B M x N."""


def copy_kernel(tiles: dict[str, tuple], stages: list[str], *, dtype: str = "float16",
                dims: str = "{M: 1024, N: 1024}", grid: str = "{bx: 16}") -> str:
    """The spec text: `tiles` maps each shared tile to (shape, layout); `stages` are the lines of
    the stage list, indented below `stages:`."""
    buffers = "".join(f"\n  {name}: {{scope: shared, shape: {list(shape)}, dtype: {dtype}, "
                      f"layout: {layout}}}" for name, (shape, layout) in tiles.items())
    return f"""
tlspec: 1
name: k
target: sm_90a
dims: {dims}
buffers:
  A: {{scope: global, shape: [M, N], dtype: {dtype}, io: in}}
  B: {{scope: global, shape: [M, N], dtype: {dtype}, io: out}}{buffers}
launch:
  grid: {grid}
  threads: 128
stages:
""" + "\n".join("  " + line for line in stages) + "\n"
