#!/bin/sh
# Main job of `tools/setup.sh run`: start the freshly built emotiond on the default microphone
# with the shipped model and say where the dashboard is. Extra arguments go to emotiond
# (e.g. tools/run-default.sh --device pulse). Stop it with Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
bin=${EMOTIOND_BIN:-build/daemon/emotiond}
model=${EMOTIOND_MODEL:-models/emotiond-default.emod}
listen=${EMOTIOND_LISTEN:-127.0.0.1:8765}
if [ ! -x "$bin" ]; then
  echo "run-default: $bin is missing; build first (tools/setup.sh build)" >&2
  exit 1
fi
if [ ! -r "$model" ]; then
  echo "run-default: the shipped model $model is missing (see docs/daemon.md)" >&2
  exit 1
fi
host=${listen%:*}
port=${listen##*:}
echo "emotiond: dashboard at http://$host:$port/  (kiosk view: http://$host:$port/kiosk, WebSocket: ws://$host:$port/ws)"
echo "emotiond: listening to the default microphone; Ctrl-C stops it. Audio never leaves this process."
# One BLAS thread: the model runs on the daemon's loop thread.
OPENBLAS_NUM_THREADS=1 exec "$bin" --model "$model" --listen "$listen" "$@"
