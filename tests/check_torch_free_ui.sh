#!/bin/sh
# The window's sources (ui/, app/workbench_main.cpp) must not include a LibTorch header (torch/,
# ATen/, c10/), directly or through a core header: LibTorch's headers cost the window's build
# ~13 s and 1.3 GB per file and tie Qt code to torch's macros. Debian installs those headers on
# the system include path, so include directories cannot keep them out; this reads the headers
# each object really included from Ninja's dependency log. Usage: check_torch_free_ui.sh BUILD_DIR
set -u
build=$1
if [ ! -f "$build/build.ninja" ] || ! command -v ninja >/dev/null 2>&1; then
    echo "SKIP: needs a Ninja build"
    exit 77
fi
bad=$(ninja -C "$build" -t deps 2>/dev/null | awk '
    /^[^ ].*\.o: #deps/ { obj = $1; sub(":$", "", obj) }
    /^    / && (obj ~ /^ui\// || obj ~ /dfq-workbench\.dir/) && $1 ~ /\/(torch|ATen|c10)\// {
        print obj " includes " $1 }')
objects=$(ninja -C "$build" -t deps 2>/dev/null | grep -cE '^(ui/|app/CMakeFiles/dfq-workbench).*\.o: #deps')
if [ "$objects" -eq 0 ]; then
    echo "FAIL: no window objects in the dependency log of $build (build it first)"
    exit 1
fi
if [ -n "$bad" ]; then
    echo "$bad" | head -n 20
    echo "FAIL: window sources include LibTorch headers (first 20 shown)"
    exit 1
fi
echo "$objects window objects, none includes a torch, ATen or c10 header"
