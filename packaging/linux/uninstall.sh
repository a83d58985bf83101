#!/usr/bin/env bash
# Removes what install.sh added for the current user (the files and folders it lists in its
# manifest), and nothing else. The Studio folder itself and your pictures and gallery stay.
set -euo pipefail
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
manifest="$data/studio-bundle/installed.txt"
[ -f "$manifest" ] || { echo "Studio's menu entry is not installed for ${USER:-this user} (no $manifest)"; exit 0; }
dirs=()
while IFS= read -r entry; do
  case "$entry" in
    file:*) rm -f -- "${entry#file:}" ;;
    dir:*) dirs=("${entry#dir:}" "${dirs[@]}") ;;  # deepest first
  esac
done < "$manifest"
rm -f -- "$manifest"
[ -e "$apps/mimeinfo.cache" ] && command -v update-desktop-database >/dev/null \
  && { update-desktop-database "$apps" 2>/dev/null || true; }
for d in "${dirs[@]}" "$data/studio-bundle"; do rmdir -- "$d" 2>/dev/null || true; done  # only if empty
echo "Studio's menu entry and icon are removed"
