#!/bin/sh
# The README's screenshot of the installed package's menu entry: a bare X server with a panel
# whose application menu is opened at the Education submenu (the .desktop file's first menu
# category there), cropped to the menu. Needs the package installed, and
#   apt-get install --no-install-recommends xvfb openbox lxpanel lxmenu-data xdotool imagemagick
#
#   sh packaging/menu_screenshot.sh docs/images/menu-entry.png
set -eu
out=${1:?usage: menu_screenshot.sh OUT.png}
[ -f /usr/share/applications/dfq-workbench.desktop ] ||
    { echo "install the package first (docs/packaging.md)" >&2; exit 1; }
for tool in Xvfb openbox lxpanel xdotool import convert; do
    command -v $tool >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
home=$(mktemp -d)
display=:73
Xvfb $display -screen 0 1024x640x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $panel $wm $xvfb 2>/dev/null; rm -rf "$home"' EXIT
sleep 1
export DISPLAY=$display HOME=$home
openbox >/dev/null 2>&1 &
wm=$!
sleep 1
lxpanel --profile default >/dev/null 2>&1 &
panel=$!
sleep 4
xdotool mousemove 12 628 click 1      # the menu button, bottom left
sleep 2
xdotool mousemove 60 512              # Education
sleep 2
import -window root "$home/root.png"
convert "$home/root.png" -crop 400x176+0+464 +repage "$out"
echo "wrote $out"
