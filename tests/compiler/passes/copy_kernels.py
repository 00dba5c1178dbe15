"""Small copy kernels for the pass tests: A -> shared tiles -> B (M x N), and a 1-D copy through
one shared tile."""


def copy_kernel(tiles: dict[str, tuple], stages: list[str], *, dtype: str = "float16",
                dims: str = "{M: 1024, N: 1024}", grid: str = "{bx: 16}", threads: int = 128,
                target: str = "sm_90a", cluster: str | None = None) -> str:
    """The spec text: `tiles` maps each shared tile to (shape, layout); `stages` are the lines of
    the stage list, indented below `stages:`; `cluster` the launch's cluster shape, if any."""
    buffers = "".join(f"\n  {name}: {{scope: shared, shape: {list(shape)}, dtype: {dtype}, "
                      f"layout: {layout}}}" for name, (shape, layout) in tiles.items())
    return f"""
tlspec: 1
name: k
target: {target}
dims: {dims}
buffers:
  A: {{scope: global, shape: [M, N], dtype: {dtype}, io: in}}
  B: {{scope: global, shape: [M, N], dtype: {dtype}, io: out}}{buffers}
launch:
  grid: {grid}
  threads: {threads}{f"{chr(10)}  cluster: {cluster}" if cluster else ""}
stages:
""" + "\n".join("  " + line for line in stages) + "\n"


def one_d_copy(n, dtype="float32", region="bx*256 : +256", options="", grid="ceildiv(N, 256)",
               load="sync", fill=None) -> str:
    """Copy a 1-D tensor of n elements (a number or a dim's YAML) in regions `region` through a
    shared tile of 256, the store by a SIMT loop, the load by `load` (None: the compiler's
    choice) with `fill`; `options` are added to both copies."""
    prefer = f", prefer_instruction: {load}" if load else ""
    prefer += f", fill: {fill}" if fill is not None else ""
    return f"""
tlspec: 1
name: one_d
target: sm_90a
dims: {{N: {n}}}
buffers:
  a: {{scope: global, shape: [N], dtype: {dtype}, io: in}}
  b: {{scope: global, shape: [N], dtype: {dtype}, io: out}}
  s: {{scope: shared, shape: [256], dtype: {dtype}}}
launch:
  grid: {{bx: "{grid}"}}
  threads: 64
stages:
  - copy: {{src: "a[{region}]", dst: s{prefer}{options}}}
  - copy: {{src: s, dst: "b[{region}]", prefer_instruction: sync{options}}}
"""


def loop_lines(body: list[str], *, kind: str = "pipeline", var: str = "k", extent="16",
               num_stages: int | None = 3, warp_specialize: str | None = None) -> list[str]:
    """The stage lines of a `kind` loop (`pipeline` or `for`) over `var` whose body is the stage
    lines `body`, for copy_kernel."""
    options = [f"    var: {var}", f"    extent: {extent}"]
    if kind == "pipeline" and num_stages is not None:
        options.append(f"    num_stages: {num_stages}")
    if warp_specialize is not None:
        options.append(f"    warp_specialize: {warp_specialize}")
    return [f"- {kind}:", *options, "    stages:", *("      " + line for line in body)]


def gather4_stages(elem_bytes: int = 2) -> list[str]:
    """A gather4 of 8 rows of the table's columns 64 to 127 into G_s, then G_s to out."""
    return ['- alloc_barrier: {name: bar}',
            f'- barrier_arrive: {{barrier: bar, expect_tx: {8 * 64 * elem_bytes}}}',
            '- gather: {src: "table[:, 64 : +64]", dst: G_s, index: "idx[bx*8 : +8]", rows: 4, '
            'barrier: bar}',
            '- barrier_wait: {barrier: bar, parity: 0}',
            '- copy: {src: G_s, dst: "out[bx*8 : +8, 64 : +64]"}']


SCATTER4 = ['- copy: {src: "out[bx*8 : +8, 64 : +64]", dst: G_s}',
            '- scatter: {src: G_s, dst: "table[:, 64 : +64]", index: "idx[bx*8 : +8]", rows: 4}',
            '- tma_store_wait: {pending: 0}']


def gather4_kernel(stages: list[str], *, dtype: str = "float16", index: str = "int32",
                   r: str = "64", tile: str = "[8, 64]", layout: str = "auto",
                   out: str = "in") -> str:
    """An sm_100a kernel of a table (V x 256, inout), indices `idx` (R of `index`), a tensor
    `out` (R x 256, io `out`) and a shared tile G_s: `stages` are the lines of its stage list
    (gather4_stages(); SCATTER4: out into G_s, then a scatter4 of it to the table's columns 64
    to 127)."""
    return f"""
tlspec: 1
name: k
target: sm_100a
dims: {{V: 1000, R: {r}}}
buffers:
  table: {{scope: global, shape: [V, 256], dtype: {dtype}, io: inout}}
  idx: {{scope: global, shape: [R], dtype: {index}, io: in}}
  out: {{scope: global, shape: [R, 256], dtype: {dtype}, io: {out}}}
  G_s: {{scope: shared, shape: {tile}, dtype: {dtype}, layout: {layout}}}
launch:
  grid: {{bx: "ceildiv(R, 8)"}}
  threads: 64
stages:
""" + "\n".join("  " + line for line in stages) + "\n"
