#!/usr/bin/env bash
# Adds Studio (this unpacked bundle) to the application menu of the current user, with its icon,
# as an application that opens PNG, JPEG and WebP files (in the file manager's "Open With"; your
# default image viewer is left as it is). Needs no root. uninstall.sh takes back exactly this.
# Where: $XDG_DATA_HOME (default ~/.local/share)/applications and icons/hicolor/256x256/apps.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/studio"
[ -x "$bin" ] || { echo "install.sh must stay in the unpacked Studio folder (no $bin)" >&2; exit 1; }
case "$here" in *[\"\`\$\\%]*)
  echo "move the Studio folder to a path without \" \` \$ \\ or % first (the menu entry cannot name it)" >&2
  exit 1 ;; esac
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
icons="$data/icons/hicolor/256x256/apps"
manifest="$data/studio-bundle/installed.txt"  # what this script added, for uninstall.sh
[ -f "$manifest" ] && "$here/uninstall.sh" >/dev/null  # a reinstall replaces the previous one

added=()
make_dir() {  # mkdir -p, remembering each folder it creates
  local missing=() d="$1"
  while [ ! -d "$d" ]; do missing=("$d" "${missing[@]}"); d="$(dirname "$d")"; done
  for d in "${missing[@]}"; do mkdir "$d"; added+=("dir:$d"); done
}
make_dir "$apps"; make_dir "$icons"; make_dir "$(dirname "$manifest")"

cp "$here/studio.png" "$icons/studio.png"; added+=("file:$icons/studio.png")
sed -e "s|@STUDIO_BIN@|\"$bin\"|" -e "s|^TryExec=\"\(.*\)\"$|TryExec=\1|" -e "s|@STUDIO_ICON@|studio|" \
    "$here/studio.desktop" > "$apps/studio.desktop.tmp"
mv "$apps/studio.desktop.tmp" "$apps/studio.desktop"; added+=("file:$apps/studio.desktop")
if command -v update-desktop-database >/dev/null; then  # the MimeType= lines -> mimeinfo.cache
  [ -e "$apps/mimeinfo.cache" ] || added+=("file:$apps/mimeinfo.cache")
  update-desktop-database "$apps" 2>/dev/null || true
fi
touch "$data/icons/hicolor" 2>/dev/null || true  # icon caches notice a new icon by the folder's time
printf '%s\n' "${added[@]}" > "$manifest"
echo "Studio is in the application menu ($apps/studio.desktop); uninstall.sh removes it"
