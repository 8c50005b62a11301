#!/bin/bash
# Runs the six generator x student combinations on the built-in Fashion-MNIST teacher with equal
# budgets (each combination's W4A4 demo preset, whose schedule, batch, calibration protocol and
# student learning rate are the same for all six), at every bit-width asked for, and writes a
# Markdown table: FP, PTQ and the method's best and last top-1, and the wall time.
#
#   bench/bench_combinations.sh [--dfq PATH] [--bits "4 3"] [--seed N] [--out DIR] [--set k=v]...
#
# --bits N sets weight and activation bits to N. Every run folder is kept under DIR (default
# bench-combinations/), with the table in DIR/combinations.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dfq="$here/build/app/dfq"
bits="4 3"
seed=1
out=bench-combinations
sets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dfq) dfq=$2; shift 2 ;;
        --bits) bits=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --set) sets+=(--set "$2"); shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ -x "$dfq" ] || { echo "no dfq at $dfq; build first (or give --dfq)" >&2; exit 1; }
mkdir -p "$out"
table="$out/combinations.md"

field() {  # field NAME summary.json
    sed -n "s/.*\"$1\":\([-0-9.e]*\).*/\1/p" "$2"
}
pct() {
    awk -v v="$1" 'BEGIN { if (v == "" || v < 0) print "–"; else printf "%.2f", v }'
}
minutes() {
    awk -v s="$1" 'BEGIN { printf "%dm%02ds", s / 60, s % 60 }'
}

{
    echo "| bits | method | FP | PTQ | best | last | wall time |"
    echo "|---|---|---|---|---|---|---|"
} > "$table"
for b in $bits; do
    for generator in gdfq qimera autorecon; do
        for student in kd ait; do
            case $generator in
                gdfq) label=GDFQ ;; qimera) label=Qimera ;; autorecon) label=AutoReCon ;;
            esac
            suffix=""
            if [ $student = ait ]; then
                suffix="-ait"
                label="$label+AIT"
            fi
            preset="$here/resources/presets/demo-fmnist-$generator$suffix-w4a4.yaml"
            dir="$out/w${b}a${b}/$generator$suffix"
            rm -rf "$dir"
            mkdir -p "$(dirname "$dir")"
            echo "== W${b}A${b} $label" >&2
            "$dfq" run "$preset" --out "$dir" --set seed="$seed" \
                --set quant.weight_bits="$b" --set quant.activation_bits="$b" \
                --set name="w${b}a${b}-$generator$suffix" "${sets[@]}" >"$dir.log" 2>&1 ||
                { echo "failed, see $dir.log" >&2; continue; }
            s=$(ls "$dir"/*/summary.json)
            printf '| W%sA%s | %s | %s | %s | %s | %s | %s |\n' "$b" "$b" "$label" \
                "$(pct "$(field fp_top1 "$s")")" "$(pct "$(field ptq_top1 "$s")")" \
                "$(pct "$(field best_top1 "$s")")" "$(pct "$(field last_top1 "$s")")" \
                "$(minutes "$(field wall_seconds "$s")")" >> "$table"
            tail -n 1 "$table" >&2
        done
    done
done
cat "$table"
