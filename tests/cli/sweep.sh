#!/bin/bash
# `dfq sweep` as a user runs it: here with --jobs, stopped and continued, and on a one-node Slurm
# cluster on localhost (tests/cli/slurm_cluster.sh installs slurm-wlm and munge when missing).
# Usage: sweep.sh DFQ SCENARIO WORKDIR
# Scenarios: local, local-stop, slurm, slurm-kill. Exits 0 on success, 77 when the scenario
# cannot run here (ctest reports it skipped, with the reason).
set -u
DFQ=$1
SCENARIO=$2
WORK=$3
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK" || exit 1

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# A 4-point sweep of the demo teacher: two students x two seeds, $1 iterations per epoch.
write_spec() {
    cat > "$WORK/spec.yaml" << EOF
name: tiny
base: demo
set:
  schedule.epochs: 2
  schedule.iterations: $1
  schedule.warmup_epochs: 1
  schedule.calibration_epochs: 1
  generator.batch_size: 8
  generator.channels: 16
  data.limit: 200
  output.layers_every: 0
grid:
  method.student: [kd, ait]
  seed: [1, 2]
EOF
}

# Field $2 of the sweep.csv row of point $1 (1-based fields).
csv_field() {
    awk -F, -v i="$1" -v f="$2" 'NR > 1 && $1 == i { print $f }' "$WORK/out/sweep.csv"
}

# Four finished rows in sweep.csv, two groups over the seeds in summary.csv.
check_results() {
    [ -f "$WORK/out/sweep.csv" ] || fail "no sweep.csv"
    head -n 1 "$WORK/out/sweep.csv" | grep -q \
        '^index,name,method.student,seed,status,fp_top1,ptq_top1,best_top1,last_top1,iterations,wall_seconds$' ||
        fail "sweep.csv header: $(head -n 1 "$WORK/out/sweep.csv")"
    n=$(grep -c ',finished,' "$WORK/out/sweep.csv")
    [ "$n" -eq 4 ] || fail "$n finished rows in sweep.csv, expected 4: $(cat "$WORK/out/sweep.csv")"
    for i in 0 1 2 3; do
        last=$(csv_field $i 9)
        awk -v v="$last" 'BEGIN { exit !(v > 50 && v <= 100) }' ||
            fail "point $i: last top-1 '$last'"
    done
    groups=$(($(wc -l < "$WORK/out/summary.csv") - 1))
    [ "$groups" -eq 2 ] || fail "$groups groups in summary.csv, expected 2"
    grep -q '^kd,2,2,' "$WORK/out/summary.csv" && grep -q '^ait,2,2,' "$WORK/out/summary.csv" ||
        fail "summary.csv: $(cat "$WORK/out/summary.csv")"
}

case "$SCENARIO" in
local)
    write_spec 3
    "$DFQ" sweep spec.yaml --out out --jobs 2 > run.log 2>&1 || fail "sweep: $(tail -n 20 run.log)"
    check_results
    [ "$(ls out/logs | wc -l)" -eq 4 ] || fail "expected 4 logs: $(ls out/logs)"
    grep -q '4 finished' run.log || fail "no status table: $(tail -n 10 run.log)"
    # Again: nothing to do, nothing rewritten.
    before=$(cat out/runs/*/summary.json | cksum)
    "$DFQ" sweep spec.yaml --out out --jobs 2 > again.log 2>&1 || fail "again: $(tail again.log)"
    grep -q '4 done, 0 running elsewhere, 0 to run' again.log || fail "again: $(head -n 3 again.log)"
    [ "$(cat out/runs/*/summary.json | cksum)" = "$before" ] || fail "finished runs were rerun"
    # Another spec into the same folder is refused; so is a bad one, before anything runs.
    if "$DFQ" sweep spec.yaml --out out --set seed=3 > other.log 2>&1; then
        fail "a changed sweep was accepted into the same folder"
    fi
    grep -q 'was made by another sweep' other.log || fail "refusal: $(cat other.log)"
    printf 'base: demo\ngrid:\n  quant.weight_bits: [4, 0]\n' > bad.yaml
    if "$DFQ" sweep bad.yaml --out bad > bad.log 2>&1; then fail "a bad value was accepted"; fi
    grep -q 'point 1 (quant.weight_bits=0): ' bad.log || fail "bad value: $(cat bad.log)"
    [ ! -e bad ] || fail "a refused sweep made its folder"
    "$DFQ" sweep out --status > status.log 2>&1 || fail "status: $(cat status.log)"
    grep -q '^kd  *2/2 ' status.log || fail "status: $(cat status.log)"
    # The means over seeds as Markdown: a header, a rule and one row per group, each with its
    # n and four top-1 columns as mean ± std (two finished seeds each).
    "$DFQ" sweep out --markdown > table.md 2>&1 || fail "markdown: $(cat table.md)"
    head -n 1 table.md | grep -q '^| student | n | FP | PTQ | best | last | wall time |$' ||
        fail "markdown header: $(cat table.md)"
    [ "$(grep -c '^| \(kd\|ait\) | 2/2 | [0-9.]* ± [0-9.]* | .* ± .* | .* ± .* | .* ± .* | ' table.md)" -eq 2 ] ||
        fail "markdown rows: $(cat table.md)"
    echo "local: 4 points finished, 2 groups, a second run did nothing, bad specs refused"
    ;;
local-stop)
    # Ctrl-C stops every running point with a checkpoint; the same command finishes them.
    write_spec 40
    "$DFQ" sweep spec.yaml --out out --jobs 2 > run.log 2>&1 &
    pid=$!
    i=0
    until [ "$(cat out/runs/*/metrics.csv 2> /dev/null | grep -c '^[0-9]')" -gt 10 ]; do
        sleep 0.2
        i=$((i + 1))
        [ $i -lt 600 ] || fail "the points did not start: $(tail run.log)"
    done
    kill -INT $pid
    wait $pid
    rc=$?
    [ $rc -eq 130 ] || fail "exit $rc after Ctrl-C, expected 130: $(tail -n 20 run.log)"
    cancelled=$(grep -c ',cancelled,' out/sweep.csv)
    [ "$cancelled" -ge 1 ] || fail "no cancelled point: $(cat out/sweep.csv)"
    [ "$(grep -c ',pending,' out/sweep.csv)" -ge 1 ] || fail "all points started: $(cat out/sweep.csv)"
    ls out/runs/*/run.lock > /dev/null 2>&1 && fail "a lock was left behind"
    "$DFQ" sweep spec.yaml --out out --jobs 2 > resume.log 2>&1 || fail "resume: $(tail -n 20 resume.log)"
    check_results
    grep -q 'Resuming from its checkpoint' out/logs/*.log || fail "no point resumed"
    echo "local-stop: exit 130 with $cancelled cancelled, the same command resumed and finished them"
    ;;
slurm | slurm-kill)
    # shellcheck source=slurm_cluster.sh
    . "$HERE/slurm_cluster.sh"
    STATE="$WORK/slurm"
    mkdir -p "$STATE"
    if ! slurm_cluster_start "$STATE" > cluster.log 2>&1; then
        cat cluster.log
        echo "SKIP: the Slurm daemons could not start here (see above)"
        exit 77
    fi
    trap 'slurm_cluster_stop "$STATE" > /dev/null 2>&1' EXIT
    # Waits until the sweep's jobs have left the queue.
    wait_jobs() {
        i=0
        while squeue -h 2> /dev/null | grep -q .; do
            sleep 0.5
            i=$((i + 1))
            [ $i -lt 600 ] || fail "the jobs did not end: $(squeue)"
        done
    }
    if [ "$SCENARIO" = slurm ]; then
        write_spec 3
        "$DFQ" sweep spec.yaml --out out --slurm --jobs 2 --sbatch-arg=--partition=debug \
            > submit.log 2>&1 || fail "submit: $(cat submit.log)"
        grep -q 'Submitted job array [0-9]*: 4 points of 4 (0,1,2,3)' submit.log ||
            fail "submit: $(cat submit.log)"
        grep -q '^#SBATCH --array=0,1,2,3%2$' out/sweep.sbatch || fail "script: $(cat out/sweep.sbatch)"
        wait_jobs
        check_results
        "$DFQ" sweep spec.yaml --out out --slurm > again.log 2>&1 || fail "again: $(cat again.log)"
        grep -q 'Nothing to submit' again.log || fail "resubmitted finished points: $(cat again.log)"
        # The scheduler's word for each task, after the jobs left the queue (no accounting here:
        # from scontrol).
        "$DFQ" sweep out --status > status.log 2>&1 || fail "status: $(cat status.log)"
        [ "$(grep -c ' finished .* COMPLETED$' status.log)" -eq 4 ] ||
            fail "no scheduler states: $(cat status.log)"
        echo "slurm: a 4-task job array finished every point; sweep.csv and summary.csv agree"
    else
        write_spec 60
        "$DFQ" sweep spec.yaml --out out --slurm --jobs 2 > submit.log 2>&1 ||
            fail "submit: $(cat submit.log)"
        job=$(sed -n 's/^Submitted job array \([0-9]*\):.*/\1/p' submit.log)
        [ -n "$job" ] || fail "no job id: $(cat submit.log)"
        # Point 1 is killed (scancel: SIGTERM) once it has run a few iterations.
        i=0
        until [ "$(grep -c '^[0-9]' out/runs/001-*/metrics.csv 2> /dev/null)" -gt 5 ] 2> /dev/null; do
            sleep 0.2
            i=$((i + 1))
            [ $i -lt 900 ] || fail "point 1 did not start: $(cat out/logs/slurm-* 2> /dev/null | tail)"
        done
        scancel "${job}_1" || fail "scancel"
        wait_jobs
        "$DFQ" sweep out --status > status.log 2>&1
        [ "$(csv_field 1 5)" = cancelled ] || fail "point 1 is $(csv_field 1 5): $(cat status.log)"
        n=$(grep -c ',finished,' out/sweep.csv)
        [ "$n" -eq 3 ] || fail "$n finished, expected 3: $(cat out/sweep.csv)"
        before=$(cat out/runs/00[023]-*/summary.json | cksum)
        "$DFQ" sweep spec.yaml --out out --slurm > resubmit.log 2>&1 ||
            fail "resubmit: $(cat resubmit.log)"
        grep -q 'Submitted job array [0-9]*: 1 point of 4 (1)' resubmit.log ||
            fail "resubmit: $(cat resubmit.log)"
        wait_jobs
        check_results
        [ "$(cat out/runs/00[023]-*/summary.json | cksum)" = "$before" ] ||
            fail "finished points ran again"
        grep -q 'Resuming from its checkpoint' out/logs/slurm-*_1.log ||
            fail "point 1 did not resume: $(cat out/logs/slurm-*_1.log | tail)"
        echo "slurm-kill: the killed task's point was cancelled with a checkpoint; resubmitting ran only it, from there"
    fi
    ;;
*)
    fail "unknown scenario $SCENARIO"
    ;;
esac
