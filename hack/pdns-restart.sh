#!/usr/bin/env bash
# Restarts pdns_server with its existing configuration and database (for fault tests).
# Optional argument: seconds to stay down.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/pdns.sh"
"$here/pdns-down.sh" >/dev/null
sleep "${1:-0}"
pdns_start || { echo "pdns_server did not come back" >&2; exit 1; }
echo "pdns_server restarted"
