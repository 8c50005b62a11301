#!/bin/sh
# Runs one fuzz target of the sanitizer build until it has executed RUNS inputs (default one
# million) or found a crash: run-long.sh TARGET [RUNS] [JOBS]. Build it first (tests/sanitize.sh).
# New interesting inputs go to a scratch corpus, not to the committed seeds; a crash input is
# left as ./crash-* for tests/fuzz/regressions/TARGET/.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${DFQ_SANITIZE_BUILD:-build-sanitize}
target=$1
runs=${2:-1000000}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp -r "tests/fuzz/corpus/$target/." "$corpus/"
LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
ASAN_OPTIONS="abort_on_error=1:detect_stack_use_after_return=0" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" OMP_WAIT_POLICY=passive \
    "$BUILD/tests/fuzz/$target" -runs="$runs" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
    "$corpus" 2>&1 | grep -E "^stat::|ERROR|SUMMARY|^#[0-9]+.*DONE|crash|Test unit written"
