#!/bin/sh
# Regenerates docs/screenshots/ (shown in README.md and docs/web.md) with the shipped model on
# real emotional speech, so that a reader sees what emotiond shows, not the flat posteriors of
# the random-weight model the browser suite runs in CI.
#
#   tests/browser/update-screenshots.sh [BUILD_DIR]   (default: build; needs ninja -C BUILD_DIR)
#
# The speech: utterances of EMO-DB speaker 16 (female, German), a speaker held out from the
# model's training and model selection (models/heldout.txt): two neutral sentences, then three
# angry ones, concatenated with sox into a temporary WAV (corpus audio is never committed).
# The script first prints what the model says about each clip (emotion analyze, with the other
# clips as --speaker-from: the daemon's speaker normaliser hears the whole concatenation, while
# one short clip alone tells it little about the voice) and stops if it no longer gets one of
# them right (after a retraining pick other clips: the shots must not show a model error as if
# it were the normal case).
#
# It then runs the dashboard, kiosk and microphone tests of the browser suite with
# EMOTIOND_TEST_MODEL (the shipped model, daemon's default event thresholds),
# EMOTIOND_TEST_AUDIO (that WAV), EMOTIOND_TEST_ALERT=angry,fearful (the kiosk alert labels of
# a driver-monitoring screen) and EMOTIOND_TEST_STATE=calm EMOTIOND_TEST_STATE_LABEL=neutral (the
# kiosk "state" shot on the neutral part, once the model says neutral: its first second of a new
# voice may not), EMOTIOND_TEST_WINDOW=25 (dashboard ?window=25: a timeline as long as the
# audio), all checks as in CI, and copies the five pictures to docs/screenshots/.
# About 2 minutes. Needs the corpora ($EMOTIOND_DATA, default /work/shared/data), chromium,
# tests/browser/node_modules, sox and pulseaudio.
set -eu
cd "$(dirname "$0")/../.."
src=$(pwd)
build=$(cd "${1:-build}" && pwd)
data=${EMOTIOND_DATA:-/work/shared/data}
model=$src/models/emotiond-default.emod
emotion=$build/tools/emotion
if [ ! -x "$emotion" ] || [ ! -x "$build/daemon/emotiond" ]; then echo "build $build first (ninja -C $build)" >&2; exit 1; fi
[ -d "$data/emodb" ] || { echo "corpora not found in $data (set EMOTIOND_DATA)" >&2; exit 1; }

# path in the corpus dir, label
clips="emodb/16b02Lb.flac neutral
emodb/16a04Lc.flac neutral
emodb/16a05Wc.flac angry
emodb/16b09Wb.flac angry
emodb/16b02Wb.flac angry"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/emotiond-shots-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
files=
echo "$clips" | while read -r f label; do
  grep -q "^$f,$label," models/heldout.txt || { echo "$f ($label) is not a held-out utterance in models/heldout.txt" >&2; exit 1; }
  voice=
  for g in $(echo "$clips" | cut -d' ' -f1); do [ "$g" = "$f" ] || voice="$voice --speaker-from $data/$g"; done
  # shellcheck disable=SC2086
  top=$("$emotion" analyze "$data/$f" --model "$model" $voice |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["top"], "%.2f" % j["conf"])')
  echo "  $f: corpus label $label, shipped model says $top"
  [ "${top%% *}" = "$label" ] || { echo "the shipped model gets $f wrong: choose other clips" >&2; exit 1; }
done
for f in $(echo "$clips" | cut -d' ' -f1); do files="$files $data/$f"; done
# shellcheck disable=SC2086
sox $files -r 16000 -c 1 -b 16 "$tmp/speech.wav"
echo "  speech: $(soxi -D "$tmp/speech.wav") s in $tmp/speech.wav"

shots=$build/tests/browser/screenshots-shipped
rm -rf "$shots"
mkdir -p "$shots"
for t in dashboard kiosk mic; do
  echo "== browser-$t with the shipped model"
  EMOTIOND_SRC=$src EMOTIOND_BUILD=$build SCREENSHOT_DIR=$shots \
  EMOTIOND_TEST_MODEL=$model EMOTIOND_TEST_AUDIO=$tmp/speech.wav \
  EMOTIOND_TEST_ALERT=angry,fearful EMOTIOND_TEST_STATE=calm EMOTIOND_TEST_STATE_LABEL=neutral EMOTIOND_TEST_WINDOW=25 \
    node tests/browser/test_$t.js > "$tmp/$t.log" 2>&1 || { cat "$tmp/$t.log"; echo "browser-$t failed" >&2; exit 1; }
  grep -E 'speech: top|speech state|alert:|fast pass|PASS' "$tmp/$t.log" | sed 's/^/  /'
done

mkdir -p docs/screenshots
for f in dashboard-after.png dashboard-mic.png kiosk-nospeech.png kiosk-state.png kiosk-alert.png; do
  [ -f "$shots/$f" ] || { echo "missing $shots/$f" >&2; exit 1; }
  cp "$shots/$f" docs/screenshots/
done
echo "copied 5 screenshots from $shots to docs/screenshots/"
