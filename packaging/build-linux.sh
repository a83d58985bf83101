#!/usr/bin/env bash
# Builds Studio's self-contained Linux bundle from this checkout: dist/studio/ (PyInstaller one-folder,
# CPU torch, the bundled model, configs, icon, fonts, install.sh/uninstall.sh and the .desktop entry)
# packed as dist/studio-<version>-linux-x86_64.tar.gz. Run it from anywhere: packaging/build-linux.sh
#
# The build venv: $STUDIO_BUILD_VENV if set (used as it is; it must hold Studio, torch and
# PyInstaller, e.g. the README's .venv after `pip install -e ".[bundle]"`), else .venv-bundle/ in the
# checkout, created on first use with the CPU build of torch 2.13.0 and Studio's bundle extra.
# A CUDA torch is refused unless STUDIO_BUNDLE_CUDA=1 (then its CUDA libraries go in: ~3 GB more).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
start=$(date +%s)
venv="${STUDIO_BUILD_VENV:-$repo/.venv-bundle}"
py="$venv/bin/python"
if [ ! -x "$py" ]; then
  [ -n "${STUDIO_BUILD_VENV:-}" ] && { echo "no Python at $py (STUDIO_BUILD_VENV)" >&2; exit 1; }
  echo "creating the build venv $venv (CPU torch 2.13.0, Studio, PyInstaller)"
  python3 -m venv "$venv"
  "$py" -m pip install -q --upgrade pip
  # the CPU wheel: PyPI's Linux torch is the CUDA build
  "$py" -m pip install -q torch==2.13.0 --extra-index-url "${STUDIO_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
  "$py" -m pip install -q -e ".[bundle]"
fi
"$py" - <<'PY' || exit 1
import os, sys
try:
    import PyInstaller, torch  # noqa: F401
    import studio  # noqa: F401
except ImportError as exc:
    sys.exit(f"the build venv lacks {exc.name}: pip install -e '.[bundle]' into it")
if torch.version.cuda and os.environ.get("STUDIO_BUNDLE_CUDA") != "1":
    sys.exit(f"the build venv has torch {torch.__version__} (CUDA); install the CPU build or set STUDIO_BUNDLE_CUDA=1")
print(f"torch {torch.__version__}, PyInstaller {PyInstaller.__version__}, Python {sys.version.split()[0]}")
PY
version=$("$py" -c "import studio; print(studio.__version__)")

rm -rf dist/studio
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$py" -m PyInstaller --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/studio.spec
# Desktop integration beside the executable (install.sh fills the .desktop template in).
cp packaging/linux/install.sh packaging/linux/uninstall.sh packaging/linux/studio.desktop dist/studio/
cp resources/icons/studio.png dist/studio/studio.png
cat > dist/studio/README.txt <<EOF
Studio $version for Linux x86-64: no Python needed.
  ./studio                      open the window (the bundled model is ready)
  ./studio generate "a red circle" -o circle.png    and every other command: ./studio --help
  ./install.sh                  add Studio to your application menu (./uninstall.sh takes it back)
The window needs the X11 libraries desktop installs have; on a minimal Debian/Ubuntu:
  sudo apt-get install libegl1 libgl1 libfontconfig1 libglib2.0-0 libx11-xcb1 libxcb-cursor0 \\
    libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 \\
    libxcb-sync1 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0
EOF

archive="dist/studio-$version-linux-x86_64.tar.gz"
tar -C dist -czf "$archive.tmp" studio && mv "$archive.tmp" "$archive"
echo "built $archive: $(du -sh "$archive" | cut -f1) packed, $(du -sh dist/studio | cut -f1) unpacked, in $(( $(date +%s) - start )) s"
