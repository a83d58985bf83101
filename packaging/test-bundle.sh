#!/usr/bin/env bash
# Launch test of the built Linux bundle, as an artist's machine would run it: the archive unpacked in
# a fresh temp folder, a PATH with no Python, no venv variables, a fresh STUDIO_HOME and HOME.
#   1. CLI: --version, models, generate (bundled model, 64 px, 4 steps), inspect, gallery list/export
#      (and doctor when the bundle has it); exit codes and outputs checked.
#   2. Window under Xvfb (offscreen without Xvfb): generates a picture through its spawned engine
#      worker, saves a screenshot, and the picture reaches the gallery; no file from a Python
#      environment may be mapped by its processes meanwhile.
#   3. Start-up to window shown, bundle vs source install, alternated in one run (STUDIO_SOURCE: the
#      source install's command; default .venv/bin/studio of this checkout; skipped if neither).
# Usage: packaging/test-bundle.sh [ARCHIVE]   (default dist/studio-*-linux-x86_64.tar.gz)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
archive="${1:-$(ls -t "$repo"/dist/studio-*-linux-x86_64.tar.gz 2>/dev/null | head -1)}"
[ -f "$archive" ] || { echo "no bundle archive: run packaging/build-linux.sh first" >&2; exit 2; }
t0=$(date +%s)
tmp=$(mktemp -d)
xvfb=""
cleanup() { [ -n "$xvfb" ] && kill "$xvfb" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

tar -C "$tmp" -xzf "$archive"
app="$tmp/studio"
[ -x "$app/studio" ] || fail "the archive has no studio/studio"
echo "unpacked $(basename "$archive") ($(du -sh "$archive" | cut -f1)) -> $(du -sh "$app" | cut -f1)"
# A PATH holding only the system tools Studio itself calls (ldd: the display check; sqlite3: repair).
mkdir -p "$tmp/bin" "$tmp/home" "$tmp/data" "$tmp/out"
for tool in ldd sqlite3 sh; do
  command -v "$tool" >/dev/null && ln -s "$(command -v "$tool")" "$tmp/bin/$tool"
done
clean_env=(env -i PATH="$tmp/bin" HOME="$tmp/home" STUDIO_HOME="$tmp/data" LANG=C.UTF-8 OMP_NUM_THREADS=2)
run() { (cd "$tmp/out" && timeout "${TIMEOUT:-300}" "${clean_env[@]}" "$@"); }
PATH="$tmp/bin" command -v python3 python >/dev/null && fail "the test PATH has a python"

# --- 1. the command line ---
out=$(run "$app/studio" --version) || fail "studio --version exited $?"
[[ "$out" == "studio "* ]] || fail "studio --version said: $out"
echo "ok  $out"
run "$app/studio" models > "$tmp/models.txt" || fail "studio models exited $?"
grep -q "studio-shapes" "$tmp/models.txt" || fail "studio models does not list the bundled model"
echo "ok  studio models lists the bundled model"
s=$(now)
run "$app/studio" generate "a red circle on a blue background" -o circle.png --width 64 --height 64 \
  --steps 4 --seed 7 > "$tmp/gen.txt" 2>&1 || { rc=$?; cat "$tmp/gen.txt"; fail "studio generate exited $rc"; }
[ -s "$tmp/out/circle.png" ] || fail "studio generate wrote no circle.png"
echo "ok  studio generate wrote circle.png in $(secs "$s" "$(now)") s"
run "$app/studio" inspect --json circle.png > "$tmp/inspect.json" || fail "studio inspect exited $?"
for want in '"seed": 7' '"steps": 4' '"width": 64' '"prompt": "a red circle on a blue background"'; do
  grep -qF "$want" "$tmp/inspect.json" || fail "studio inspect lacks $want: $(cat "$tmp/inspect.json")"
done
echo "ok  studio inspect reads its prompt, seed, steps and size"
id=$(run "$app/studio" gallery list --json | grep -m1 -o '"id": [0-9]*' | grep -o '[0-9]*$') \
  || fail "studio gallery list shows no image"
run "$app/studio" gallery export "$id" --to exported > /dev/null || fail "studio gallery export exited $?"
exported=$(ls "$tmp/out/exported/"*.png 2>/dev/null | head -1)
[ -s "$exported" ] || fail "studio gallery export wrote nothing"
run "$app/studio" inspect --json "$exported" | grep -qF '"seed": 7' || fail "the exported image lost its parameters"
echo "ok  studio gallery export wrote $(basename "$exported") with its parameters"

# --- 2. the window ---
if command -v Xvfb >/dev/null; then
  display=":$((100 + RANDOM % 50))"
  Xvfb "$display" -screen 0 1440x900x24 -nolisten tcp >/dev/null 2>&1 & xvfb=$!
  sleep 1
  clean_env+=(DISPLAY="$display" QT_QPA_PLATFORM=xcb)
else
  clean_env+=(QT_QPA_PLATFORM=offscreen)
fi
# doctor now, with the display the window gets (without one it rightly says the window cannot open)
if run "$app/studio" --help | grep -qw doctor; then
  if run "$app/studio" doctor > "$tmp/doctor.txt" 2>&1; then echo "ok  studio doctor"
  else cat "$tmp/doctor.txt"; fail "studio doctor exited non-zero"; fi
fi
tree() { local p; for p in $(pgrep -P "$1"); do echo "$p"; tree "$p"; done; }
watch_maps() {  # every file the window and its engine worker map, while they run
  while kill -0 "$1" 2>/dev/null; do
    for pid in $(tree "$1"); do cat "/proc/$pid/maps" 2>/dev/null; done
    sleep 0.5
  done | awk '{print $6}' | sort -u > "$tmp/maps.txt"
}
s=$(now)
(cd "$tmp/out" && timeout 300 "${clean_env[@]}" STUDIO_SCREENSHOT="$tmp/out/window.png" \
  STUDIO_DEMO_PROMPT="a blue square" "$app/studio" > "$tmp/window.log" 2>&1) & win=$!
watch_maps "$win" & watcher=$!
wait "$win" || { rc=$?; cat "$tmp/window.log"; fail "the window exited $rc"; }
wait "$watcher"
[ -s "$tmp/out/window.png" ] || { cat "$tmp/window.log"; fail "the window saved no screenshot"; }
run "$app/studio" gallery list 2>/dev/null | grep -q "a blue square" || fail "the window's picture is not in the gallery"
grep -q "libtorch_cpu" "$tmp/maps.txt" || fail "no engine worker with torch was seen"
if grep -E "site-packages|\.venv" "$tmp/maps.txt"; then fail "the bundle mapped files from a Python environment"; fi
echo "ok  the window generated 'a blue square' in its engine worker and saved a screenshot" \
     "($(secs "$s" "$(now)") s, $(du -k "$tmp/out/window.png" | cut -f1) KB)"
[ -n "${STUDIO_TEST_KEEP:-}" ] && cp "$tmp/out/window.png" "$tmp/out/circle.png" "$STUDIO_TEST_KEEP"/

# --- 3. start-up to window shown: bundle vs source install, alternated ---
source_cmd="${STUDIO_SOURCE:-}"
[ -z "$source_cmd" ] && [ -x "$repo/.venv/bin/studio" ] && source_cmd="$repo/.venv/bin/studio"
shown_after() {  # PATH COMMAND...: seconds from launch to the window's first show, fresh STUDIO_HOME
  local path=$1; shift
  local home; home=$(mktemp -d -p "$tmp")
  local start; start=$(now)
  local line
  line=$(timeout 120 "${clean_env[@]}" STUDIO_HOME="$home" STUDIO_EXIT_AFTER_SHOW=1 PATH="$path" "$@" \
         2>/dev/null | grep -m1 '^shown ') || fail "no window from: $*"
  secs "$start" "$(awk '{print $2}' <<< "$line")"
}
bundle_times=(); source_times=()
for round in 0 1 2 3; do  # round 0 warms the page cache of both and is not counted
  b=$(shown_after "$tmp/bin" "$app/studio")
  [ "$round" -gt 0 ] && bundle_times+=("$b")
  if [ -n "$source_cmd" ]; then  # the source install runs with its own Python's folder on PATH
    # shellcheck disable=SC2086 - STUDIO_SOURCE may be "python -m studio"
    src=$(cd "$repo" && shown_after "$(dirname "${source_cmd%% *}"):$tmp/bin" $source_cmd)
    [ "$round" -gt 0 ] && source_times+=("$src")
  fi
done
echo "start-up to window shown, bundle:  ${bundle_times[*]} s"
[ -n "$source_cmd" ] && echo "start-up to window shown, source ($source_cmd): ${source_times[*]} s"
echo "PASS in $(( $(date +%s) - t0 )) s"
