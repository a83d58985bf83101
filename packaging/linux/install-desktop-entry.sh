#!/usr/bin/env bash
# Adds Studio to the desktop's application menu for the current user.
# Run from the repository after the README's install command (the venv must exist).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$repo/.venv/bin/studio"
icon="$repo/resources/icons/studio.png"
[ -x "$bin" ] || { echo "install Studio first (README): $bin is missing" >&2; exit 1; }
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
mkdir -p "$apps"
sed -e "s|@STUDIO_BIN@|$bin|" -e "s|@STUDIO_ICON@|$icon|" \
    "$repo/packaging/linux/studio.desktop" > "$apps/studio.desktop.tmp"
mv "$apps/studio.desktop.tmp" "$apps/studio.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$apps" || true
echo "added $apps/studio.desktop"
