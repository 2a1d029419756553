#!/usr/bin/env bash
# Stops the PowerDNS started by pdns-up.sh (its database stays).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/pdns.sh"
. "$here/lib/stop.sh"
stop_pidfile "$PDNS_DIR/pdns.pid" pdns_server
