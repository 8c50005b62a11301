#!/bin/bash
# `dfq eval` against PyTorch's own forward of the same TorchScript file, side by side in one
# call on one machine, with the kernel time and peak memory of each (docs/performance.md):
#   bench/eval_check.sh [MODEL DATA] [--rounds N]
# Defaults: the ResNet-32 and the 10,000 CIFAR-10 images in ../shared/real-cifar (beside the
# checkout). Each round runs, one after the other: `dfq eval` (default batch), the same with
# DFQ_CPU_MEMORY=system (glibc's defaults, as before the workbench kept freed memory), and
# bench/eval_reference.py (Debian's python3-torch, the same thread count and batch 256 as a
# PyTorch user would write it). Needs a build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
model=../shared/real-cifar/resnet32_cifar10.traced.meta.pt
data=../shared/real-cifar/cifar10_train10k_from_jpeg_q75.bin
rounds=3
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
[ ${#args[@]} -ge 2 ] && { model=${args[0]}; data=${args[1]}; }
threads=${DFQ_THREADS:-$(nproc)}
export OMP_WAIT_POLICY=passive
echo "CPU: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), $threads threads"
echo "model: $model"
echo "data:  $data"
printf '\n%-7s %-34s %9s %9s %9s %9s %10s %8s\n' round program "wall s" "loop s" "user s" \
    "system s" "peak MB" top-1
row() {  # round, label, command...
    local round=$1 label=$2
    shift 2
    local log
    log=$(mktemp)
    /usr/bin/time -f '%e %U %S %M' -o "$log.time" "$@" >"$log" 2>&1
    read -r wall user sys rss <"$log.time"
    # top-1 and the loop's own time: dfq eval --json's fields, or eval_reference.py's line.
    top1=$(grep -oE '"top1":[0-9.]+|top-1 [0-9.]+' "$log" | head -n 1 | grep -oE '[0-9.]+$')
    loop=$(grep -oE '"seconds":[0-9.]+|images in [0-9.]+' "$log" | head -n 1 | grep -oE '[0-9.]+$')
    printf '%-7s %-34s %9.1f %9.1f %9.1f %9.1f %10.0f %8s\n' "$round" "$label" "$wall" "$loop" \
        "$user" "$sys" "$((rss / 1024))" "$top1"
    rm -f "$log" "$log.time"
}
for r in $(seq "$rounds"); do
    row "$r" "dfq eval" build/app/dfq eval "$model" --data "$data" --json
    row "$r" "dfq eval, DFQ_CPU_MEMORY=system" env DFQ_CPU_MEMORY=system \
        build/app/dfq eval "$model" --data "$data" --json
    row "$r" "PyTorch torch.jit.load, batch 256" /usr/bin/python3 bench/eval_reference.py \
        "$model" "$data" --batch 256 --threads "$threads"
done
