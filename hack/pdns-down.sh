#!/usr/bin/env bash
# Stops the PowerDNS started by pdns-up.sh (its database stays).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/pdns.sh"
f=$PDNS_DIR/pdns.pid
[ -f "$f" ] || exit 0
pid=$(cat "$f")
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  echo "stopped pdns_server ($pid)"
fi
rm -f "$f"
