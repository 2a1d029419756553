#!/usr/bin/env bash
# Restarts named with its existing configuration, zones and journals (for fault tests).
# Optional argument: seconds to stay down.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/bind.sh"
"$here/bind-down.sh" >/dev/null
sleep "${1:-0}"
setsid named -c "$BIND_DIR/named.conf" -f -n 2 >>"$BIND_DIR/named.stderr" 2>&1 &
for _ in $(seq 1 200); do
  rndc_ status >/dev/null 2>&1 && { echo "named restarted"; exit 0; }
  sleep 0.05
done
echo "named did not come back" >&2
exit 1
