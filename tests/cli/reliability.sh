#!/bin/sh
# The command line under faults: runs started together, a second writer, SIGTERM, a full disk,
# and inputs that are not experiments. Usage: reliability.sh DFQ SCENARIO WORKDIR
# Exits 0 on success, 77 when the scenario cannot run here (ctest reports it skipped).
set -u
DFQ=$1
SCENARIO=$2
WORK=$3
rm -rf "$WORK"
mkdir -p "$WORK"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# A few iterations of the demo experiment.
TINY="--set schedule.epochs=2 --set schedule.iterations=3 --set schedule.warmup_epochs=1
      --set schedule.calibration_epochs=1 --set generator.batch_size=8 --set generator.channels=16
      --set data.limit=200 --set output.layers_every=0"
# Long enough to be stopped while it runs.
LONG="--set schedule.epochs=2 --set schedule.iterations=60 --set schedule.warmup_epochs=1
      --set schedule.calibration_epochs=0 --set generator.batch_size=8 --set generator.channels=16
      --set data.limit=200 --set output.layers_every=0"

# The run folder a run writes under $1, once it has a config.yaml.
wait_for_folder() {
    i=0
    while [ $i -lt 600 ]; do
        f=$(ls -d "$1"/*/ 2>/dev/null | head -n 1)
        if [ -n "$f" ] && [ -f "$f/config.yaml" ] && [ -s "$f/metrics.csv" ] &&
            [ "$(wc -l < "$f/metrics.csv")" -gt 3 ]; then
            echo "${f%/}"
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

status_of() {
    sed -n 's/.*"status":"\([a-z]*\)".*/\1/p' "$1/summary.json"
}

case "$SCENARIO" in
same-second)
    # Two runs of one name started at once get two folders and both finish.
    # shellcheck disable=SC2086
    "$DFQ" run demo --out "$WORK/runs" $TINY > "$WORK/a.log" 2>&1 &
    a=$!
    # shellcheck disable=SC2086
    "$DFQ" run demo --out "$WORK/runs" $TINY > "$WORK/b.log" 2>&1 &
    b=$!
    wait $a || fail "first run: $(tail -n 3 "$WORK/a.log")"
    wait $b || fail "second run: $(tail -n 3 "$WORK/b.log")"
    n=$(ls -d "$WORK"/runs/*/ | wc -l)
    [ "$n" -eq 2 ] || fail "expected 2 run folders, found $n"
    for f in "$WORK"/runs/*/; do
        [ "$(status_of "$f")" = finished ] || fail "$f did not finish"
        [ "$(wc -l < "$f/metrics.csv")" -eq 7 ] || fail "$f/metrics.csv has other rows than its own"
    done
    echo "two runs, two folders: $(ls "$WORK/runs" | tr '\n' ' ')"
    ;;
sigterm)
    # SIGTERM stops a run like Ctrl-C: a checkpoint, a summary, and a folder that resumes; a
    # second writer is refused while the run is on.
    # shellcheck disable=SC2086
    "$DFQ" run demo --out "$WORK/runs" $LONG > "$WORK/run.log" 2>&1 &
    pid=$!
    folder=$(wait_for_folder "$WORK/runs") || fail "the run did not start: $(cat "$WORK/run.log")"
    if "$DFQ" run --resume "$folder" > "$WORK/second.log" 2>&1; then
        fail "a second --resume of a running folder was accepted"
    fi
    grep -q "another run is using this folder (process $pid on " "$WORK/second.log" ||
        fail "unexpected refusal: $(cat "$WORK/second.log")"
    kill -TERM $pid
    wait $pid
    rc=$?
    [ $rc -eq 143 ] || fail "exit code $rc after SIGTERM, expected 143: $(tail -n 5 "$WORK/run.log")"
    [ "$(status_of "$folder")" = cancelled ] || fail "status $(status_of "$folder") after SIGTERM"
    [ -f "$folder/checkpoints/last.pt" ] && [ -f "$folder/checkpoints/last.pt.sha256" ] ||
        fail "no checkpoint after SIGTERM"
    [ ! -e "$folder/run.lock" ] || fail "the lock was left behind"
    "$DFQ" run --resume "$folder" > "$WORK/resume.log" 2>&1 || fail "resume: $(tail -n 5 "$WORK/resume.log")"
    [ "$(status_of "$folder")" = finished ] || fail "status $(status_of "$folder") after resuming"
    grep -q "resumed at iteration" "$WORK/resume.log" || fail "the resume started over"
    echo "SIGTERM: exit 143, cancelled, resumed to finished"
    ;;
full-disk)
    # A disk that fills during the run: an error naming the file, a failed summary, no
    # temporary file left. Needs a small tmpfs, so root.
    if [ "$(id -u)" -ne 0 ] || ! mkdir -p "$WORK/disk" || ! mount -t tmpfs -o size=160k tmpfs "$WORK/disk" 2>/dev/null; then
        echo "SKIP: needs root to mount a small tmpfs (the unit tests cover a full disk without it)"
        exit 77
    fi
    # shellcheck disable=SC2086
    "$DFQ" run demo --out "$WORK/disk" $TINY --set output.sample_every=1 > "$WORK/run.log" 2>&1
    rc=$?
    folder=$(ls -d "$WORK"/disk/*/ | head -n 1)
    tmps=$(find "$WORK/disk" -name '*.tmp*' | wc -l)
    st=$(status_of "$folder")
    cp "$folder/summary.json" "$WORK/summary.json" 2>/dev/null
    umount "$WORK/disk"
    [ $rc -eq 1 ] || fail "exit code $rc on a full disk: $(tail -n 5 "$WORK/run.log")"
    grep -q "dfq: error: .*: cannot write (No space left on device)" "$WORK/run.log" ||
        fail "no error naming the file: $(tail -n 5 "$WORK/run.log")"
    [ "$st" = failed ] || fail "summary status '$st' on a full disk"
    [ "$tmps" -eq 0 ] || fail "$tmps temporary files left on the full disk"
    grep "dfq: error" "$WORK/run.log"
    ;;
window-sigterm)
    # The window on SIGTERM: the run stops with its checkpoint and summary, the window closes.
    [ -n "${DFQ_WORKBENCH:-}" ] || { echo "SKIP: no window built"; exit 77; }
    # shellcheck disable=SC2086
    QT_QPA_PLATFORM=offscreen "$DFQ_WORKBENCH" demo $LONG --set output.dir="$WORK/runs" --run \
        > "$WORK/window.log" 2>&1 &
    pid=$!
    folder=$(wait_for_folder "$WORK/runs") || fail "the run did not start: $(cat "$WORK/window.log")"
    kill -TERM $pid
    wait $pid
    rc=$?
    [ $rc -eq 143 ] || fail "exit code $rc after SIGTERM, expected 143: $(tail -n 5 "$WORK/window.log")"
    [ "$(status_of "$folder")" = cancelled ] || fail "status $(status_of "$folder") after SIGTERM"
    [ -f "$folder/checkpoints/last.pt" ] || fail "no checkpoint after SIGTERM"
    echo "window on SIGTERM: exit 143, run cancelled with its checkpoint"
    ;;
not-an-experiment)
    mkdir -p "$WORK/folder"
    "$DFQ" run "$WORK/folder" > "$WORK/dir.log" 2>&1 && fail "a folder was taken as an experiment"
    grep -q "is a folder, not an experiment file" "$WORK/dir.log" || fail "$(cat "$WORK/dir.log")"
    printf 'name: cut\nschedule:\n  epochs: 2\n' > "$WORK/cut.yaml"
    "$DFQ" run "$WORK/cut.yaml" > "$WORK/cut.log" 2>&1 && fail "a file naming no model was run"
    grep -q "names no model (model.path); is the file empty or cut short" "$WORK/cut.log" ||
        fail "$(cat "$WORK/cut.log")"
    "$DFQ" run "$DFQ_MODEL" > "$WORK/pt.log" 2>&1 && fail "a model was taken as an experiment"
    grep -q "is a zip archive (a TorchScript model?), not an experiment file" "$WORK/pt.log" ||
        fail "$(cat "$WORK/pt.log")"
    echo "folder, cut-short file and model refused"
    ;;
*)
    fail "unknown scenario $SCENARIO"
    ;;
esac
