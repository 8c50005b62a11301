#!/bin/sh
# Writes the man pages dfq.1.gz and dfq-workbench.1.gz into OUT from the programs' own --help
# (help2man), with every dfq subcommand's --help in a SUBCOMMANDS section.
# Usage: make_man.sh DFQ DFQ_WORKBENCH OUT
set -eu
dfq=$1
workbench=$2
out=$3
mkdir -p "$out"
include="$out/dfq.h2m"
{
    echo "[SUBCOMMANDS]"
    for sub in info eval train-teacher run sweep analyze export config-reference; do
        echo ".SS \"dfq $sub\""
        echo ".nf"
        "$dfq" "$sub" --help 2>&1 | sed -e 's/\\/\\\\/g' -e "s|$dfq|dfq|g" -e 's/^\./\\\&./'
        echo ".fi"
    done
    echo "[SEE ALSO]"
    echo "dfq-workbench(1). The documentation in /usr/share/doc/dfq-workbench/."
} > "$include"
# "dfq-workbench 0.1.0 (LibTorch ...)": the version is the second word.
version=$("$dfq" --version | awk '{print $2}')
help2man --no-info --no-discard-stderr --section 1 --include "$include" \
    --name "generative data-free quantization of CNN classifiers" \
    --version-string "dfq $version" "$dfq" | sed "s|$dfq|dfq|g" > "$out/dfq.1"
runtime=$(mktemp -d)
XDG_RUNTIME_DIR=$runtime QT_QPA_PLATFORM=offscreen help2man --no-info --section 1 \
    --name "the DFQ Workbench window" --version-string "dfq-workbench $version" "$workbench" |
    sed "s|$workbench|dfq-workbench|g" > "$out/dfq-workbench.1"
rm -rf "$runtime"
gzip -9nf "$out/dfq.1" "$out/dfq-workbench.1"
rm -f "$include"
