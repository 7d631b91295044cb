#!/bin/sh
# Copies the screenshots the browser suite wrote (meson test --suite browser) into
# docs/screenshots/, the copies the README and docs/web.md show.
#   tests/browser/update-screenshots.sh [BUILD_DIR]   (default: build)
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
src="$build/tests/browser/screenshots"
[ -d "$src" ] || { echo "no screenshots in $src: run meson test -C $build --suite browser first" >&2; exit 1; }
mkdir -p docs/screenshots
n=0
for f in dashboard-after.png dashboard-mic.png kiosk-nospeech.png kiosk-state.png kiosk-alert.png; do
  [ -f "$src/$f" ] || { echo "missing $src/$f" >&2; exit 1; }
  cp "$src/$f" docs/screenshots/
  n=$((n + 1))
done
echo "copied $n screenshots from $src to docs/screenshots/"
