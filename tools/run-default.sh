#!/bin/sh
# Main job of `tools/setup.sh run` (replaced by starting emotiond once the daemon lands).
set -eu
echo "emotiond: not built yet" >&2
exit 1
