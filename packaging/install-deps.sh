#!/bin/sh
# Installs what DFQ Workbench needs to build, test and run on Debian 12, and nothing that is
# already there. Safe to run again. Run it as root (or through sudo).
#   --sanitizers  also clang with its sanitizer and libFuzzer runtimes, for tests/sanitize.sh
set -eu

PACKAGES="
g++ cmake ninja-build ccache pkg-config
libtorch-dev libopenblas0-openmp
qt6-base-dev qt6-svg-dev libqcustomplot-dev libqcustomplot2.1-qt6
libyaml-cpp-dev libgtest-dev libcli11-dev zlib1g-dev libstb-dev
libonnx-dev libprotobuf-dev
xvfb xauth
dataset-fashion-mnist
python3-torch python3-torchvision python3-onnx
help2man lintian desktop-file-utils appstream bash-completion
"
# Node.js and npm: the export tests run the exported files in ONNX Runtime for Node.js. A Node.js
# that is already installed (with its own npm) is used as it is.
if ! command -v npm >/dev/null 2>&1; then
    PACKAGES="$PACKAGES nodejs npm"
fi
if [ "${1:-}" = "--sanitizers" ]; then
    # clang: the compiler tests/sanitize.sh builds with; libclang-rt-14-dev: its AddressSanitizer,
    # UndefinedBehaviorSanitizer and libFuzzer runtimes; libomp-dev: OpenMP for clang.
    PACKAGES="$PACKAGES clang libclang-rt-14-dev libomp-dev"
fi
# Why some of these are here:
#  libopenblas0-openmp  Debian's LibTorch multiplies matrices through the system BLAS; without
#                       OpenBLAS that is the reference BLAS, some 25x slower.
#  dataset-fashion-mnist  real data for the demo teacher and its evaluation.
#  python3-torch(vision)  only to export the TorchScript test fixtures the way PyTorch users do;
#                       the workbench itself never runs Python.
#  libonnx-dev libprotobuf-dev  `dfq export` writes ONNX with ONNX's own protobuf classes and
#                       checks it with ONNX's checker.
#  help2man             the man pages of the package, made from the programs' own --help.
#  lintian desktop-file-utils appstream bash-completion  the package test's checks.
#  python3-onnx nodejs npm  the export tests only: ONNX's Python checker, and npm to install ONNX
#                       Runtime for Node.js into the build folder.
#  xvfb xauth           the GUI tests and screenshots on machines without a display.

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: everything is installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "install-deps: these packages are missing:$missing" >&2
        echo "install-deps: run this script as root, or install them with apt-get" >&2
        exit 1
    fi
else
    SUDO=
fi

if [ ! -f /etc/debian_version ]; then
    echo "install-deps: this script expects Debian 12 (apt); install the equivalents of:$missing" >&2
    exit 1
fi

echo "install-deps: installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
echo "install-deps: done"
