#!/usr/bin/env bash
# Stops the BIND started by bind-up.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/bind.sh"
. "$here/lib/stop.sh"
stop_pidfile "$BIND_DIR/named.pid" named
