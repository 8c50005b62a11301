#!/bin/sh
# Fetches, on a Debian 12 machine, what bench/gpu_check.sh needs on a GPU machine that has
# PyTorch, CMake, Ninja and a C++ compiler but none of the workbench's other build dependencies
# and cannot download: Debian's yaml-cpp, CLI11, stb and zlib headers, and (for the demo preset's
# wall time) the Fashion-MNIST package. They go to .gpu-deps/ (ignored by git, about 35 MB), which
# gpu_check.sh unpacks into a private prefix, never into /.
set -eu
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
apt-get download libyaml-cpp-dev libyaml-cpp0.7 libcli11-dev libstb-dev libstb0 zlib1g-dev \
    dataset-fashion-mnist
ls -l
