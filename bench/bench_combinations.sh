#!/bin/bash
# Runs generator x student combinations on the built-in Fashion-MNIST teacher with equal budgets
# (each combination's W4A4 demo preset, whose schedule, batch, calibration protocol and student
# learning rate are the same for all), at every bit-width and seed asked for, and writes a
# Markdown table: FP, PTQ and the method's best and last top-1 (per seed, and the mean of the
# last), and the wall time.
#
#   bench/bench_combinations.sh [--dfq PATH] [--bits "4 3"] [--seeds "1 2 3"]
#       [--methods "gdfq:kd qimera:ait zeroq:kd"] [--out DIR] [--set k=v]...
#
# --bits N sets weight and activation bits to N. --methods lists generator:student pairs (default:
# the six of gdfq, qimera, autorecon with kd, ait). Every run folder is kept under DIR (default
# bench-combinations/), with the table in DIR/combinations.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dfq="$here/build/app/dfq"
bits="4 3"
seeds=1
methods="gdfq:kd gdfq:ait qimera:kd qimera:ait autorecon:kd autorecon:ait"
out=bench-combinations
sets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dfq) dfq=$2; shift 2 ;;
        --bits) bits=$2; shift 2 ;;
        --seed|--seeds) seeds=$2; shift 2 ;;
        --methods) methods=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --set) sets+=(--set "$2"); shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
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

title() {  # title GENERATOR STUDENT
    local t
    case $1 in
        gdfq) t=GDFQ ;; qimera) t=Qimera ;; autorecon) t=AutoReCon ;; zeroq) t=ZeroQ ;; *) t=$1 ;;
    esac
    case $2 in kd) echo "$t" ;; ait) echo "$t+AIT" ;; *) echo "$t+$2" ;; esac
}

{
    echo "| bits | method | FP | PTQ | best | last | mean last | wall time |"
    echo "|---|---|---|---|---|---|---|---|"
} > "$table"
for b in $bits; do
    for m in $methods; do
        generator=${m%%:*}
        student=${m#*:}
        label=$(title "$generator" "$student")
        suffix=""
        [ "$student" = kd ] || suffix="-$student"
        preset="$here/resources/presets/demo-fmnist-$generator$suffix-w4a4.yaml"
        fp="" ptq="" best="" last="" sum=0 n=0 wall=0
        for seed in $seeds; do
            dir="$out/w${b}a${b}/$generator$suffix/seed$seed"
            rm -rf "$dir"
            mkdir -p "$dir"
            echo "== W${b}A${b} $label seed $seed" >&2
            "$dfq" run "$preset" --out "$dir" --set seed="$seed" \
                --set quant.weight_bits="$b" --set quant.activation_bits="$b" \
                --set name="w${b}a${b}-$generator$suffix-seed$seed" "${sets[@]}" >"$dir.log" 2>&1 ||
                { echo "failed, see $dir.log" >&2; continue; }
            s=$(ls "$dir"/*/summary.json)
            fp=$(pct "$(field fp_top1 "$s")")
            ptq="$ptq${ptq:+ / }$(pct "$(field ptq_top1 "$s")")"
            best="$best${best:+ / }$(pct "$(field best_top1 "$s")")"
            l=$(field last_top1 "$s")
            last="$last${last:+ / }$(pct "$l")"
            sum=$(awk -v a="$sum" -v b="$l" 'BEGIN { print a + b }')
            n=$((n + 1))
            wall=$(awk -v a="$wall" -v b="$(field wall_seconds "$s")" 'BEGIN { print a + b }')
        done
        [ $n -gt 0 ] || continue
        printf '| W%sA%s | %s | %s | %s | %s | %s | %s | %s |\n' "$b" "$b" "$label" "$fp" "$ptq" \
            "$best" "$last" "$(awk -v s="$sum" -v n="$n" 'BEGIN { printf "%.2f", s / n }')" \
            "$(minutes "$(awk -v w="$wall" -v n="$n" 'BEGIN { print w / n }')")" >> "$table"
        tail -n 1 "$table" >&2
    done
done
cat "$table"
