#!/bin/sh
# Installs ONNX Runtime for Node.js (tests/onnx/package-lock.json) into DIR for the export tests,
# with check_onnx.js beside it. Test setup only: the workbench never needs it.
# Usage: setup_runtime.sh DIR. Exits 77 (skipped) when node or npm is missing or npm cannot
# reach its registry.
set -u
DIR=$1
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v node > /dev/null 2>&1 || ! command -v npm > /dev/null 2>&1; then
    echo "SKIP: node and npm are not installed (packaging/install-deps.sh installs them)"
    exit 77
fi
mkdir -p "$DIR"
cp "$HERE/package.json" "$HERE/package-lock.json" "$HERE/check_onnx.js" "$DIR/"
cd "$DIR" || exit 1
if ! node -e "require('onnxruntime-node')" > /dev/null 2>&1; then
    # --ignore-scripts: the package's install script only fetches GPU libraries; the CPU runtime
    # is inside the package.
    if ! npm ci --ignore-scripts --no-audit --no-fund > npm.log 2>&1; then
        echo "SKIP: npm could not install onnxruntime-node:"
        tail -n 5 npm.log
        exit 77
    fi
fi
node -e "console.log('onnxruntime-node ' + require('onnxruntime-node/package.json').version + ' in $DIR')"
