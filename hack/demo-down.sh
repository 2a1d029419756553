#!/usr/bin/env bash
# Stops the planguard processes started by demo.sh.
set -euo pipefail
. "$(dirname "$0")/lib/versions.sh"
f=$PLANGUARD_STATE/demo.pids
[ -f "$f" ] || exit 0
while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$f"
rm -f "$f"
[ "${1:-}" = "--quiet" ] || echo "stopped the demo's planguard processes"
