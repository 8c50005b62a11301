#!/bin/bash
# The GPU figures of docs/performance.md in one call, on a machine with an NVIDIA GPU and
# PyTorch's CUDA build (its LibTorch is what the workbench links there):
#   bench/gpu_check.sh [OUT_DIR]      (OUT_DIR, or $OUT, gets the logs; default /tmp/dfq-gpu)
# Build dependencies other than PyTorch, CMake, Ninja and the compiler come from .gpu-deps/
# (bench/gpu_deps.sh fetches them on a Debian machine). The build goes to build-gpu/ and is
# reused when it is there. DFQ_GPU_DEVICE=cpu runs the same script on the CPU with LibTorch from
# the system (a check of the script itself, not of the figures; DFQ_GPU_ITERATIONS, DFQ_GPU_BATCH
# and DFQ_GPU_DEMO_SET="key=value ..." shorten it). Prints:
#  1. ms per iteration at the CIFAR ResNet-20 shape, batch 200, W4A4: GDFQ, Qimera and AutoReCon
#     (c10), each with the KD and the AIT student, fp32 and bf16 side by side (bench_gdfq);
#  2. the W4A4 demo preset's wall time in fp32 and bf16, when Fashion-MNIST was fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
device=${DFQ_GPU_DEVICE:-cuda}
deps=${DFQ_GPU_DEPS:-$PWD/.gpu-deps}
prefix=${DFQ_GPU_PREFIX:-/tmp/dfq-gpu-prefix}
out=${1:-${OUT:-/tmp/dfq-gpu}}
iterations=${DFQ_GPU_ITERATIONS:-20}
batch=${DFQ_GPU_BATCH:-200}
demo_set=()
for kv in ${DFQ_GPU_DEMO_SET:-}; do demo_set+=(--set "$kv"); done
mkdir -p "$prefix" "$out"
exec > >(tee "$out/gpu_check.log") 2>&1
start=$(date +%s)
stamp() { echo "== $1 ($(($(date +%s) - start)) s)"; }

stamp "dependencies"
for f in "$deps"/*.deb; do
    [ -e "$f" ] || { echo "no packages in $deps: run bench/gpu_deps.sh first" >&2; exit 1; }
    dpkg -x "$f" "$prefix"
done
arch_lib="$prefix/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"
# zlib1g-dev's libz.so points to a libz.so.1 of Debian's: link against the machine's own instead.
if [ ! -e "$arch_lib/libz.so" ]; then
    system_libz=$(ldconfig -p | sed -n 's/^\s*libz\.so\.1 (libc6,x86-64) => //p' | head -n 1)
    [ -n "$system_libz" ] || { echo "this machine has no libz.so.1" >&2; exit 1; }
    ln -sf "$system_libz" "$arch_lib/libz.so"
fi
export LD_LIBRARY_PATH="$arch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
prefixes="$prefix/usr"
if [ "$device" = cuda ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    torch_cmake=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
    python3 -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda)'
    prefixes="$torch_cmake;$prefixes"
fi
lscpu | sed -n 's/^Model name: *//p'

stamp "build"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DDFQ_BUILD_GUI=OFF \
    -DDFQ_BUILD_TESTS=OFF -DDFQ_ONNX=OFF -DCMAKE_PREFIX_PATH="$prefixes" >"$out/configure.log" ||
    { tail -n 40 "$out/configure.log"; exit 1; }
cmake --build build-gpu --target dfq bench_gdfq -j"$(nproc)" >"$out/build.log" 2>&1 ||
    { grep -m 20 -B2 -A8 "error" "$out/build.log"; exit 1; }
build-gpu/app/dfq --version; build-gpu/app/dfq info demo | grep "^Compute"

stamp "one iteration, batch $batch (bench_gdfq, median of $iterations)"
for generator in gdfq qimera autorecon; do
    for student in kd ait; do
        echo "-- $generator + $student"
        build-gpu/bench/bench_gdfq --device "$device" --batch "$batch" --iterations "$iterations" \
            --generator "$generator" --student "$student" --precision fp32 --precision bf16 |
            sed -n '/^ *batch/,$p'
    done
done

data="$prefix/usr/share/datasets/fashion-mnist"
if [ -d "$data" ]; then
    for precision in fp32 bf16; do
        stamp "the W4A4 demo preset, $precision"
        build-gpu/app/dfq run demo --out "$out/runs" --set "device=$device" \
            --set "precision=$precision" --set "data.path=$data" --set "name=demo-$precision" \
            "${demo_set[@]}" >"$out/demo-$precision.log" 2>&1 ||
            { tail -n 20 "$out/demo-$precision.log"; exit 1; }
        grep -E "^(FP teacher|PTQ baseline|GDFQ|wall time)  " "$out/demo-$precision.log"
    done
else
    echo "no Fashion-MNIST in $data: the demo's wall time is left out"
fi
stamp "done"
