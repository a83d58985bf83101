#!/usr/bin/env bash
# The README's pictures of the window: runs the real app under Xvfb (a fresh STUDIO_HOME, the
# bundled model), lets studio/ui/tour.py generate a picture and photograph every panel, the File
# menu and the gallery's context menu. With no argument the README's three pictures go to
# resources/screenshots/; with OUT, every picture goes there.
# Needs Debian's xvfb and the Qt libraries the README lists. Usage: packaging/screenshots.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-}
shots=$(mktemp -d)
home=$(mktemp -d)
display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x820x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$home"' EXIT
sleep 1
DISPLAY=$display STUDIO_HOME=$home STUDIO_TOUR=$shots QT_QPA_PLATFORM=xcb python -m studio
if [ -z "$out" ]; then
  cp "$shots"/main-window.png "$shots"/file-menu.png "$shots"/gallery-menu.png resources/screenshots/
  ls -1 resources/screenshots/{main-window,file-menu,gallery-menu}.png
else
  mkdir -p "$out" && cp "$shots"/*.png "$out"/ && ls -1 "$out"/*.png
fi
