#!/bin/bash
# The Debian package as a user meets it: built with CPack, checked by lintian (no errors),
# desktop-file-validate and appstreamcli, installed with apt-get, its programs run from /usr/bin
# (dfq info demo, a two-epoch dfq run demo, an offscreen dfq-workbench screenshot), then removed,
# leaving none of its files behind.
# Usage: package.sh BUILD_DIR WORKDIR. Exits 77 (skipped) where packages cannot be installed:
# not root, or not a Debian system.
set -u
BUILD=$(cd "$1" && pwd)
WORK=$2
rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK" || exit 1

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || { echo "SKIP: installing a package needs root"; exit 77; }
command -v apt-get > /dev/null && command -v dpkg > /dev/null ||
    { echo "SKIP: not a Debian system"; exit 77; }
for tool in lintian desktop-file-validate appstreamcli; do
    command -v $tool > /dev/null ||
        fail "$tool is missing (packaging/install-deps.sh installs it)"
done
if dpkg-query -W -f='${Status}' dfq-workbench 2> /dev/null | grep -q "install ok installed"; then
    echo "SKIP: dfq-workbench is already installed here; not touching it"
    exit 77
fi

cmake --build "$BUILD" --target package > package.log 2>&1 || fail "package: $(tail package.log)"
deb=$(ls "$BUILD"/dfq-workbench_*_amd64.deb)
[ -f "$deb" ] || fail "no package in $BUILD"

lintian --fail-on error "$deb" > lintian.log 2>&1 ||
    fail "lintian: $(cat lintian.log)"
echo "lintian: $(grep -c '^E:' lintian.log) errors, $(grep -c '^W:' lintian.log) warnings"
dpkg-deb -x "$deb" root
desktop-file-validate root/usr/share/applications/dfq-workbench.desktop ||
    fail "desktop-file-validate"
appstreamcli validate --no-net root/usr/share/metainfo/*.metainfo.xml > appstream.log 2>&1 ||
    fail "appstreamcli: $(cat appstream.log)"
for f in usr/share/man/man1/dfq.1.gz usr/share/man/man1/dfq-workbench.1.gz \
    usr/share/bash-completion/completions/dfq usr/share/icons/hicolor/scalable/apps/dfq-workbench.svg \
    usr/share/icons/hicolor/48x48/apps/dfq-workbench.png usr/share/dfq-workbench/demo/fmnist-resnet8.pt \
    usr/share/dfq-workbench/sweeps/demo-combinations.yaml usr/share/doc/dfq-workbench/copyright; do
    [ -s "root/$f" ] || fail "the package has no $f"
done
grep -q "^License: GPL-3.0-or-later" root/usr/share/doc/dfq-workbench/copyright ||
    fail "the package's copyright file does not give the licence"
grep -q "<project_license>GPL-3.0-or-later</project_license>" root/usr/share/metainfo/*.metainfo.xml ||
    fail "the metainfo does not give the licence"
zcat root/usr/share/man/man1/dfq.1.gz | grep -q 'dfq export' || fail "dfq(1) lacks the subcommands"

trap 'apt-get remove --purge -y dfq-workbench > /dev/null 2>&1' EXIT
apt-get install -y "$deb" > install.log 2>&1 || fail "apt-get install: $(tail install.log)"
dpkg -L dfq-workbench > files.txt
echo "installed: $(wc -l < files.txt) paths"

# The installed programs, from a folder outside the source and build trees: their resources come
# from /usr/share/dfq-workbench.
unset DFQ_RESOURCES
/usr/bin/dfq info demo > info.log 2>&1 || fail "dfq info demo: $(cat info.log)"
grep -q '/usr/share/dfq-workbench/demo/fmnist-resnet8.pt' info.log ||
    fail "dfq info demo did not read the installed teacher: $(head -3 info.log)"
/usr/bin/dfq run demo --out runs --set schedule.epochs=2 --set schedule.warmup_epochs=1 \
    --set schedule.calibration_epochs=1 --set schedule.iterations=20 --set data.limit=1000 \
    > run.log 2>&1 || fail "dfq run demo: $(tail run.log)"
grep -q '"status":"finished"' runs/*/summary.json || fail "the run did not finish"
XDG_RUNTIME_DIR=$WORK QT_QPA_PLATFORM=offscreen /usr/bin/dfq-workbench demo --screenshot shot.png \
    --after 1 > shot.log 2>&1 || fail "dfq-workbench --screenshot: $(tail shot.log)"
[ "$(stat -c %s shot.png)" -gt 20000 ] || fail "the screenshot is blank"
# Completion of a subcommand, an option (read from the program's help) and a preset name.
bash -c '. /usr/share/bash-completion/bash_completion
    . /usr/share/bash-completion/completions/dfq
    t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"
          COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _dfq
          echo "${COMPREPLY[*]}"; }
    t dfq ex; t dfq export --fo; t dfq run demo-fmnist-gdfq-w' > completion.log 2>&1 ||
    fail "the completion does not load: $(cat completion.log)"
[ "$(sed -n 1p completion.log)" = export ] && [ "$(sed -n 2p completion.log)" = "--fold-bn --format" ] &&
    sed -n 3p completion.log | grep -q 'demo-fmnist-gdfq-w4a4' ||
    fail "completion: $(cat completion.log)"
if command -v man > /dev/null; then
    man -l /usr/share/man/man1/dfq.1.gz > /dev/null 2>&1 || fail "man dfq"
fi

apt-get remove --purge -y dfq-workbench > remove.log 2>&1 || fail "remove: $(tail remove.log)"
trap - EXIT
left=$(while read -r f; do [ -f "$f" ] && echo "$f"; done < files.txt)
[ -z "$left" ] || fail "files left after removal: $left"
echo "package: built, checked, installed, run (info, a two-epoch run, a screenshot) and removed"
