#!/usr/bin/env bash
# compute-sanitizer over every kernel the GPU suite launches: memcheck, racecheck and synccheck,
# each running tests/gpu/test_specs_gpu.py, tests/gpu/test_matrix_gpu.py,
# tests/gpu/test_tma_gpu.py, tests/gpu/test_edges_gpu.py, tests/gpu/test_async_gpu.py and
# tests/gpu/test_warp_specialized_gpu.py, tests/gpu/test_cluster_gpu.py,
# tests/gpu/test_casts_gpu.py, tests/gpu/test_fill_gpu.py, tests/gpu/test_derived_dims_gpu.py,
# tests/gpu/test_ndgather_gpu.py, tests/gpu/test_specialize_gpu.py, tests/gpu/test_strided_gpu.py
# tests/gpu/test_tma_stride_gpu.py, tests/gpu/test_oob_error_gpu.py and
# tests/gpu/test_dsmem_hunt_gpu.py (every spec of specs/, of the matrix, of edges/, of async/, of
# casts/, of fill/, of derived/, of ndgather/, of specialize/, of strided/, of tma_stride/, of
# oob_error/ and of dsmem_hunt/) on the GPU, the three tools side by side. Only
# tlspec's kernels are instrumented (their entry points are `<kernel>_kernel`, extern "C";
# torch's are C++-mangled).
#
#   tests/gpu/sanitize.sh [LOGDIR]        # on the GPU machine; exit 0 when all three report 0 errors
set -u
cd "$(dirname "$0")/../.."
logs=${1:-/tmp/tlspec-sanitize}
mkdir -p "$logs"
tools=(memcheck racecheck synccheck)
# synccheck (CUDA 13.0) makes every launch of a non-portable cluster (16 blocks) fail with an
# illegal address, with or without a barrier before exit, while the same launches are exact
# without it and clean under memcheck and racecheck (bench/RESULTS.md, issue 12): that one test
# is left out of synccheck only.
declare -A skip=([synccheck]="--deselect tests/gpu/test_cluster_gpu.py::test_a_non_portable_cluster_of_16")
pids=()
for tool in "${tools[@]}"; do
    compute-sanitizer --tool "$tool" --kernel-name 'regex=^[A-Za-z][A-Za-z0-9_]*_kernel$' \
        --report-api-errors no --error-exitcode 99 \
        python -m pytest -q -p no:cacheprovider ${skip[$tool]:-} tests/gpu/test_specs_gpu.py \
        tests/gpu/test_matrix_gpu.py tests/gpu/test_tma_gpu.py tests/gpu/test_edges_gpu.py \
        tests/gpu/test_async_gpu.py tests/gpu/test_warp_specialized_gpu.py tests/gpu/test_cluster_gpu.py \
        tests/gpu/test_casts_gpu.py tests/gpu/test_fill_gpu.py tests/gpu/test_derived_dims_gpu.py \
        tests/gpu/test_ndgather_gpu.py tests/gpu/test_specialize_gpu.py \
        tests/gpu/test_strided_gpu.py tests/gpu/test_tma_stride_gpu.py tests/gpu/test_oob_error_gpu.py \
        tests/gpu/test_dsmem_hunt_gpu.py >"$logs/$tool.log" 2>&1 &
    pids+=($!)
done
status=0
for i in "${!tools[@]}"; do
    wait "${pids[$i]}"
    rc=$?
    log="$logs/${tools[$i]}.log"
    summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$log" | tail -1)
    tests=$(grep -E "passed|failed|error" "$log" | tail -1)
    echo "${tools[$i]}: exit $rc; ${summary:-no summary}; pytest: ${tests:-no result}"
    [ "$rc" -eq 0 ] || status=1
done
exit $status
