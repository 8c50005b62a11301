#!/bin/bash
# The training iteration with freed memory kept for reuse (the default, core/cpu_memory.h)
# against glibc's defaults (DFQ_CPU_MEMORY=system), side by side in one call on one machine:
# bench_gdfq at batch 200 and 32, on the main thread and on a worker thread as in the window,
# alternating the two modes for N rounds (default 3) so that a machine's drift hits both.
#   bench/memory_check.sh [--rounds N] [--iterations N]
# Needs a build in build/. Prints bench_gdfq's row for every run, prefixed by round and mode.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
iterations=10
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --iterations) iterations=$2; shift 2 ;;
        *) echo "usage: bench/memory_check.sh [--rounds N] [--iterations N]" >&2; exit 2 ;;
    esac
done
export OMP_WAIT_POLICY=passive
echo "CPU: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores"
probe=$(build/bench/bench_gdfq --batch 1 --iterations 1)
sed -n 1,2p <<<"$probe"
echo "median of $iterations iterations after 3 warm-up iterations, per run"
printf '\n%-6s %-8s %-7s %s\n' round mode thread "$(sed -n 5p <<<"$probe")"
for r in $(seq "$rounds"); do
    for thread in main worker; do
        flag=()
        [ "$thread" = worker ] && flag=(--worker-thread)
        for mode in system keep; do
            for batch in 200 32; do
                line=$(DFQ_CPU_MEMORY=$mode build/bench/bench_gdfq --batch "$batch" \
                    --iterations "$iterations" "${flag[@]}" | tail -n 1)
                printf '%-6s %-8s %-7s %s\n' "$r" "$mode" "$thread" "$line"
            done
        done
    done
done
