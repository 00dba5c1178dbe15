"""The compiler: a validated `Kernel` -> tile IR -> tlspec's named pass pipeline -> CUDA -> cubin.

One module per step, in the order data flows through them:

- `support`   which parts of the language this release compiles (located errors for the rest);
- `tileir`    the kernel as a tvm.tirx PrimFunc, one tile operation per stage (`ops`);
- `passes/`   the named lowering passes, one module each, run in order by `pipeline`;
- `lower/`    the loop nests LowerTileOp emits for each tile operation;
- `codegen`   tvm's host/device split and CUDA source generation after the pipeline;
- `manifest`  the launch manifest read back from the lowered host code;
- `cuda_compile` CUDA source -> cubin (NVRTC by default, or nvcc);
- `driver`    all of it for a set of spec files, with diagnostics and the output package;
- `oob_sites` the fault sites of `out_of_range: error` (tileir numbers them, the manifest lists
  them, the driver locates them in the spec compiled now).

`support` and `oob_sites` import no tvm (`tlspec new` and the `--arch` check of `tlspec compile` use it); the
other modules do. `tlspec validate` never imports tvm.
"""
