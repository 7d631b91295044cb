#!/bin/sh
# Installs every Debian 12 package emotiond needs to build, run, train and test.
# Idempotent; run as root (or through sudo). Nothing else is downloaded.
set -eu
PKGS="
 build-essential meson ninja-build pkg-config git
 portaudio19-dev libfftw3-dev libopenblas-dev libuv1-dev
 libwebsockets-dev libwebsockets-evlib-uv libsndfile1-dev libsoxr-dev
 libinih-dev libsystemd-dev libjansson-dev libspeexdsp-dev libcsv-dev
 python3 python3-numpy python3-torch python3-sklearn python3-matplotlib python3-jsonschema python3-websockets
 pulseaudio pulseaudio-utils libasound2-plugins alsa-utils
 espeak-ng sox libsox-fmt-all valgrind
 chromium
"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
# Node.js runs the browser tests (playwright-core drives Debian's chromium). A machine that
# already has a node with npm (the CI image does) keeps it; otherwise Debian's is installed.
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
echo "install-deps: all packages present"
