#!/bin/sh
# The unit tests under AddressSanitizer and UndefinedBehaviorSanitizer, then every libFuzzer
# target for a fixed time (FUZZ_SECONDS, default 30) from its seed corpus, after replaying the
# inputs of crashes found before (tests/fuzz/regressions/<target>/). Any report fails.
# Needs clang and its runtimes: sh packaging/install-deps.sh --sanitizers
set -eu
cd "$(dirname "$0")/.."
BUILD=${DFQ_SANITIZE_BUILD:-build-sanitize}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
TARGETS="fuzz_idx fuzz_cifar fuzz_image_folder fuzz_config fuzz_meta fuzz_run_folder fuzz_torchscript"

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDFQ_SANITIZE=address,undefined -DDFQ_BUILD_FUZZ=ON -DDFQ_BUILD_GUI=OFF \
    -DDFQ_BUILD_BENCH=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD" --target dfq_tests dfq $TARGETS

# LibTorch keeps some allocations for the life of the process; they are not the workbench's.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="abort_on_error=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_WAIT_POLICY=passive

echo "== unit tests under ASan and UBSan"
# All but the accuracy test of a 300-iteration run (2.5 minutes here; its code is what the
# shorter trainer tests run).
ctest --test-dir "$BUILD" -j2 --output-on-failure -R '^[A-Z]' \
    -E "${DFQ_SANITIZE_EXCLUDE:-^Gdfq.ShortRunBeatsThePtqBaseline$}"

echo "== fuzzing, $FUZZ_SECONDS s per target"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in $TARGETS; do
    if [ -d "tests/fuzz/regressions/$t" ]; then
        "$BUILD/tests/fuzz/$t" "tests/fuzz/regressions/$t"/* >"$work/$t.replay.log" 2>&1 || {
            cat "$work/$t.replay.log"
            echo "$t: a regression input fails again" >&2
            exit 1
        }
    fi
    mkdir -p "$work/$t"
    cp -r "tests/fuzz/corpus/$t/." "$work/$t/"
    if ! "$BUILD/tests/fuzz/$t" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=4096 -timeout=30 \
        -artifact_prefix="$work/$t-" -print_final_stats=1 "$work/$t" >"$work/$t.log" 2>&1; then
        tail -n 60 "$work/$t.log"
        mkdir -p "$BUILD/fuzz-artifacts"
        cp "$work/$t"-* "$BUILD/fuzz-artifacts/" 2>/dev/null || true
        echo "$t: the fuzzer found a crash (input kept in $BUILD/fuzz-artifacts/)" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log")
    printf '%-20s %10s executions  %7s/s  no crash\n' "$t" "$runs" "$speed"
done
