#!/usr/bin/env bash
# One batched session on a GPU machine (which has torch, numpy, ml_dtypes, pyyaml and
# cuda-python, but neither tvm nor jsonschema): what a session runs there, step by step.
#
#   tests/gpu/device_session.sh STEP...      STEP: tests | diff | sanitize | bench | launch | pipeline
#                                                  | tune | ncu | forms
#
# Carried from the machine that compiled (no GPU needed there):
#   build/tlspec_kernels, build/tlspec_matrix, build/tlspec_edges, build/tlspec_async,
#   build/tlspec_sm80, build/tlspec_cluster, build/tlspec_casts, build/tlspec_fill,
#   build/tlspec_im2col_rect, build/tlspec_derived, build/tlspec_torchint, build/tlspec_ndgather,
#   build/tlspec_specialize, build/tlspec_strided, build/tlspec_tma_stride, build/tlspec_oob_error,
#   build/tlspec_tune, build/tlspec_dsmem_hunt
#                                   tlspec compile specs/ | tests/gpu/matrix | tests/gpu/edges |
#                                   tests/gpu/async | tests/gpu/sm80 | tests/gpu/cluster |
#                                   tests/gpu/casts | tests/gpu/fill | tests/gpu/im2col_rect |
#                                   tests/gpu/derived | tests/gpu/torchint | tests/gpu/ndgather |
#                                   tests/gpu/specialize | tests/gpu/strided |
#                                   tests/gpu/tma_stride | tests/gpu/oob_error |
#                                   tests/gpu/tune | tests/gpu/dsmem_hunt
#                                   (the sm80 kernels: on an H200
#                                   they run through the compute_80 PTX the package carries)
#   build/tlspec_bench_pipeline     tlspec compile bench/pipeline (the pipeline step)
#   build/tlspec_tune_bundle        tlspec tune tests/gpu/tune/tune_transpose.tlspec.yaml
#                                   --sizes M=256,N=512 --sizes M=2048,N=1024 -o build/tlspec_tune_bundle
#   build/tune_*/                   tlspec tune SPEC -o build/tune_NAME (the tune step measures
#                                   each; then tlspec tune --record OUT/tune_NAME.json where tvm is)
#   diffbatch/ or diffbatch.tar.xz  python tests/differential/build_batch.py ... --out B, then
#                                   tar -C B -cJf diffbatch.tar.xz cases.json summary.json packages
#                                   specs (the packed form fits the device tool's carry limit)
#   .whl/                           wheels of jsonschema and its dependencies for Python 3.12
#                                   (tlspec's validation, which the interpreter starts from)
# Logs and results go to $OUT (or /tmp/tlspec-device).
set -u
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/tlspec-device}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/tlspec-site .whl/*.whl || exit 2
    export PYTHONPATH=/tmp/tlspec-site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
if [ -f diffbatch.tar.xz ] && [ ! -d diffbatch ]; then
    mkdir diffbatch && tar -C diffbatch -xJf diffbatch.tar.xz || exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
git log -1 --format='commit %h %s' 2>/dev/null || true
NCU_METRICS=gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,\
dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active,\
launch__waves_per_multiprocessor,launch__grid_size,launch__block_size,\
smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_drain_per_issue_active.ratio,lts__t_sector_hit_rate.pct
status=0
for step in "$@"; do
    start=$(date +%s)
    case "$step" in
        tests)      # every GPU test: specs/, the matrix, TMA, edges, sm_80 (PTX), the runtime, the interpreter
            python3 -m pytest -q -p no:cacheprovider -rfs tests/gpu >"$out/tests.log" 2>&1
            rc=$?; tail -n 25 "$out/tests.log" ;;
        diff)       # the differential batch against the interpreter
            python3 tests/differential/run_gpu.py diffbatch --jobs 16 --budget "${DIFF_BUDGET:-420}" \
                --out "$out/diff_results.json" >"$out/diff.log" 2>&1
            rc=$?; tail -n 40 "$out/diff.log" ;;
        sanitize)   # compute-sanitizer memcheck, racecheck and synccheck over the GPU suite
            tests/gpu/sanitize.sh "$out/sanitize"; rc=$? ;;
        bench)
            python3 bench/bench_jobs.py >"$out/bench.log" 2>&1; rc=$?; tail -n 30 "$out/bench.log" ;;
        launch)     # launch overhead: the wrapper next to torch's copy_, bare launches, Triton
            python3 bench/bench_launch.py >"$out/launch.log" 2>&1; rc=$?; tail -n 12 "$out/launch.log"
            python3 bench/launch_parts.py >"$out/launch_parts.log" 2>&1 || rc=1
            cat "$out/launch_parts.log" ;;
        ncu)        # memory throughput and stall reasons of the kernels bench/ncu_jobs.py launches
            ncu --clock-control none -k regex:"^(embedding_lookup|paged_kv_gather|im2col_3x3|concat_last)" \
                -c 15 --csv --metrics "$NCU_METRICS" python3 bench/ncu_jobs.py \
                >"$out/ncu.csv" 2>"$out/ncu.err"; rc=$?; wc -l "$out/ncu.csv" ;;
        forms)      # the hand-written transpose forms next to Triton's sweep
            python3 bench/transpose_forms.py >"$out/forms.log" 2>&1; rc=$?; cat "$out/forms.log" ;;
        pipeline)
            python3 bench/bench_pipeline.py >"$out/pipeline.log" 2>&1; rc=$?
            tail -n 20 "$out/pipeline.log" ;;
        tune)       # the measure step of tlspec tune (docs/tune.md) on each bundle build/tune_*/
            rc=0
            for bundle in build/tune_*/; do
                name=$(basename "$bundle")
                python3 -m tlspec.tune.measure "$bundle" -o "$out/$name.json" \
                    >"$out/$name.log" 2>&1 || rc=1
                tail -n 30 "$out/$name.log"
            done ;;
        *)  echo "unknown step '$step'"; rc=2 ;;
    esac
    echo "== step $step: exit $rc in $(( $(date +%s) - start )) s"
    [ "$rc" -eq 0 ] || status=1
done
exit $status
