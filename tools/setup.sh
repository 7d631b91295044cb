#!/bin/sh
# The two set-up commands of the README, for a fresh Debian 12 machine:
#   tools/setup.sh run    install packages, build, start emotiond on the default microphone
#   tools/setup.sh test   install packages, build, run the whole test suite (also under ASan+UBSan)
# Runs as root or a user with sudo. Builds in ./build (and ./build-asan for the sanitizer pass).
set -eu
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in run|test|build) ;; *) echo "usage: tools/setup.sh run|test|build" >&2; exit 2;; esac

sh tools/install-deps.sh

configure() { # dir, extra meson args...
  dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null
  else meson setup "$dir" "$@" >/dev/null; fi
}

if [ "$mode" = test ] && [ -f tests/browser/package.json ]; then
  # playwright-core from npm drives Debian's chromium; installed from the lock file, offline-safe
  # when node_modules is already there.
  (cd tests/browser && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error; })
fi

configure build
ninja -C build

case "$mode" in
build) exit 0 ;;
run)
  exec sh tools/run-default.sh ;;
test)
  status=0
  meson test -C build --print-errorlogs --num-processes 2 || status=1
  # Sanitizer pass over the libraries' unit suites and the CLI (fast, no devices needed).
  configure build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
  ninja -C build-asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2 --suite dsp --suite cli --suite nn --suite proto --suite server --suite daemon || status=1
  /usr/bin/python3 tools/test-summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json
  exit $status ;;
esac
