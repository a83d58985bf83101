#!/usr/bin/env bash
# The README's pictures of the window: runs the real app under Xvfb (a fresh STUDIO_HOME, the
# bundled model), lets studio/ui/tour.py generate a picture and photograph every panel, the File
# menu and the gallery's context menu, then copies them to resources/screenshots/.
# Needs Debian's xvfb and the Qt libraries the README lists. Usage: packaging/screenshots.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-resources/screenshots}
shots=$(mktemp -d)
home=$(mktemp -d)
display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x820x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$home"' EXIT
sleep 1
DISPLAY=$display STUDIO_HOME=$home STUDIO_TOUR=$shots QT_QPA_PLATFORM=xcb python -m studio
mkdir -p "$out"
cp "$shots"/*.png "$out"/
ls -1 "$out"/*.png
