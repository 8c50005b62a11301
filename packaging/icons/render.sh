#!/bin/sh
# Renders dfq-workbench.svg to the hicolor PNG sizes committed beside it (librsvg2-bin).
set -eu
cd "$(dirname "$0")"
for s in 16 22 24 32 48 64 128 256; do
    rsvg-convert -w "$s" -h "$s" dfq-workbench.svg -o "dfq-workbench-$s.png"
done
