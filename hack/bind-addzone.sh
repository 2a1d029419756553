#!/usr/bin/env bash
# Adds a dynamic zone to the running BIND (rndc addzone); no-op when it exists.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/bind.sh"
zone=${1:?usage: bind-addzone.sh ZONE}
if rndc_ zonestatus "$zone" >/dev/null 2>&1; then exit 0; fi
write_zone_file "$zone"
rndc_ addzone "$zone" "$(zone_stanza "$zone")"
