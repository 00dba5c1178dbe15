"""Autotuning (docs/tune.md): tunable parameters of a spec (`tune:`), their variants, the bundle
`tlspec tune` compiles, the GPU measurement (torch, cuda-python and stdlib only) and the tune
record beside the spec that `tlspec compile` reads. Importing this package imports nothing else:
the GPU machine runs `python -m tlspec.tune.measure` without tvm, jsonschema or typer."""
