#!/usr/bin/env bash
# Every GPU check of the project in one command of under ten minutes, for a machine with
# one CUDA GPU, run from the repository's root:
#
#     bash benchmarks/device_checks.sh OUTDIR
#
# Each check runs under its own time limit and writes OUTDIR/<check>.txt (its output and,
# last, its exit status as "rc=N"; 124 where the limit stopped it):
#
#   cuda_tests      NumPy's iterates on CUDA tensors, every model and method
#                   (tests/test_array_api.py -k cuda), 60 s
#   iteration_cost  benchmarks/gpu_iteration_cost.py at 1 and 4 GB, 25 iterations net of
#                   the start (--net: compilations in an untimed first run), 150 s
#   time_to_tol_32  benchmarks/gpu_time_to_tol.py, 10^7 x 100 float32, 150 s
#   time_to_tol_64  benchmarks/gpu_time_to_tol.py, 5 x 10^6 x 100 float64, 120 s
#   step_time       StochasticLFSO's step time against Adam's, host and device paths
#                   (benchmarks/stochastic.py --only step-time --no-train, blocks of 20
#                   batches, 5 timed; each row also on stderr as it is measured), 100 s
#
# (Five files: what a device call brings back, at most eight, fits.)
#
# lfso needs array-api-compat, and the CUDA tests' module array-api-strict (without it
# they are skipped, and the file says so), which a GPU machine's image may lack: wheels in
# ./.whl (pure Python: `python3 -m pip download --no-deps --only-binary=:all: -d .whl
# array-api-compat==1.16.0 array-api-strict==2.6.1`) are installed into a scratch folder
# first. LFSO_CHECKS_CPU=1 runs the same checks at tiny sizes on the CPU (a dry run).
set -u
out=${1:-device-checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
if ! python3 -c "import array_api_compat, array_api_strict" 2>/dev/null \
    && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target /tmp/lfso-site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/lfso-site"
fi
if [ -n "${LFSO_CHECKS_CPU:-}" ]; then
    device=cpu
    sizes=(--gb 0.001 --iters 3)
    ttl32=(--sizes 2000x10 --dtype float32)
    ttl64=(--sizes 2000x10 --dtype float64)
    steps=(friedman2 --quick --step-batches 5 --step-blocks 2)  # (mlp's quick rows: too few)
else
    device=cuda
    sizes=(--gb 1 4 --iters 25 --net)
    ttl32=(--sizes 10000000x100 --dtype float32)
    ttl64=(--sizes 5000000x100 --dtype float64)
    steps=(--step-batches 20 --step-blocks 5)  # (21 networks x 2 batch sizes in the limit)
fi

check() {
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most $limit s)"
    timeout "$limit" "$@" >"$out/$name.txt" 2>&1
    echo "rc=$?" >>"$out/$name.txt"
    tail -n 30 "$out/$name.txt"
}

check cuda_tests 60 python3 -m pytest -q -rs -p no:cacheprovider tests/test_array_api.py -k cuda
check iteration_cost 150 python3 benchmarks/gpu_iteration_cost.py --device "$device" "${sizes[@]}"
check time_to_tol_32 150 python3 benchmarks/gpu_time_to_tol.py --device "$device" "${ttl32[@]}"
check time_to_tol_64 120 python3 benchmarks/gpu_time_to_tol.py --device "$device" "${ttl64[@]}"
check step_time 100 python3 benchmarks/stochastic.py --only step-time "${steps[@]}" --no-train \
    --device "$device" --out /tmp/lfso-stochastic
